// Pure planning for rollouts: placement, batches and verdicts. No I/O, no clock, no randomness:
// the same inputs always give the same plan, so a plan can be recomputed, compared and table-tested.
import type { ComponentInventory } from '../../src/protocol/inventory';
import { canonicalJson, specHash } from '../../src/protocol/hash';
import type { AppRevision, Scale } from '../../src/protocol/spec';
import type { Amount, HostOrder, RollingStrategy } from '../../src/protocol/strategy';

export type WorkloadKind = 'component' | 'provider';

/** A host as planning sees it. `unavailable`: it does not serve a healthy version of the app now. */
export interface HostInfo {
  hostId: string;
  labels: Readonly<Record<string, string>>;
  unavailable?: boolean;
}

/** What one host runs of the app now: workload id → kind and serving hash (none when nothing serves). */
export type HostWorkloads = Readonly<Record<string, { kind: WorkloadKind; hash?: string | undefined }>>;
/** Current placement of the app: hostId → workloads. */
export type CurrentPlacement = Readonly<Record<string, HostWorkloads>>;

/** One workload on one host: the target hash for install / upgrade / keep, the serving hash for remove. */
export interface WorkloadRef {
  kind: WorkloadKind;
  id: string;
  hash: string;
}

/** What changes on one host. */
export interface HostDiff {
  install: WorkloadRef[];
  upgrade: WorkloadRef[];
  remove: WorkloadRef[];
  keep: WorkloadRef[];
}

/** The result of {@link place}: per host what to do, plus the hosts each workload was placed on. */
export interface Placement {
  hosts: Record<string, HostDiff>;
  /** `kind:id` → hostIds, sorted. */
  workloads: Record<string, string[]>;
  /** Spec hash per `kind:id` in the revision. */
  hashes: Record<string, string>;
}

/** `kind:id`, the identity of a workload within an app. */
export function workloadKey(kind: WorkloadKind, id: string): string {
  return `${kind}:${id}`;
}

function matches(labels: Readonly<Record<string, string>>, requirements: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(requirements)) if (labels[k] !== v) return false;
  return true;
}

/** Splits `total` by `weights` with largest remainders (ties to the earlier spread), so the sum is exact. */
export function splitByWeight(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0 || total === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left === 0) break;
    out[i] = (out[i] ?? 0) + 1;
    left--;
  }
  return out;
}

const byId = (a: HostInfo, b: HostInfo) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0);

/** True when `items` are already in ascending order of `key` (inventories usually come sorted by host id). */
function ascending<T>(items: readonly T[], key: (item: T) => string): boolean {
  for (let i = 1; i < items.length; i++) if (key(items[i - 1] as T) > key(items[i] as T)) return false;
  return true;
}

