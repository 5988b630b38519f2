import type { DirectedLink } from '../protocol/spec';
import { addressesConflict, configAddresses, type ListenAddress } from '../../machines/rollout/guardrails';
import { canonicalJson } from '../protocol/hash';
import { linkKey } from '../protocol/spec';

/** One link change done during cut-over: delete `from` (if any), then put `to` (if any). */
export interface LinkSwap {
  readonly from: DirectedLink | undefined;
  readonly to: DirectedLink | undefined;
}

/** How a new spec's links differ from the serving ones. */
export interface LinkPlan {
  /** New identities: put before cut-over, they share nothing with the old version. */
  readonly add: readonly DirectedLink[];
  /**
   * Changed or removed identities, in a stable order (by key): swapped one by one during cut-over. New links
   * that want an address a changed or removed link still holds come last (`from` undefined): they are put
   * under the gate after that address was released, not in `linking` where the put would be refused.
   */
  readonly swap: readonly LinkSwap[];
  /** Links the new version keeps exactly as they are. */
  readonly keep: readonly DirectedLink[];
}

const keyOf = (l: DirectedLink) => `${l.direction}|${linkKey(l)}`;
const contentOf = (l: DirectedLink) => canonicalJson({ ...l, interfaces: [...l.interfaces].sort() });

/** Pure diff of serving links against desired ones. */
export function planLinks(serving: readonly DirectedLink[], desired: readonly DirectedLink[]): LinkPlan {
  const old = new Map(serving.map((l) => [keyOf(l), l]));
  const next = new Map(desired.map((l) => [keyOf(l), l]));
  const keys = [...new Set([...old.keys(), ...next.keys()])].sort();
  const add: DirectedLink[] = [];
  const swap: LinkSwap[] = [];
  const keep: DirectedLink[] = [];
  for (const k of keys) {
    const from = old.get(k);
    const to = next.get(k);
    if (from === undefined && to !== undefined) add.push(to);
    else if (from !== undefined && to === undefined) swap.push({ from, to: undefined });
    else if (from !== undefined && to !== undefined) {
      if (contentOf(from) === contentOf(to)) keep.push(to);
      else swap.push({ from, to });
    }
  }
  const held = swap.flatMap((x) => (x.from === undefined ? [] : addressesOf(x.from)));
  const contended = (l: DirectedLink) => addressesOf(l).some((a) => held.some((h) => addressesConflict(a, h)));
  return {
    add: add.filter((l) => !contended(l)),
    swap: [...swap, ...add.filter(contended).map((to) => ({ from: undefined, to }))],
    keep,
  };
}

const addressesOf = (l: DirectedLink): ListenAddress[] => [
  ...configAddresses(l.sourceConfig),
  ...configAddresses(l.targetConfig),
];

/** The id at the other end of a link as its owner sees it. */
export function peerOf(link: DirectedLink): string {
  return link.direction === 'outgoing' ? link.target : link.source;
}
