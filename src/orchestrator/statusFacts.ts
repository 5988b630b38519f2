/**
 * The parts of a rollout's story that are not in its snapshot, and how the story is told from a snapshot:
 * the current step, pause, hold and pending promotion derived from the context and state (pure functions),
 * and the facts read from the store (versions with their hashes, the planned batches with their hosts and
 * modes, the canary's step starts, the analyses, the finish time). Read-only: it never writes the store.
 */
import { holds } from '../../machines/rollout/conditions';
import type { StateStore } from '../ports/store';
import { specHash } from '../protocol/hash';
import type { RolloutContext } from '../protocol/rollout';
import { analysisRuns } from './analysisRuns';
import {
  HistoryRecord,
  ModeRecord,
  RevisionRecord,
  type RolloutRecord,
  StepsRecord,
  StoredBatchRecord,
  keys,
  unpackBatch,
} from './records';
import { readRecord } from './storedRecord';
import type {
  AnalysisRunView,
  BatchView,
  HeldView,
  PauseView,
  PromotionView,
  RolloutStep,
  VersionRef,
  Versions,
} from './viewSchemas';

/** What the store tells about a rollout beyond its snapshot. */
export interface ViewFacts {
  versions: Versions;
  /** Canary: the batch each setHosts step begins with. */
  starts: ReadonlyArray<{ batch: number; step: number }> | undefined;
  /** Blue-green: how each batch applies. */
  modes: ReadonlyMap<number, 'standby' | 'promote'>;
  plannedBatches: BatchView[];
  analyses: AnalysisRunView[];
  finishedAt: number | null;
}

const ANALYSIS_INCONCLUSIVE = 'AnalysisInconclusive';

/** The sub-state of `progressing` (`stepPause`, `held`, ...), or null outside it. */
function progressingState(state: string): string | null {
  return state.startsWith('progressing.') ? state.slice('progressing.'.length) : null;
}

/**
 * The planned batches as they stand in `state`. In a step pause or a hold, `batch` has already moved on to the
 * batch after the pause (see `stepOf`), which has not started: it is shown pending, not current.
 */
export function batchesIn(batches: BatchView[], state: string): BatchView[] {
  const sub = progressingState(state);
  if (sub !== 'stepPause' && sub !== 'held') return batches;
  return batches.map((b) => (b.state === 'current' ? { ...b, state: 'pending' as const } : b));
}

/** The step a rollout is at; null outside `progressing`, or for a canary whose step starts were not read. */
export function stepOf(
  c: RolloutContext,
  state: string,
  facts: Pick<ViewFacts, 'starts' | 'modes'> | undefined,
): RolloutStep | null {
  const sub = progressingState(state);
  if (sub === null) return null;
  const s = c.strategy;
  if (s.type === 'rolling') return { index: c.batch, kind: 'batch', total: c.batches };
  if (s.type === 'blueGreen') {
    const mode = facts?.modes.get(c.batch);
    const kind =
      sub === 'analyzing'
        ? ('analysis' as const)
        : sub === 'stepPause' || sub === 'held'
          ? ('pause' as const)
          : (mode ?? 'batch');
    return { index: c.batch, kind, total: c.batches };
  }
  const starts = facts?.starts;
  if (starts === undefined) return null;
  const steps = s.steps;
  const total = steps.length;
  // The batch whose gate runs now: the pause of batch N runs once `batch` moved on to N + 1.
  const gateBatch = sub === 'stepPause' || sub === 'held' ? c.batch - 1 : c.batch;
  let setHosts = -1;
  for (const st of starts) if (st.batch <= gateBatch && st.step > setHosts) setHosts = st.step;
  const after = (kind: 'pause' | 'analysis') => {
    for (let i = setHosts + 1; i < steps.length; i++) {
      const step = steps[i];
      if (step === undefined || 'setHosts' in step) break;
      if (kind in step) return i;
    }
    return undefined;
  };
  const inconclusive = sub === 'held' && !c.paused && holds(c.conditions, ANALYSIS_INCONCLUSIVE);
  if (sub === 'analyzing' || inconclusive) {
    const i = after('analysis');
    if (i !== undefined) return { index: i, kind: 'analysis', total };
  }
  if (sub === 'stepPause') {
    const i = after('pause');
    if (i !== undefined) return { index: i, kind: 'pause', total };
  }
  if (setHosts === -1) {
    // A gate on stable (steps before the first setHosts): the first step.
    const first = steps[0];
    if (first === undefined) return { index: 0, kind: 'setHosts', total };
    return { index: 0, kind: 'pause' in first ? 'pause' : 'analysis' in first ? 'analysis' : 'setHosts', total };
  }
  return { index: setHosts, kind: 'setHosts', total };
}

