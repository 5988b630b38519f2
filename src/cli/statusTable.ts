// The operator's table of one app (`cutover get`, `status`, `deploy --wait`): versions, strategy and step,
// pause and hold, batches with their hosts, analysis figures, conditions and what every host serves. Text
// only; it must not talk to the orchestrator (`./watch.ts` feeds it).
import type { AppStatus } from '../orchestrator/createOrchestrator';
import { palette } from './demo/progress';

const time = (at: number | null | undefined) => (at == null ? '-' : new Date(at).toISOString().slice(11, 19));

const short = (v: { version: string | null; hash: string } | null | undefined) =>
  v == null ? null : (v.version ?? v.hash.slice(0, 12));

/** The exit code a status means: 0 deployed or rolling out healthily, 1 unknown, failed, rolled back or unhealthy. */
export function statusExitCode(status: AppStatus): number {
  if (status.phase === 'deployed' || status.phase === 'upgrading') {
    const unhealthy = status.hosts.some((h) =>
      h.workloads.some((w) => w.status === 'failed' || w.status === 'unhealthy'),
    );
    return unhealthy ? 1 : 0;
  }
  return 1;
}

/** The app's table as lines (colored on a terminal). */
export function statusLines(status: AppStatus, color: boolean): string[] {
  const c = palette(color);
  const phase =
    status.phase === 'deployed'
      ? c.green(status.phase)
      : status.phase === 'upgrading'
        ? c.yellow(status.phase)
        : c.red(status.phase);
  if (status.phase === 'unknown') return [`app ${c.bold(status.app)}: ${phase} (never deployed on this lattice)`];
  const lines = [
    `app ${c.bold(status.app)}  ${phase}  stable ${status.stableVersion ?? '-'}  target ${status.targetVersion ?? '-'}${status.strategy ? `  strategy ${status.strategy}` : ''}`,
  ];
  if (status.rolloutId !== null) {
    const step = status.step
      ? `  step ${Math.min(status.step.index + 1, status.step.total || 1)}/${status.step.total} ${status.step.kind}`
      : '';
    const batch = status.batches > 0 ? `  batch ${Math.min(status.batch + 1, status.batches)}/${status.batches}` : '';
    lines.push(
      `rollout ${status.rolloutId}  ${status.state ?? '-'}${step}${batch}  started ${time(status.startedAt)}${status.finishedAt ? `  finished ${time(status.finishedAt)}` : ''}`,
    );
  }
  if (status.reason && status.reason !== 'completed') lines.push(`  reason: ${status.reason}`);
  if (status.pause)
    lines.push(
      c.yellow(
        `  paused (${status.pause.kind}) since ${time(status.pause.since)}${status.pause.until === null ? ' until resumed' : ` until ${time(status.pause.until)}`}`,
      ),
    );
  if (status.held)
    lines.push(c.yellow(`  held by ${status.held.by} since ${time(status.held.since)}: ${status.held.reason}`));
  if (status.promotion.pending) lines.push(c.cyan('  promotion pending: `cutover promote APP` switches traffic'));
  if (status.plannedBatches.length > 0) {
    lines.push(c.dim('batches'));
    for (const b of status.plannedBatches) {
      const state =
        b.state === 'done'
          ? c.green(b.state.padEnd(7))
          : b.state === 'current'
            ? c.yellow(b.state.padEnd(7))
            : c.dim(b.state.padEnd(7));
      const mode = b.mode === 'apply' ? '' : ` (${b.mode})`;
      let line = `  ${String(b.index + 1).padStart(2)} ${state} ${b.hosts.join(' ')}${mode}`;
      if (b.state === 'current') {
        const v = status.verification;
        line += c.dim(
          `  verified ${v.verified}${v.unverifiedCount > 0 ? `, waiting for ${v.unverified.join(' ')}${v.unverifiedCount > v.unverified.length ? ` +${v.unverifiedCount - v.unverified.length}` : ''}` : ''}`,
        );
      }
      lines.push(line);
    }
  }
  if (status.analyses.length > 0) {
    lines.push(c.dim('analysis'));
    for (const a of status.analyses) {
      const verdict =
        a.status === 'successful' ? c.green(a.status) : a.status === 'running' ? c.yellow(a.status) : c.red(a.status);
      const figures = a.values
        .slice(-5)
        .map(
          (m) =>
            (m.value === null ? (m.noData ? 'no data' : 'error') : `${Number(m.value.toPrecision(4))}`) +
            ` ${m.verdict === 'successful' ? 'ok' : m.verdict}`,
        )
        .join(', ');
      lines.push(
        `  ${a.name} (${a.run}, ${a.provider}${a.dryRun ? ', dry run' : ''})  ${verdict}  ${a.measurements} measured${figures ? `: ${figures}` : ''}${a.reason ? c.dim(`  ${a.reason}`) : ''}`,
      );
    }
  }
  const holding = status.conditions.filter((x) => x.status);
  if (holding.length > 0) {
    lines.push(c.dim('conditions'));
    for (const x of holding) lines.push(`  ${x.type}: ${x.message}`);
  }
  if (status.scalerHolders.length > 0) lines.push(c.dim(`scalers held by ${status.scalerHolders.join(', ')}`));
  if (status.hosts.length > 0) {
    lines.push(c.dim('hosts'));
    const width = Math.max(...status.hosts.map((h) => h.hostId.length));
    for (const h of status.hosts) {
      if (h.workloads.length === 0) {
        lines.push(`  ${h.hostId.padEnd(width)}  ${c.dim('(nothing of this app)')}`);
        continue;
      }
      h.workloads.forEach((w, i) => {
        const serving = short(w.serving) ?? (w.servingHash ? w.servingHash.slice(0, 12) : '--');
        const target = short(w.target);
        const standby = short(w.standby);
        const retained = short(w.retained);
        const versions = `${serving}${target ? ` → ${target}` : ''}${standby ? ` (standby ${standby})` : ''}${retained ? ` (retained ${retained})` : ''}`;
        const state =
          w.status === 'running'
            ? c.green(w.status)
            : w.status === 'failed' || w.status === 'unhealthy'
              ? c.red(w.status)
              : c.yellow(w.status);
        const ready = w.verified
          ? c.green(' verified')
          : w.minReadyRemainingMs !== null
            ? c.dim(` ready in ${Math.ceil(w.minReadyRemainingMs / 1000)}s`)
            : '';
        lines.push(
          `  ${(i === 0 ? h.hostId : '').padEnd(width)}  ${w.kind === 'provider' ? 'provider ' : ''}${w.id}  ${versions}  ${state}${ready}`,
        );
      });
    }
  }
  return lines;
}
