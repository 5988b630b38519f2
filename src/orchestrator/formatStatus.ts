/**
 * An app's status as text people read (what `cutover status` prints): versions by name with short hashes, the
 * strategy and step, pause and hold, pending promotion, conditions, analyses with their figures, batches with
 * their hosts and what each host serves. Pure: no clock, no I/O; instants print as ISO times (or as clock
 * milliseconds when they are small, as on a simulated clock).
 */
import type { AnalysisRunView, AppStatus, VersionRef } from './viewSchemas';

type HostVersionView = { hash: string; version: string | null };

/** An instant as people read it. */
function instant(ms: number): string {
  return ms >= 1e11 ? new Date(ms).toISOString() : `t+${ms}ms`;
}

/** A duration as people read it: `45s`, `1.5s`, `120ms`. */
function duration(ms: number): string {
  if (ms >= 10_000) return `${Math.round(ms / 1000)}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms)}ms`;
}

const short = (hash: string) => hash.slice(0, 12);

function version(ref: VersionRef | null): string {
  return ref === null ? '-' : ref.version;
}

function onHost(v: HostVersionView | null): string {
  if (v === null) return '-';
  return v.version === null ? `(${short(v.hash)})` : v.version;
}

function analysisLine(a: AnalysisRunView): string {
  const figures = a.values
    .slice(-5)
    .map((m) => `${m.value ?? (m.noData ? 'no data' : 'error')} ${m.verdict}`)
    .join(', ');
  const dry = a.dryRun ? ` (dry run, observed ${a.observed})` : '';
  return `  ${a.run}  ${a.name} (${a.provider})  ${a.verdict ?? a.status}${dry}  ${a.measurements} measured${figures ? `: ${figures}` : ''}${a.reason ? `  - ${a.reason}` : ''}`;
}

/** An app's status as text, one fact per line; `cutover status` prints it. */
export function formatStatus(s: AppStatus): string {
  const lines: string[] = [];
  const rollout = s.rolloutId === null ? 'no rollout' : `rollout ${s.rolloutId}${s.strategy ? ` (${s.strategy})` : ''}`;
  lines.push(`app ${s.app}  phase ${s.phase}  ${rollout}`);
  const hashes = (ref: VersionRef | null) => {
    const all = Object.entries(ref?.hashes ?? {});
    return all.length === 0 ? '' : ` [${all.map(([k, h]) => `${k}=${short(h)}`).join(' ')}]`;
  };
  lines.push(
    `versions  target ${version(s.versions.target)}${hashes(s.versions.target)}  stable ${version(s.versions.stable)}${hashes(s.versions.stable)}  previous ${version(s.versions.previous)}`,
  );
  if (s.state !== null) {
    const step = s.step === null ? '' : `  step ${s.step.index + 1}/${s.step.total} ${s.step.kind}`;
    lines.push(`state     ${s.state}${step}  batch ${Math.min(s.batch + 1, s.batches)}/${s.batches}`);
  }
  if (s.startedAt !== null) {
    lines.push(
      `started   ${instant(s.startedAt)}${s.finishedAt === null ? '' : `  finished ${instant(s.finishedAt)}`}`,
    );
  }
  if (s.pause !== null) {
    const until = s.pause.until === null ? '' : ` until ${instant(s.pause.until)}`;
    lines.push(`paused    ${s.pause.kind} since ${instant(s.pause.since)}${until}`);
  } else if (s.paused) lines.push('paused    pause requested: the batch in flight finishes first');
  if (s.held !== null) lines.push(`held      by ${s.held.by} since ${instant(s.held.since)}: ${s.held.reason}`);
  if (s.promotion.pending) lines.push('promotion pending: `promote` switches every standby to the new version');
  else if (s.promotion.requested !== 'no') lines.push(`promotion requested (${s.promotion.requested})`);
  if (s.reason !== null) lines.push(`reason    ${s.reason}`);
  if (s.conditions.length > 0) {
    lines.push('conditions');
    for (const c of s.conditions) {
      const hosts = c.hosts === undefined ? '' : `  hosts ${c.hosts.join(', ')}`;
      lines.push(`  ${c.type}  ${c.status}  ${c.reason}  since ${instant(c.since)}  ${c.message}${hosts}`);
    }
  }
  if (s.analyses.length > 0) {
    lines.push('analyses');
    for (const a of s.analyses) lines.push(analysisLine(a));
  }
  if (s.plannedBatches.length > 0) {
    lines.push('batches');
    for (const b of s.plannedBatches) {
      const hosts = b.hosts.length === 0 ? '(no hosts)' : b.hosts.join(', ');
      lines.push(`  ${b.index + 1}  ${b.state}  ${b.mode}  ${hosts}`);
    }
  }
  if (s.hosts.length > 0) {
    lines.push('hosts');
    for (const h of s.hosts) {
      for (const w of h.workloads) {
        const parts = [`serving ${onHost(w.serving)}`];
        if (w.target !== null) parts.push(`applying ${onHost(w.target)}`);
        if (w.standby !== null) parts.push(`standby ${onHost(w.standby)}`);
        if (w.retained !== null) parts.push(`retained ${onHost(w.retained)} until ${instant(w.retained.until)}`);
        const ready = w.verified
          ? 'verified'
          : w.minReadyRemainingMs !== null && w.minReadyRemainingMs > 0
            ? `ready in ${duration(w.minReadyRemainingMs)}`
            : 'not verified';
        lines.push(`  ${h.hostId}  ${w.kind} ${w.id}  ${w.status}  ${parts.join('  ')}  ${ready}`);
      }
    }
  }
  if (s.scalerHolders.length > 0) lines.push(`scalers suspended by ${s.scalerHolders.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
