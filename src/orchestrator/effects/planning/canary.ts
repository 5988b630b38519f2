// Canary planning: the steps of a canary strategy turned into batches against the hosts there are, at the
// start of the rollout for its first step and again when each later step begins (the hosts that joined or
// vanished in between count). Writes the batches, their gates, the total and, last, the steps record (a crash
// before it re-plans again from the same inventories). Must not send to hosts nor run analyses; it only names
// where a background analysis starts.
import { type CanarySchedule, canarySchedule, checkSetHostsAgainst } from '../../../../machines/rollout/canary';
import { type Placement, needsApply, place, planBatches } from '../../../../machines/rollout/plan';
import type { StepInput } from '../../../../machines/rollout/types';
import type { CanaryStrategy } from '../../../protocol/strategies';
import type { AppRevision } from '../../../protocol/spec';
import type { GateRecord, StepsRecord } from '../../records';
import { observe } from '../../reconcile';
import { saveGate, saveSteps } from '../batches';
import { type EffectContext, withRetry } from '../context';
import { checkInPlace, stableOf } from './guardrails';
import { orEmpty, stillGone, vanishedFrom, withGone, writeBatches, writeTotal } from './storedPlan';

/** Canary batches from `fromStep` on against the hosts now, written from batch `firstBatch` on. */
export async function writeCanary(
  o: EffectContext,
  input: StepInput,
  strategy: CanaryStrategy,
  target: AppRevision,
  fromStep: number,
  firstBatch: number,
  previous: StepsRecord | undefined,
  signal: AbortSignal,
): Promise<{ batches: string[][]; placement: Placement; schedule: CanarySchedule }> {
  const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
  const placement = place(target, hosts, current);
  const placed = hosts.filter((h) => placement.hosts[h.hostId] !== undefined);
  // Decided at the first plan, when the host count is known: steps mixing counts and percentages never shrink.
  if (fromStep === 0 && firstBatch === 0) checkSetHostsAgainst(strategy, placed.length);
  checkInPlace(input, strategy.onConflict, target, hosts, current, placement, await stableOf(o, input));
  const wanted = new Set(Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h])));
  // Hosts gone before their step are not applied to: they use up maxUnavailable while gone (HostLost names them).
  const seen = new Set(hosts.map((h) => h.hostId));
  const gone =
    firstBatch > 0
      ? stillGone(previous?.lost, seen, await vanishedFrom(o, input.rolloutId, firstBatch, seen, signal))
      : [];
  const schedule = canarySchedule(strategy, placed, {
    firstDeploy: input.stableVersion === null,
    done: placed.filter((h) => !wanted.has(h.hostId)).map((h) => h.hostId),
    fromStep,
    firstBatch,
    chunk: (ids) =>
      planBatches(ids, withGone(placed, gone), {
        hostOrder: strategy.hostOrder,
        maxParallel: strategy.maxParallel,
        maxUnavailable: strategy.maxUnavailable,
      }),
  });
  if (firstBatch > 0) schedule.batches = orEmpty(schedule.batches);
  const gateWrites = schedule.batches.map((_, i) => {
    const g = schedule.gates.get(firstBatch + i);
    const gate: GateRecord = { schema: 1, pause: g?.pause ?? false, analyses: g?.analyses ?? [] };
    return saveGate(o.store, input.rolloutId, firstBatch + i, gate);
  });
  await Promise.all([
    ...gateWrites,
    writeBatches(o.store, input.rolloutId, schedule.batches, placement, firstBatch),
    withRetry(() => writeTotal(o.store, input.rolloutId, firstBatch + schedule.batches.length), o.clock, signal),
  ]);
  const steps: StepsRecord = {
    schema: 1,
    starts: [...(previous?.starts ?? []).filter((s) => s.batch < firstBatch), ...schedule.starts],
    replanned: [...(previous?.replanned ?? []), ...(fromStep === 0 && firstBatch === 0 ? [] : [firstBatch])],
    ...(gone.length > 0 ? { lost: gone.slice(0, 64) } : {}),
    ...(schedule.backgroundStart !== undefined
      ? { backgroundStart: schedule.backgroundStart }
      : previous?.backgroundStart !== undefined
        ? { backgroundStart: previous.backgroundStart }
        : {}),
  };
  // Written last: a crash before it re-plans again from the same inventories.
  await saveSteps(o.store, input.rolloutId, steps);
  return { batches: schedule.batches, placement, schedule };
}
