// `cutover plan`'s text output: the summary, hosts, steps and guardrail findings of a {@link PlanReport},
// and the ASCII timeline of which host moves in which step. It owns wording and layout only; it must not
// compute any part of the plan (`buildPlan.ts`).
import { describeConflict } from '../../../machines/rollout/guardrails';
import { DEFAULT_HOST_COUNT, type PlanReport, type PlanStep } from './buildPlan';

function ms(value: number): string {
  if (value % 60_000 === 0 && value >= 60_000) return `${value / 60_000}m`;
  if (value % 1000 === 0 && value >= 1000) return `${value / 1000}s`;
  return `${value}ms`;
}

function describeStep(s: PlanStep): string {
  switch (s.kind) {
    case 'batch':
      return `apply ${s.hosts.join(', ')}${s.target === undefined ? '' : ` (${s.target} on new version after)`}`;
    case 'pause':
      return s.durationMs === undefined ? 'pause until resume or promote' : `pause ${ms(s.durationMs)}`;
    case 'analysis':
      return `analysis ${s.provider} x${s.count} every ${ms(s.intervalMs)}`;
    case 'backgroundAnalysis':
      return `background analysis ${s.provider} every ${ms(s.intervalMs)}${s.count === undefined ? ' until the end' : ` x${s.count}`}`;
    case 'standby':
      return `standby ${s.hosts.join(', ')}${s.previewHosts.length > 0 ? ` (preview on ${s.previewHosts.join(', ')})` : ''}`;
    case 'promote':
      return `promote every standby at once${s.auto ? '' : ' (after rollout.promote)'}, keep old ${ms(s.keepOldForMs)}`;
  }
}

/** An ASCII timeline: one column per host; `#` moved in that step, `=` already moved, `.` not yet. */
export function timeline(report: PlanReport): string[] {
  const ids = report.hosts.map((h) => h.id);
  const width = Math.max(2, ...ids.map((id) => id.length));
  const head = `  ${'step'.padEnd(6)} ${ids.map((id) => id.padEnd(width)).join(' ')}`;
  const moved = new Set<string>();
  const rows = [head];
  report.steps.forEach((s, i) => {
    const label = String(i + 1).padEnd(6);
    if (s.kind === 'batch' || s.kind === 'standby') {
      const mark = s.kind === 'batch' ? '#' : 's';
      const cells = ids.map((id) => (s.hosts.includes(id) ? mark : moved.has(id) ? '=' : '.').repeat(width));
      for (const id of s.hosts) moved.add(id);
      rows.push(`  ${label} ${cells.join(' ')}`);
    } else {
      const glyph = s.kind === 'pause' ? '~' : s.kind === 'analysis' || s.kind === 'backgroundAnalysis' ? '?' : '>';
      rows.push(`  ${label} ${glyph} ${describeStep(s)}`);
    }
  });
  return rows;
}

/** The plan as `cutover plan` prints it without `--json`. */
export function renderPlan(report: PlanReport): string {
  const lines: string[] = [];
  lines.push(
    `plan for app ${report.app}: ${report.fromVersion === null ? 'first deploy of' : `${report.fromVersion} ->`} ${report.toVersion} (${report.strategy})`,
  );
  if (report.firstDeploy) lines.push('first deploy: steps, pauses, analysis and standby are skipped');
  if (report.defaultHosts)
    lines.push(`hosts: ${DEFAULT_HOST_COUNT} default hosts h1..h${DEFAULT_HOST_COUNT} (no --hosts file given)`);
  if (report.fallback !== undefined) lines.push(`fallback: ${report.fallback}`);
  lines.push('', 'hosts:');
  for (const h of report.hosts) {
    const parts = (['install', 'upgrade', 'remove'] as const)
      .filter((k) => h[k].length > 0)
      .map((k) => `${k} ${h[k].join(', ')}`);
    const labels = Object.entries(h.labels).map(([k, v]) => `${k}=${v}`);
    lines.push(
      `  ${h.id}${labels.length > 0 ? ` [${labels.join(',')}]` : ''}: ${parts.length > 0 ? parts.join('; ') : 'nothing to do'}${h.keep.length > 0 ? ` (keeps ${h.keep.join(', ')})` : ''}`,
    );
  }
  lines.push('', `steps (${report.steps.length}):`);
  if (report.steps.length === 0) lines.push('  none: nothing to apply');
  for (const [i, s] of report.steps.entries()) lines.push(`  ${i + 1}. ${describeStep(s)}`);
  lines.push('', 'guardrails:');
  if (report.fromVersion === null) lines.push('  none checked: no current revision (--current)');
  else if (report.swaps.length === 0 && report.conflicts.length === 0) lines.push('  no shared resources');
  for (const s of report.swaps) {
    lines.push(
      `  swap: link "${s.link}" (${s.change}) waits for "${s.heldBy}" to release ${s.resource} on ${s.hosts.join(', ')}`,
    );
  }
  for (const c of report.conflicts) lines.push(`  conflict (avoided by rolling): ${describeConflict(c)}`);
  if (report.steps.length > 0) {
    lines.push(
      '',
      'timeline (# applied in this step, s standby, = on the new version, . not yet):',
      ...timeline(report),
    );
  }
  return `${lines.join('\n')}\n`;
}
