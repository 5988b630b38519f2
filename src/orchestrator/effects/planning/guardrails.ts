// The link guardrails a plan is checked against before any host is touched: each host's workloads before
// (what it runs of the stable revision) and after (the target's placement), and the in-place check that
// refuses a plan no ordering can make safe. Owns only that projection and check; it must not write records,
// choose batches or talk to hosts.
import { checkGuardrails, guardrailWorkloads } from '../../../../machines/rollout/guardrails';
import type { CurrentPlacement, HostInfo, Placement } from '../../../../machines/rollout/plan';
import type { StepInput } from '../../../../machines/rollout/types';
import type { OnConflict } from '../../../protocol/strategies';
import type { AppRevision } from '../../../protocol/spec';
import type { EffectContext } from '../context';

/** Ids a host diff places (installed, upgraded or kept). */
const placedIds = (
  diff: { install: { id: string }[]; upgrade: { id: string }[]; keep: { id: string }[] } | undefined,
) => [...(diff?.install ?? []), ...(diff?.upgrade ?? []), ...(diff?.keep ?? [])].map((w) => w.id);

/** Each host's workloads before (what it runs of the stable revision) and after (the target's placement). */
export function guardrailHosts(
  target: AppRevision,
  stable: AppRevision | null,
  hosts: readonly HostInfo[],
  current: CurrentPlacement,
  placement: Placement,
) {
  // Hosts running the same workloads share one list (read only): 10,000 hosts are usually a handful of shapes.
  const memo = (revision: AppRevision) => {
    const lists = new Map<string, ReturnType<typeof guardrailWorkloads>>();
    return (ids: string[]) => {
      const key = ids.join('\n');
      let list = lists.get(key);
      if (list === undefined) lists.set(key, (list = guardrailWorkloads(revision, ids)));
      return list;
    };
  };
  const before = stable === null ? undefined : memo(stable);
  const after = memo(target);
  return hosts.map((h) => ({
    hostId: h.hostId,
    from: before === undefined ? [] : before(Object.keys(current[h.hostId] ?? {})),
    to: after(placedIds(placement.hosts[h.hostId])),
  }));
}

/**
 * An in-place upgrade turns added links that contend with old ones into swaps under the gate (on the
 * host); what no ordering resolves (both holders in the new version, or held by a workload that stays)
 * refuses the plan with `plan.conflict` before any host is touched.
 */
export function checkInPlace(
  input: StepInput,
  onConflict: OnConflict,
  target: AppRevision,
  hosts: readonly HostInfo[],
  current: CurrentPlacement,
  placement: Placement,
  stable: AppRevision | null,
): void {
  checkGuardrails(
    {
      fromVersion: input.stableVersion ?? input.targetVersion,
      toVersion: input.targetVersion,
      coexistence: 'inPlace',
      hosts: guardrailHosts(target, stable, hosts, current, placement),
    },
    onConflict,
  );
}

/** The stable revision the guardrails compare against; null on a first deploy. */
export const stableOf = (o: EffectContext, input: StepInput) =>
  input.stableVersion === null ? Promise.resolve(null) : o.loadRevision(input.app, input.stableVersion, false);
