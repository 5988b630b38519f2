// What a first rolling or blue-green plan is made from: the target and stable revisions, the hosts as their
// inventories show them now, the target's placement on them and the hosts that need an apply. Owns only
// that reading (one ping); it must not choose batches, write records or talk to hosts beyond the ping.
import {
  type CurrentPlacement,
  type HostInfo,
  type Placement,
  needsApply,
  place,
} from '../../../../machines/rollout/plan';
import type { StepInput } from '../../../../machines/rollout/types';
import type { StateStore } from '../../../ports/store';
import type { AppRevision } from '../../../protocol/spec';
import { observe } from '../../reconcile';
import type { EffectContext } from '../context';
import { stableOf } from './guardrails';

/** The revisions, hosts and placement a plan is made from. */
export interface PlanBasis {
  target: AppRevision;
  /** The stable revision; null on a first deploy. */
  stable: AppRevision | null;
  hosts: HostInfo[];
  current: CurrentPlacement;
  placement: Placement;
  /** Hosts whose placement needs an apply. */
  candidates: string[];
}

/** Reads the hosts now (one ping) and places `target` on them. */
export async function planBasis(o: EffectContext, input: StepInput, target: AppRevision): Promise<PlanBasis> {
  const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
  const placement = place(target, hosts, current);
  const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
  const stable = await stableOf(o, input);
  return { target, stable, hosts, current, placement, candidates };
}

/** A strategy's first plan: the batches (host ids) from `basis`, with the records it needs beside them written. */
export type Planner<S> = (store: StateStore, input: StepInput, strategy: S, basis: PlanBasis) => Promise<string[][]>;
