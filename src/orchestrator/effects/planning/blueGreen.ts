// Blue-green planning: standby beside active on the preview hosts first (pre-promotion analysis, then the
// promote pause), standby on the rest, then one batch that promotes every standby at once (post-promotion
// analysis). Checks the standby guardrails (a conflict with onConflict "rolling" plans an in-place upgrade)
// and writes each batch's mode and gate; the caller writes the batches themselves. Must not send to hosts.
import { blueGreenSchedule, checkPreviewHosts, retentionMs } from '../../../../machines/rollout/blueGreen';
import { checkGuardrails } from '../../../../machines/rollout/guardrails';
import { planBatches } from '../../../../machines/rollout/plan';
import type { BlueGreenStrategy } from '../../../protocol/strategies';
import type { GateRecord, ModeRecord } from '../../records';
import { saveGate, saveMode } from '../batches';
import type { Planner } from './basis';
import { checkInPlace, guardrailHosts } from './guardrails';

/** The batches of a blue-green rollout (host ids), their modes and gates written. */
export const planBlueGreen: Planner<BlueGreenStrategy> = async (store, input, strategy, basis) => {
  const { target, stable, hosts, current, placement, candidates } = basis;
  const limits = { hostOrder: strategy.hostOrder, maxParallel: strategy.maxParallel };
  // Decided now that the hosts are known: previewHosts above the hosts the app is placed on is refused.
  checkPreviewHosts(
    strategy,
    Object.values(placement.hosts).filter((d) => d.install.length + d.upgrade.length + d.keep.length > 0).length,
  );
  if (input.stableVersion === null || stable === null) {
    // A first deploy has nothing to stand beside.
    checkInPlace(input, 'fail', target, hosts, current, placement, null);
    return planBatches(candidates, hosts, limits);
  }
  const decision = checkGuardrails(
    {
      fromVersion: input.stableVersion,
      toVersion: input.targetVersion,
      coexistence: 'standby',
      hosts: guardrailHosts(target, stable, hosts, current, placement),
    },
    strategy.onConflict,
  );
  // A conflict with onConflict "rolling" upgrades in place.
  if (decision.strategy !== 'asPlanned') return planBatches(candidates, hosts, limits);
  const { standby, lastPreview, promote } = blueGreenSchedule(strategy, candidates, hosts);
  if (promote.length === 0) return [];
  const promoteAt = standby.length;
  const pause = !strategy.autoPromote
    ? {}
    : strategy.autoPromoteAfterMs === undefined
      ? (false as const)
      : { durationMs: strategy.autoPromoteAfterMs };
  const records: Array<Promise<unknown>> = [];
  for (let i = 0; i <= promoteAt; i++) {
    const mode: ModeRecord = {
      schema: 1,
      mode: i < promoteAt ? 'standby' : 'promote',
      // The old instance stays until post-promotion analysis can have ended and keepOldForMs passed.
      keepOldForMs: retentionMs(strategy),
    };
    const analyses =
      i === lastPreview && strategy.prePromotionAnalysis !== undefined
        ? [strategy.prePromotionAnalysis]
        : i === promoteAt && strategy.postPromotionAnalysis !== undefined
          ? [strategy.postPromotionAnalysis]
          : [];
    const gate: GateRecord = { schema: 1, pause: i === lastPreview ? pause : false, analyses };
    records.push(saveMode(store, input.rolloutId, i, mode));
    records.push(saveGate(store, input.rolloutId, i, gate));
  }
  await Promise.all(records);
  return [...standby, promote];
};
