import type { RolloutOutcome } from '../../protocol/rollout';
import type { LoadTotals } from './loadGenerator';
import type { DemoVersion } from './manifest';
import { palette } from './progress';
import type { DemoResult } from './runDemo';

/** The one object `cutover demo --json` prints. */
export interface DemoJson {
  rollouts: Array<{
    from: DemoVersion | null;
    to: DemoVersion;
    outcome: RolloutOutcome;
    reason: string | null;
    durationMs: number;
  }>;
  invocations: { sent: number; served: number; failed: number; dropped: number };
  pauseMs: { p50: number; p99: number; max: number };
  hosts: Array<{ id: string; version: DemoVersion | null }>;
}

/** The `--json` view of a demo result. */
export function demoJson(result: DemoResult): DemoJson {
  const { sent, served, failed, dropped } = result.invocations;
  return {
    rollouts: result.rollouts.map((r) => ({
      from: r.from,
      to: r.to,
      outcome: r.outcome,
      reason: r.outcome === 'completed' ? null : r.reason,
      durationMs: r.durationMs,
    })),
    invocations: { sent, served, failed, dropped },
    pauseMs: { p50: result.pauseMs.p50, p99: result.pauseMs.p99, max: result.pauseMs.max },
    hosts: result.hosts.map((h) => ({ id: h.id, version: h.version })),
  };
}

function describeFailures(t: LoadTotals): string {
  return Object.entries(t.failures)
    .map(([code, n]) => `${code} ${n}, e.g. "${(t.samples[code] ?? '').trim()}"`)
    .join('; ');
}

const ms = (n: number) => (n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`);

/** The human summary printed after the live progress. */
export function formatSummary(result: DemoResult, color: boolean): string {
  const c = palette(color);
  const lines: string[] = ['', c.bold('summary')];
  lines.push(
    `  install      v1 on ${result.hosts.length} hosts: ${result.install.outcome} in ${ms(result.install.durationMs)}`,
  );
  for (const r of result.rollouts) {
    const outcome = r.outcome === 'completed' ? c.green(r.outcome) : c.yellow(r.outcome);
    lines.push(`  rollout      ${r.from ?? '-'} → ${r.to}: ${outcome} in ${ms(r.durationMs)}`);
    if (r.outcome !== 'completed' && r.reason !== null) lines.push(`               reason: ${r.reason}`);
    if (r.to === 'v3' && r.outcome === 'rolledBack') {
      const back =
        result.rolledBackHosts.length > 0
          ? `${result.rolledBackHosts.join(', ')} ran v3 and were rolled back to v2`
          : 'no host had reached v3';
      lines.push(`               ${result.blockedHost} restored itself (kept serving v2); ${back}`);
    }
  }
  const t = result.invocations;
  const lost = t.dropped === 0 ? c.green('lost 0') : c.red(`lost ${t.dropped}`);
  const failed = t.failed === 0 ? 'failed 0' : c.yellow(`failed ${t.failed} (${describeFailures(t)})`);
  lines.push(`  invocations  sent ${t.sent}  served ${t.served}  ${failed}  ${lost}   at ${result.rate}/s`);
  lines.push(
    `               answered by v1 ${t.servedBy.v1} · v2 ${t.servedBy.v2} · v3 ${t.servedBy.v3}, every reply checked`,
  );
  const h = result.http;
  if (h !== null) {
    const hLost = h.dropped === 0 ? c.green('lost 0') : c.red(`lost ${h.dropped}`);
    const hFailed = h.failed === 0 ? 'failed 0' : c.yellow(`failed ${h.failed} (${describeFailures(h)})`);
    lines.push(
      `  http         sent ${h.sent}  served ${h.served}  ${hFailed}  ${hLost}   real requests through the front door`,
    );
  }
  const p = result.pauseMs;
  lines.push(
    `  gate closed  p50 ${ms(p.p50)}  p99 ${ms(p.p99)}  max ${ms(p.max)}  (${p.count} pauses; calls arriving meanwhile wait in the buffer)`,
  );
  lines.push(`  hosts        ${result.hosts.map((h) => `${h.id} ${h.version ?? '-'}`).join(' · ')}`);
  lines.push(
    result.ok
      ? `  ${c.green('ok')}           completed then rolledBack, zero lost, ${(result.elapsedMs / 1000).toFixed(1)} s`
      : `  ${c.red('FAILED')}       ${result.problems.join('; ')}`,
  );
  return `${lines.join('\n')}\n`;
}
