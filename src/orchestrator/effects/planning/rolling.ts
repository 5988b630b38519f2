// Rolling planning: the first plan (batches by maxParallel/maxUnavailable, the in-place guardrail check) and
// the re-plan each batch makes when it begins, against the hosts there are then (hosts that became
// unavailable go first, hosts that joined are included), skipped while the host set is unchanged since the
// last plan (its digest is in the steps record). Writes the steps record; the first plan's batches and total
// are written by the caller, a re-plan's here. Must not send to hosts.
import { needsApply, place, planBatches } from '../../../../machines/rollout/plan';
import type { BatchInput } from '../../../../machines/rollout/types';
import { sha256Hex } from '../../../protocol/hash';
import type { RollingStrategy, Strategy } from '../../../protocol/strategy';
import type { StepsRecord } from '../../records';
import { observe } from '../../reconcile';
import { loadSteps, saveSteps } from '../batches';
import { type EffectContext, withRetry } from '../context';
import type { Planner } from './basis';
import { checkInPlace } from './guardrails';
import { orEmpty, stillGone, storedTotal, vanishedFrom, withGone, writeBatches, writeTotal } from './storedPlan';

/** A digest of a set of host ids, independent of order. */
function hostsDigest(ids: Iterable<string>): string {
  return sha256Hex([...ids].sort().join('\n'));
}

/** The batches of a rolling rollout (host ids); writes the steps record with the digest of the hosts seen. */
export const planRolling: Planner<RollingStrategy> = async (store, input, strategy, basis) => {
  const { target, stable, hosts, current, placement, candidates } = basis;
  checkInPlace(input, 'fail', target, hosts, current, placement, stable);
  const batches = planBatches(candidates, hosts, strategy);
  const steps: StepsRecord = {
    schema: 1,
    starts: [],
    replanned: [],
    hostsDigest: hostsDigest(hosts.map((h) => h.hostId)),
  };
  await saveSteps(store, input.rolloutId, steps);
  return batches;
};

/**
 * A placement change (same specs as stable, new instance counts or spreads) under any strategy: batches by the
 * strategy's maxParallel and maxUnavailable, verified with the health gate; the steps record marks it, so no
 * canary step, pause of a gate or analysis runs.
 */
export const planPlacement: Planner<Strategy> = async (store, input, strategy, basis) => {
  const { target, stable, hosts, current, placement, candidates } = basis;
  checkInPlace(input, 'fail', target, hosts, current, placement, stable);
  const limits = {
    hostOrder: strategy.hostOrder,
    maxParallel: strategy.maxParallel,
    maxUnavailable: 'maxUnavailable' in strategy ? strategy.maxUnavailable : undefined,
  };
  const batches = planBatches(candidates, hosts, limits);
  const steps: StepsRecord = {
    schema: 1,
    starts: [],
    replanned: [],
    hostsDigest: hostsDigest(hosts.map((h) => h.hostId)),
    placementOnly: true,
  };
  await saveSteps(store, input.rolloutId, steps);
  return batches;
};

/**
 * A rolling batch is a step: the rest of the rollout is re-planned against the hosts there are when it
 * begins. Once per batch: the marker makes a resumed apply reuse it. The new total, or undefined when the
 * plan stands.
 */
export async function replanRolling(
  o: EffectContext,
  input: BatchInput,
  strategy: RollingStrategy,
  signal: AbortSignal,
): Promise<number | undefined> {
  const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
  // Re-planned before a restart: the machine's count may predate it, the stored total does not.
  if (steps?.replanned.includes(input.batch)) return storedTotal(o, input.rolloutId, signal);
  // The host set as the orchestrator knows it (pings, and heartbeats: a host sends one when it starts).
  // Unchanged since the last plan: that plan stands, and a 10,000-host rollout is not re-pinged per batch.
  if (steps?.hostsDigest === hostsDigest(o.client.known.keys())) return undefined;
  const target = await withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal);
  const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
  const placement = place(target, hosts, current);
  const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
  const seen = new Set(hosts.map((h) => h.hostId));
  // A host gone before its batch is not applied to: it uses up maxUnavailable while gone, and is named in
  // HostLost; it is planned again once it answers (before completion), or the scaler gives it the target after.
  const vanished = stillGone(steps?.lost, seen, await vanishedFrom(o, input.rolloutId, input.batch, seen, signal));
  const batches = orEmpty(planBatches(candidates, withGone(hosts, vanished), strategy));
  await writeBatches(o.store, input.rolloutId, batches, placement, input.batch);
  await withRetry(() => writeTotal(o.store, input.rolloutId, input.batch + batches.length), o.clock, signal);
  const record: StepsRecord = {
    schema: 1,
    starts: [],
    replanned: [...(steps?.replanned ?? []), input.batch].slice(-64),
    hostsDigest: hostsDigest(hosts.map((h) => h.hostId)),
    ...(vanished.length > 0 ? { lost: vanished.slice(0, 64) } : {}),
    ...(steps?.placementOnly === true ? { placementOnly: true } : {}),
  };
  await withRetry(() => saveSteps(o.store, input.rolloutId, record), o.clock, signal);
  return input.batch + batches.length;
}