/** A sorted copy, without the sort when the input is in order already. */
function sortedCopy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return ascending(items, key)
    ? [...items]
    : [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const ownId = (s: string) => s;
const hostIdOf = (h: HostInfo) => h.hostId;

/**
 * Hosts for one scaled workload. A host runs at most one instance of a workload, so `instances` is
 * a host count (capped by the eligible hosts). Sticky: hosts that already run it are kept first,
 * then the least loaded, then by name.
 */
function chooseHosts(
  scale: Scale,
  hosts: readonly HostInfo[],
  has: (hostId: string) => boolean,
  load: Map<string, number>,
): string[] {
  if (scale.instances === 0) return [];
  const spreads = scale.spread.length > 0 ? scale.spread : [{ name: 'default', requirements: {}, weight: 100 }];
  if (scale.kind === 'daemon') {
    return hosts.filter((h) => spreads.some((s) => matches(h.labels, s.requirements))).map((h) => h.hostId);
  }
  const counts = splitByWeight(
    scale.instances,
    spreads.map((s) => s.weight),
  );
  const chosen = new Set<string>();
  spreads.forEach((s, i) => {
    const want = counts[i] ?? 0;
    const eligible = hosts
      .filter((h) => !chosen.has(h.hostId) && matches(h.labels, s.requirements))
      .sort(
        (a, b) =>
          Number(has(b.hostId)) - Number(has(a.hostId)) ||
          (load.get(a.hostId) ?? 0) - (load.get(b.hostId) ?? 0) ||
          byId(a, b),
      );
    for (const h of eligible.slice(0, want)) chosen.add(h.hostId);
  });
  return [...chosen];
}

/**
 * Places a revision on hosts and diffs it against what they run: per host `{ install, upgrade, remove, keep }`.
 * Rules: spread/daemon scalers as wadm defines them (weights split by largest remainder, one instance
 * per host); a component without a scaler runs on every host (like a daemon without requirements);
 * a provider without a scaler runs where the components linked to it run (every host when none is).
 * A host that serves a workload the placement does not give it gets a `remove`.
 * @example
 * place(revision, [{ hostId: 'h1', labels: {} }], {}).hosts.h1.install
 */
export function place(revision: AppRevision | null, hosts: readonly HostInfo[], current: CurrentPlacement): Placement {
  const sorted = sortedCopy(hosts, hostIdOf);
  const load = new Map<string, number>();
  const workloads: Record<string, string[]> = {};
  const hashes: Record<string, string> = {};
  const bump = (ids: readonly string[]) => {
    for (const id of ids) load.set(id, (load.get(id) ?? 0) + 1);
  };
  const has = (kind: WorkloadKind, id: string) => (hostId: string) => current[hostId]?.[id]?.kind === kind;
  const hostIdsOf = new Map<string, string[]>();

  for (const c of revision?.components ?? []) {
    const chosen = c.scale
      ? chooseHosts(c.scale, sorted, has('component', c.spec.id), load)
      : sorted.map((h) => h.hostId);
    bump(chosen);
    const key = workloadKey('component', c.spec.id);
    workloads[key] = sortedCopy(chosen, ownId);
    hashes[key] = specHash(c.spec, 'component');
    hostIdsOf.set(c.spec.id, chosen);
    hostIdsOf.set(c.name, chosen);
  }
  for (const p of revision?.providers ?? []) {
    let chosen: string[];
    if (p.scale) chosen = chooseHosts(p.scale, sorted, has('provider', p.spec.id), load);
    else {
      const linked = new Set<string>();
      for (const l of revision?.links ?? []) {
        const other =
          l.source === p.spec.id || l.source === p.name
            ? l.target
            : l.target === p.spec.id || l.target === p.name
              ? l.source
              : null;
        if (other !== null) for (const h of hostIdsOf.get(other) ?? []) linked.add(h);
      }
      chosen = linked.size > 0 ? sorted.map((h) => h.hostId).filter((h) => linked.has(h)) : sorted.map((h) => h.hostId);
    }
    bump(chosen);
    const key = workloadKey('provider', p.spec.id);
    workloads[key] = sortedCopy(chosen, ownId);
    hashes[key] = specHash(p.spec, 'provider');
  }

  const out: Record<string, HostDiff> = {};
  const diffOf = (hostId: string): HostDiff => {
    let d = out[hostId];
    if (!d) {
      d = { install: [], upgrade: [], remove: [], keep: [] };
      out[hostId] = d;
    }
    return d;
  };
  // Per workload the hosts it is placed on: a handful of sets, not one per host.
  const placed = new Map<string, Set<string>>();
  for (const [key, hostIds] of Object.entries(workloads)) {
    const sep = key.indexOf(':');
    const kind = key.slice(0, sep) as WorkloadKind;
    const id = key.slice(sep + 1);
    const hash = hashes[key] as string;
    placed.set(key, new Set(hostIds));
    for (const hostId of hostIds) {
      const now = current[hostId]?.[id];
      const ref = { kind, id, hash };
      if (!now || now.kind !== kind) diffOf(hostId).install.push(ref);
      else if (now.hash !== hash) diffOf(hostId).upgrade.push(ref);
      else diffOf(hostId).keep.push(ref);
    }
  }
  for (const hostId of sortedCopy(Object.keys(current), ownId)) {
    for (const [id, w] of Object.entries(current[hostId] ?? {})) {
      if (placed.get(workloadKey(w.kind, id))?.has(hostId)) continue;
      diffOf(hostId).remove.push({ kind: w.kind, id, hash: w.hash ?? '' });
    }
  }
  return { hosts: out, workloads, hashes };
}

/** A spec as placement compares it: the digest counts only when both sides are pinned. */
const specKey = (spec: { digest?: string | undefined }, pinned: boolean) => {
  const { digest, ...rest } = spec;
  return canonicalJson(pinned ? spec : rest);
};

/**
 * True when `next` differs from `before` in placement only (instance counts, spreads, weights): the same
 * components and providers with the same specs, and the same links. Such a change is a placement change
 * (docs/rollout-semantics.md, "Defaults"): reconciled with the health gate, without canary steps or analysis.
 * @example
 * placementOnly(v1, { ...v1, components: [{ ...v1.components[0], scale: { kind: 'spread', instances: 4, spread: [] } }] }) // true
 */
export function placementOnly(before: AppRevision, next: AppRevision): boolean {
  type Named = ReadonlyArray<{ name: string; spec: { digest?: string | undefined } }>;
  const same = (a: Named, b: Named) => {
    if (a.length !== b.length) return false;
    const byName = new Map(b.map((x) => [x.name, x.spec]));
    return a.every((x) => {
      const other = byName.get(x.name);
      if (other === undefined) return false;
      const pinned = x.spec.digest !== undefined && other.digest !== undefined;
      return specKey(x.spec, pinned) === specKey(other, pinned);
    });
  };
  const links = (r: AppRevision) => r.links.map((l) => canonicalJson(l)).sort();
  return (
    same(before.components, next.components) &&
    same(before.providers, next.providers) &&
    canonicalJson(links(before)) === canonicalJson(links(next))
  );
}

/** True when a host has something to install or upgrade. */
export function needsApply(diff: HostDiff | undefined): boolean {
  return diff !== undefined && diff.install.length + diff.upgrade.length > 0;
}

/** Resolves an amount against `total` hosts: percentages round `up` or `down`; numbers are taken as they are. */
export function resolveAmount(amount: Amount, total: number, round: 'up' | 'down'): number {
  if (typeof amount === 'number') return amount;
  const pct = Number.parseFloat(amount.slice(0, -1));
  const exact = (total * pct) / 100;
  // A tolerance, so 10% of 30 hosts is 3, not 4 through floating-point noise.
  return round === 'up' ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9);
}