/** Why the rollout stands still, or null when it does not. */
export function pauseOf(c: RolloutContext, state: string): PauseView | null {
  const sub = progressingState(state);
  if (c.heldAt === null || (sub !== 'stepPause' && sub !== 'held')) return null;
  if (sub === 'stepPause') return { kind: 'step', since: c.heldAt, until: c.pauseUntil };
  if (!c.paused && holds(c.conditions, ANALYSIS_INCONCLUSIVE)) {
    return { kind: 'inconclusive', since: c.heldAt, until: null };
  }
  return { kind: c.paused ? 'manual' : 'step', since: c.heldAt, until: null };
}

/** Who holds the rollout until a person acts, or null when nothing does (a timed pause ends by itself). */
export function heldOf(c: RolloutContext, state: string): HeldView | null {
  const pause = pauseOf(c, state);
  if (pause === null) return null;
  if (pause.kind === 'inconclusive') {
    const cond = c.conditions.find((x) => x.type === ANALYSIS_INCONCLUSIVE && x.status);
    return { by: 'analysis', since: pause.since, reason: cond?.message ?? 'analysis inconclusive' };
  }
  if (pause.kind === 'manual') {
    return { by: 'person', since: pause.since, reason: 'paused by a person: resume or promote to go on' };
  }
  if (pause.until === null) {
    return { by: 'strategy', since: pause.since, reason: 'the strategy pauses here until a person promotes' };
  }
  return null;
}

/** Whether blue-green standbys wait for their promotion, and any promote given ahead of its pause. */
export function promotionOf(
  c: RolloutContext,
  state: string,
  facts: Pick<ViewFacts, 'modes'> | undefined,
): PromotionView {
  const sub = progressingState(state);
  const waiting = sub === 'stepPause' || sub === 'held';
  const promoteNext =
    facts !== undefined && facts.modes.size > 0 ? facts.modes.get(c.batch) === 'promote' : c.batch === c.batches - 1;
  return { pending: c.strategy.type === 'blueGreen' && waiting && promoteNext, requested: c.promoted };
}

/** A stored version with the spec hash of each workload (`component:api`); hashes null when its revision is gone. */
export async function versionRef(store: StateStore, app: string, version: string | null): Promise<VersionRef | null> {
  if (version === null) return null;
  const rec = await readRecord(store, keys.revision(app, version), RevisionRecord).catch(() => null);
  if (!rec) return { version, hashes: null };
  const hashes: Record<string, string> = {};
  for (const c of rec.revision.components) hashes[`component:${c.spec.id}`] = specHash(c.spec, 'component');
  for (const p of rec.revision.providers) hashes[`provider:${p.spec.id}`] = specHash(p.spec, 'provider');
  return { version, hashes };
}

/** The completed version before `stable` in the app's history (what a promotion leaves retained), or null. */
export async function previousVersion(store: StateStore, app: string, stable: string | null): Promise<string | null> {
  const rec = await readRecord(store, keys.history(app), HistoryRecord).catch(() => null);
  const completed = (rec?.entries ?? []).filter((e) => e.outcome === 'completed');
  const at = stable === null ? -1 : completed.findIndex((e) => e.version === stable);
  return completed.slice(at + 1).find((e) => e.version !== stable)?.version ?? null;
}

/** Everything the store tells about rollout `rec` beyond its snapshot; parts it cannot read are left empty. */
export async function viewFacts(
  store: StateStore,
  rec: Pick<RolloutRecord, 'id' | 'app' | 'updatedAt'> & { done: boolean },
  c: RolloutContext,
): Promise<ViewFacts> {
  const read = <T>(p: Promise<T>, fallback: T) => p.catch(() => fallback);
  const [target, stable, previous, steps, analyses] = await Promise.all([
    read(versionRef(store, rec.app, c.targetVersion), null),
    read(versionRef(store, rec.app, c.stableVersion), null),
    read(
      previousVersion(store, rec.app, c.stableVersion).then((v) => versionRef(store, rec.app, v)),
      null,
    ),
    read(readRecord(store, keys.steps(rec.id), StepsRecord), null),
    read(analysisRuns(store, rec.id, c.strategy), []),
  ]);
  const modes = new Map<number, 'standby' | 'promote'>();
  const plannedBatches: BatchView[] = [];
  for (let i = 0; i < c.batches; i++) {
    const [batch, mode] = await Promise.all([
      read(readRecord(store, keys.batch(rec.id, i), StoredBatchRecord), null),
      c.strategy.type === 'blueGreen' ? read(readRecord(store, keys.mode(rec.id, i), ModeRecord), null) : null,
    ]);
    if (mode) modes.set(i, mode.mode);
    if (!batch) continue;
    plannedBatches.push({
      index: i,
      hosts: unpackBatch(batch).hosts.map((h) => h.hostId),
      mode: mode?.mode ?? 'apply',
      state: i < c.batch || (rec.done && c.outcome === 'completed') ? 'done' : i === c.batch ? 'current' : 'pending',
    });
  }
  return {
    versions: { target, stable, previous },
    starts: steps?.starts,
    modes,
    plannedBatches,
    analyses,
    finishedAt: rec.done ? rec.updatedAt : null,
  };
}
