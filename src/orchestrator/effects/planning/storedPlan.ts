// The plan as the store holds it: one batch record per batch (each host and what it applies) and the
// plan's total, written by every plan and re-plan; and what a re-plan carries over from the plan before it
// (hosts that vanished, an empty last batch). Owns those writes and reads; it must not choose which hosts
// go in which batch (the strategy files do) nor talk to hosts.
import type { HostInfo, Placement } from '../../../../machines/rollout/plan';
import type { StateStore } from '../../../ports/store';
import { keys, packBatch } from '../../records';
import { loadBatch } from '../batches';
import { type EffectContext, withRetry } from '../context';

/** Writes `batches` (host ids) as batch records from `firstBatch` on, each host with what the placement applies. */
export const writeBatches = (
  store: StateStore,
  rolloutId: string,
  batches: string[][],
  placement: Placement,
  firstBatch = 0,
) =>
  Promise.all(
    batches.map((hostIds, i) => {
      const record = packBatch(
        hostIds.map((hostId) => {
          const d = placement.hosts[hostId];
          return { hostId, apply: d ? [...d.install, ...d.upgrade] : [] };
        }),
      );
      return store.put('cutover', keys.batch(rolloutId, firstBatch + i), record);
    }),
  );

/** Writes the plan's total number of batches. */
export const writeTotal = (store: StateStore, rolloutId: string, batches: number) =>
  store.put('cutover', keys.plan(rolloutId), { schema: 1, batches });

/** The plan's stored total number of batches, if written. */
export async function storedTotal(
  o: EffectContext,
  rolloutId: string,
  signal: AbortSignal,
): Promise<number | undefined> {
  const plan = await withRetry(() => o.store.get('cutover', keys.plan(rolloutId)), o.clock, signal);
  const total = (plan?.value as { batches?: unknown } | undefined)?.batches;
  return typeof total === 'number' ? total : undefined;
}

/**
 * Hosts the plan so far still meant to move from `batch` on but that no longer answer: a re-plan leaves
 * them out (they were never applied to, so onHostLost does not apply) and counts them as unavailable.
 */
export async function vanishedFrom(
  o: EffectContext,
  rolloutId: string,
  batch: number,
  seen: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<string[]> {
  const total = await storedTotal(o, rolloutId, signal);
  if (total === undefined) return [];
  const out: string[] = [];
  for (let b = batch; b < total; b++) {
    const record = await withRetry(() => loadBatch(o.store, rolloutId, b), o.clock, signal);
    for (const h of record.hosts) if (!seen.has(h.hostId)) out.push(h.hostId);
  }
  return out;
}

/**
 * The hosts a re-plan counts as gone: those lost earlier (`lost`, left out of their batch) that still do not
 * answer, and those that vanished before their planned batch. A lost host that answers again is a candidate.
 */
export const stillGone = (lost: readonly string[] | undefined, seen: ReadonlySet<string>, vanished: string[]) => [
  ...new Set([...(lost ?? []).filter((h) => !seen.has(h)), ...vanished]),
];

/** The host set a re-plan sees, with the hosts gone before their batch as unavailable (they use up maxUnavailable). */
export const withGone = <H extends HostInfo>(hosts: H[], gone: readonly string[]): HostInfo[] =>
  gone.length === 0 ? hosts : [...hosts, ...gone.map((hostId) => ({ hostId, labels: {}, unavailable: true }))];

/** A re-plan that finds nothing left keeps its first batch, empty: it ends the rollout. */
export const orEmpty = (batches: string[][]) => (batches.length > 0 ? batches : [[]]);