function orderKey(order: HostOrder, host: HostInfo): number {
  if (order === 'name') return 0;
  const value = host.labels[order.label];
  const i = value === undefined ? -1 : order.values.indexOf(value);
  return i === -1 ? order.values.length : i;
}

/** Candidates in the order they are upgraded: hosts already unavailable first, then by `hostOrder`, then by name. */
export function orderHosts(candidates: readonly HostInfo[], order: HostOrder): HostInfo[] {
  return [...candidates].sort(
    (a, b) =>
      Number(!!b.unavailable) - Number(!!a.unavailable) || orderKey(order, a) - orderKey(order, b) || byId(a, b),
  );
}

/**
 * Rolling batches. `maxParallel` (rounded up, at least 1) caps a batch; `maxUnavailable` (rounded down)
 * caps hosts not serving a healthy version (unavailable hosts outside the plan, unavailable candidates
 * not yet verified, plus the available hosts of the batch being applied). Percentages resolve against
 * `hosts`, the current host set. A batch always takes at least one host, so `maxUnavailable: 0` still
 * progresses one host at a time (an in-place apply keeps the old version serving until cut-over).
 */
export function planBatches(
  candidates: readonly string[],
  hosts: readonly HostInfo[],
  // An unset maxParallel means every host at once; an unset maxUnavailable equals maxParallel (docs/rollout-semantics.md, "Defaults").
  strategy: Pick<RollingStrategy, 'hostOrder'> & {
    maxParallel?: Amount | undefined;
    maxUnavailable?: Amount | undefined;
  },
): string[][] {
  const want = new Set(candidates);
  const total = hosts.length;
  const maxParallel = Math.max(1, resolveAmount(strategy.maxParallel ?? total, total, 'up'));
  const maxUnavailable =
    strategy.maxUnavailable === undefined ? maxParallel : resolveAmount(strategy.maxUnavailable, total, 'down');
  const ordered = orderHosts(
    hosts.filter((h) => want.has(h.hostId)),
    strategy.hostOrder,
  );
  const unavailable = ordered.filter((h) => h.unavailable).map((h) => h.hostId);
  const available = ordered.filter((h) => !h.unavailable).map((h) => h.hostId);
  const outside = hosts.filter((h) => h.unavailable && !want.has(h.hostId)).length;
  const batches: string[][] = [];
  // Read heads instead of splicing from the front: one host at a time over 10,000 hosts stays linear.
  let u = 0;
  let a = 0;
  while (u < unavailable.length || a < available.length) {
    const room = maxUnavailable - outside - (unavailable.length - u);
    const batch = unavailable.slice(u, u + maxParallel);
    u += batch.length;
    const slots = Math.min(maxParallel - batch.length, Math.max(0, room));
    const taken = available.slice(a, a + slots);
    a += taken.length;
    for (const h of taken) batch.push(h);
    if (batch.length === 0 && a < available.length) batch.push(available[a++] as string);
    batches.push(batch);
  }
  return batches;
}

