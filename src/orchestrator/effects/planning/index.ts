// Planning a rollout: which hosts go in which batch, per strategy (rolling.ts, canary.ts, blueGreen.ts), made
// from the hosts seen now (basis.ts), checked against the link guardrails (guardrails.ts) and stored
// (storedPlan.ts) before any host is touched; and the re-plan a batch makes when it begins (a canary step's
// hosts, the rest of a rolling rollout). This file only dispatches by strategy. Nothing under planning/ sends
// to hosts, runs analyses or judges hosts.
import type { BatchInput, PlanSummary, StepInput } from '../../../../machines/rollout/types';
import { loadSteps } from '../batches';
import { type EffectContext, stamp, withRetry } from '../context';
import { planBasis } from './basis';
import { planBlueGreen } from './blueGreen';
import { writeCanary } from './canary';
import { placementOnly } from '../../../../machines/rollout/plan';
import { planPlacement, planRolling, replanRolling } from './rolling';
import { storedTotal, writeBatches, writeTotal } from './storedPlan';

/** The `planRollout` effect: plans and stores every batch the strategy can decide now. */
export async function planRollout(o: EffectContext, input: StepInput, signal: AbortSignal): Promise<PlanSummary> {
  const target = await o.loadRevision(input.app, input.targetVersion, true);
  const stable =
    input.stableVersion === null
      ? null
      : input.stableVersion === input.targetVersion
        ? target
        : await o.loadRevision(input.app, input.stableVersion, false);
  let batches: string[][];
  if (stable !== null && input.kind !== 'undo' && placementOnly(stable, target)) {
    // Same specs as stable, new counts or spreads: a placement change, whatever the strategy.
    const basis = await planBasis(o, input, target);
    batches = await planPlacement(o.store, input, input.strategy, basis);
    await Promise.all([
      writeBatches(o.store, input.rolloutId, batches, basis.placement),
      writeTotal(o.store, input.rolloutId, batches.length),
    ]);
  } else if (input.strategy.type === 'canary') {
    // Only the first step's hosts are final here; each later step is re-planned when it begins.
    batches = (await writeCanary(o, input, input.strategy, target, 0, 0, undefined, signal)).batches;
  } else {
    const basis = await planBasis(o, input, target);
    batches =
      input.strategy.type === 'blueGreen'
        ? await planBlueGreen(o.store, input, input.strategy, basis)
        : await planRolling(o.store, input, input.strategy, basis);
    await Promise.all([
      writeBatches(o.store, input.rolloutId, batches, basis.placement),
      writeTotal(o.store, input.rolloutId, batches.length),
    ]);
  }
  return { ...stamp(o.clock), batches: batches.length, firstDeploy: input.stableVersion === null };
}

/**
 * The re-plan batch `input.batch` makes when it begins: a canary step's hosts are resolved when the step
 * begins, the rest of a rolling rollout against the hosts there are then. The plan's new total of batches,
 * or undefined when the plan stands.
 */
export async function replanAtBatch(
  o: EffectContext,
  input: BatchInput,
  signal: AbortSignal,
): Promise<number | undefined> {
  if (input.strategy.type === 'canary' && !input.firstDeploy && input.batch > 0) {
    const strategy = input.strategy;
    const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
    const begins = steps?.starts.find((x) => x.batch === input.batch);
    if (begins !== undefined && steps?.replanned.includes(input.batch)) {
      return storedTotal(o, input.rolloutId, signal);
    }
    if (begins !== undefined) {
      const target = await withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal);
      const r = await writeCanary(o, input, strategy, target, begins.step, input.batch, steps, signal);
      return input.batch + r.batches.length;
    }
    return undefined;
  }
  if (input.strategy.type === 'rolling' && input.batch > 0) return replanRolling(o, input, input.strategy, signal);
  return undefined;
}
