// The per-batch records of a rollout in the `cutover` bucket: a batch's hosts and what each applies, its gate
// (pause, analyses), its mode (blue-green standby or promote), the rollout's steps record (canary step starts,
// re-plan markers, the host-set digest) and the instant a batch was first applied. Owns how those records are
// keyed, parsed and written; it must not decide what goes in them (planning/ does) nor talk to hosts.
import { CutoverError } from '../../errors';
import type { Clock } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import { parseWith } from '../../protocol/decode';
import {
  AppliedRecord,
  type BatchRecord,
  GateRecord,
  ModeRecord,
  StepsRecord,
  StoredBatchRecord,
  keys,
  unpackBatch,
} from '../records';
import { withRetry } from './context';

/** Batch `batch` of a rollout; a missing one is `plan.invalid`. */
export async function loadBatch(store: StateStore, rolloutId: string, batch: number): Promise<BatchRecord> {
  const e = await store.get('cutover', keys.batch(rolloutId, batch));
  if (!e) throw new CutoverError('plan.invalid', `batch ${batch} of rollout "${rolloutId}" is missing`);
  return unpackBatch(parseWith(StoredBatchRecord, e.value, 'plan.invalid', `batch ${batch} of rollout "${rolloutId}"`));
}

/** The gate after batch `batch`; none stored is no pause and no analysis. */
export async function loadGate(store: StateStore, rolloutId: string, batch: number): Promise<GateRecord> {
  const e = await store.get('cutover', keys.gate(rolloutId, batch));
  if (!e) return { schema: 1, pause: false, analyses: [] };
  return parseWith(GateRecord, e.value, 'plan.invalid', `gate ${batch} of rollout "${rolloutId}"`);
}

/** The blue-green mode of batch `batch`, if it has one. */
export async function loadMode(store: StateStore, rolloutId: string, batch: number): Promise<ModeRecord | undefined> {
  const e = await store.get('cutover', keys.mode(rolloutId, batch));
  if (!e) return undefined;
  return parseWith(ModeRecord, e.value, 'plan.invalid', `mode ${batch} of rollout "${rolloutId}"`);
}

/** The rollout's steps record, if written yet. */
export async function loadSteps(store: StateStore, rolloutId: string): Promise<StepsRecord | undefined> {
  const e = await store.get('cutover', keys.steps(rolloutId));
  if (!e) return undefined;
  return parseWith(StepsRecord, e.value, 'plan.invalid', `steps of rollout "${rolloutId}"`);
}

/** Writes the gate after batch `batch`. */
export const saveGate = (store: StateStore, rolloutId: string, batch: number, gate: GateRecord) =>
  store.put('cutover', keys.gate(rolloutId, batch), gate);

/** Writes the blue-green mode of batch `batch`. */
export const saveMode = (store: StateStore, rolloutId: string, batch: number, mode: ModeRecord) =>
  store.put('cutover', keys.mode(rolloutId, batch), mode);

/** Writes the rollout's steps record. */
export const saveSteps = (store: StateStore, rolloutId: string, steps: StepsRecord) =>
  store.put('cutover', keys.steps(rolloutId), steps);

/** When batch `batch` was first applied; written by its first apply and never moved. */
export async function appliedAt(store: StateStore, rolloutId: string, batch: number, now: number): Promise<number> {
  const key = keys.applied(rolloutId, batch);
  const e = await store.get('cutover', key);
  if (e) return parseWith(AppliedRecord, e.value, 'plan.invalid', `apply time of batch ${batch}`).at;
  const record: AppliedRecord = { schema: 1, at: now };
  await store.put('cutover', key, record);
  return now;
}

/**
 * Adds `hosts` to the steps record's `lost` (hosts gone before their batch, or skipped by onHostLost): they use
 * up maxUnavailable while gone and are named in `HostLost` until a re-plan finds them again.
 */
export async function noteLost(
  o: { store: StateStore; clock: Clock },
  rolloutId: string,
  hosts: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const steps = await withRetry(() => loadSteps(o.store, rolloutId), o.clock, signal);
  const lost = [...new Set([...(steps?.lost ?? []), ...hosts])].slice(0, 64);
  const next: StepsRecord = { ...(steps ?? { schema: 1, starts: [], replanned: [] }), lost };
  await withRetry(() => saveSteps(o.store, rolloutId, next), o.clock, signal);
}

/** Every host the rollout's stored plan names, over all its batches (read in parallel; a missing one is skipped). */
export async function plannedHosts(
  o: { store: StateStore; clock: Clock },
  rolloutId: string,
  signal: AbortSignal,
): Promise<Set<string>> {
  const plan = await withRetry(() => o.store.get('cutover', keys.plan(rolloutId)), o.clock, signal);
  const total = (plan?.value as { batches?: unknown } | undefined)?.batches;
  const n = typeof total === 'number' ? total : 0;
  const records = await Promise.all(
    Array.from({ length: n }, (_, b) =>
      withRetry(() => loadBatch(o.store, rolloutId, b), o.clock, signal).catch(() => undefined),
    ),
  );
  return new Set(records.flatMap((r) => (r === undefined ? [] : r.hosts.map((h) => h.hostId))));
}