/** The health gate of one host for one workload. */
export interface GateRule {
  minReadyMs: number;
  maxErrorRate: number;
}

export type Verdict = { status: 'passed' } | { status: 'pending' } | { status: 'failed'; code: string; reason: string };

/**
 * Verifies one workload on one host from its inventory, level-triggered: passed when it serves `hash`,
 * has done so for `minReadyMs` and its error rate (gate counters of that hash) is within `maxErrorRate`;
 * failed when the host reports the apply of `hash` failed, or the error rate is exceeded; pending otherwise.
 */
export function verdict(inv: ComponentInventory | undefined, hash: string, rule: GateRule, now: number): Verdict {
  if (!inv) return { status: 'pending' };
  const last = inv.lastApply;
  if (inv.servingHash !== hash) {
    if (last && last.hash === hash && last.outcome === 'failed' && inv.pending?.hash !== hash) {
      return {
        status: 'failed',
        code: last.code ?? 'apply.failed',
        reason: `"${inv.id}" failed: ${last.reason ?? 'apply failed'}`,
      };
    }
    return { status: 'pending' };
  }
  if (inv.status === 'failed' || inv.status === 'unhealthy') {
    return { status: 'failed', code: 'host.unhealthy', reason: `"${inv.id}" is ${inv.status}` };
  }
  const counters = inv.gate?.byHash[hash];
  // The gate counts successful answers and failures apart: the rate is failures over all completed calls.
  const completed = counters ? counters.answered + counters.errors : 0;
  if (counters && completed > 0 && counters.errors / completed > rule.maxErrorRate) {
    const rate = counters.errors / completed;
    return {
      status: 'failed',
      code: 'gate.errorRate',
      reason: `"${inv.id}" error rate ${rate.toFixed(3)} over ${rule.maxErrorRate} (${counters.errors}/${completed})`,
    };
  }
  if (inv.status !== 'running') return { status: 'pending' };
  const since = last && last.hash === hash && last.outcome === 'applied' ? last.at : Number.NEGATIVE_INFINITY;
  return now - since >= rule.minReadyMs ? { status: 'passed' } : { status: 'pending' };
}

/** Verifies that a workload is gone from a host (a removal). */
export function removedVerdict(inv: ComponentInventory | undefined): Verdict {
  return !inv || inv.status === 'stopped' ? { status: 'passed' } : { status: 'pending' };
}

/** Combines verdicts: the first failure, else pending while any is pending, else passed. */
export function combine(verdicts: Iterable<Verdict>): Verdict {
  let pending = false;
  for (const v of verdicts) {
    if (v.status === 'failed') return v;
    if (v.status === 'pending') pending = true;
  }
  return pending ? { status: 'pending' } : { status: 'passed' };
}

/**
 * Error rate of a version over many hosts' gate counters: failures over all completed calls
 * (`answered` counts successes only); `null` when fewer than `minSamples` calls completed.
 */
export function errorRate(
  counters: Iterable<{ answered: number; errors: number } | undefined>,
  minSamples: number,
): { rate: number; answered: number; errors: number } | null {
  let answered = 0;
  let errors = 0;
  for (const c of counters) {
    if (!c) continue;
    answered += c.answered;
    errors += c.errors;
  }
  const completed = answered + errors;
  if (completed < minSamples) return null;
  return { rate: completed === 0 ? 0 : errors / completed, answered, errors };
}
