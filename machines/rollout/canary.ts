import { CutoverError } from '../../src/errors';
import type {
  AnalysisSpec,
  BackgroundAnalysis,
  CanaryStrategy,
  HostCount,
  HostLimit,
} from '../../src/protocol/strategies';
import type { HostOrder } from '../../src/protocol/strategy';

/** What canary planning needs to know about a host. */
export interface CanaryHost {
  hostId: string;
  labels?: Readonly<Record<string, string>>;
}

/** One step of a canary plan, resolved against a host set. */
export type PlannedCanaryStep =
  | {
      kind: 'setHosts';
      /** Index in `strategy.steps`; `null` for the implicit last step that moves every remaining host. */
      stepIndex: number | null;
      /** Hosts serving the new version once this step is done. */
      target: number;
      /** Hosts this step moves, in order. */
      add: string[];
      /** `add` split by maxParallel. */
      batches: string[][];
    }
  | { kind: 'pause'; stepIndex: number; durationMs?: number }
  | { kind: 'analysis'; stepIndex: number; analysis: AnalysisSpec };

/** A canary strategy resolved against the current host set. */
export interface CanaryPlan {
  /** No stable revision: steps, pauses and analysis are skipped; maxParallel and the health gate are kept. */
  firstDeploy: boolean;
  hostCount: number;
  /** Every host in the order the canary moves them. */
  order: string[];
  steps: PlannedCanaryStep[];
  backgroundAnalysis?: BackgroundAnalysis;
}

/** Options for {@link planCanary} and {@link resolveCanaryStep}. */
export interface CanaryPlanOptions {
  /** True when the app has no stable revision yet. */
  firstDeploy?: boolean;
  /** Hosts that already serve the new version (a resumed or superseding rollout); they count, and are not moved again. */
  done?: readonly string[];
}

/**
 * A host count against `total` hosts. Percentages round `up` (setHosts, maxParallel: at least one host
 * when there is any) or `down` (maxUnavailable); the result never exceeds `total`.
 */
export function resolveHostCount(value: HostCount | HostLimit, total: number, rounding: 'up' | 'down'): number {
  if (!Number.isInteger(total) || total < 0) {
    throw new CutoverError('plan.invalid', `host total must be a whole number, got "${total}"`);
  }
  if (total === 0) return 0;
  if (typeof value === 'number') return Math.min(value, total);
  const exact = (total * Number.parseFloat(value)) / 100;
  // Tolerance so that e.g. 7 × 14.2857% is not pushed past a whole number by float error.
  const n = rounding === 'up' ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9);
  return Math.min(total, rounding === 'up' ? Math.max(1, n) : n);
}

/**
 * Hosts in canary order: by the position of their `hostOrder.label` value in `hostOrder.values`
 * (hosts without a listed value last), then by host id.
 */
export function orderCanaryHosts<H extends CanaryHost>(
  hosts: readonly H[],
  hostOrder: HostOrder | { readonly label: string; readonly values: readonly string[] },
): H[] {
  const rank = (h: H) => {
    if (hostOrder === 'name') return 0;
    const value = h.labels?.[hostOrder.label];
    const i = value === undefined ? -1 : hostOrder.values.indexOf(value);
    return i === -1 ? hostOrder.values.length : i;
  };
  const ranked = hosts.map((h) => ({ h, r: rank(h) }));
  ranked.sort((a, b) => a.r - b.r || (a.h.hostId < b.h.hostId ? -1 : a.h.hostId > b.h.hostId ? 1 : 0));
  return ranked.map((x) => x.h);
}

function chunk(ids: readonly string[], size: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
}

function moveHosts(
  strategy: Pick<CanaryStrategy, 'maxParallel'>,
  ordered: readonly string[],
  done: ReadonlySet<string>,
  target: number,
  stepIndex: number | null,
): Extract<PlannedCanaryStep, { kind: 'setHosts' }> {
  const already = ordered.filter((id) => done.has(id)).length;
  const add = ordered.filter((id) => !done.has(id)).slice(0, Math.max(0, target - already));
  const size =
    strategy.maxParallel === undefined
      ? Math.max(1, add.length)
      : resolveHostCount(strategy.maxParallel, ordered.length, 'up');
  return {
    kind: 'setHosts',
    stepIndex,
    target: Math.max(target, already),
    add,
    batches: chunk(add, Math.max(1, size)),
  };
}

/**
 * Resolves step `stepIndex` of `strategy` against the CURRENT host set (percentages are recomputed at
 * each step); `stepIndex === strategy.steps.length` is the implicit last step moving every remaining host.
 */
export function resolveCanaryStep(
  strategy: Pick<CanaryStrategy, 'steps' | 'hostOrder' | 'maxParallel'>,
  stepIndex: number,
  hosts: readonly CanaryHost[],
  opts: Pick<CanaryPlanOptions, 'done'> = {},
): PlannedCanaryStep {
  const ordered = orderCanaryHosts(hosts, strategy.hostOrder).map((h) => h.hostId);
  const done = new Set(opts.done ?? []);
  if (stepIndex === strategy.steps.length) return moveHosts(strategy, ordered, done, ordered.length, null);
  const step = strategy.steps[stepIndex];
  if (step === undefined || !Number.isInteger(stepIndex)) {
    throw new CutoverError(
      'plan.invalid',
      `canary step "${stepIndex}" does not exist (${strategy.steps.length} steps)`,
    );
  }
  if ('setHosts' in step) {
    return moveHosts(strategy, ordered, done, resolveHostCount(step.setHosts, ordered.length, 'up'), stepIndex);
  }
  if ('pause' in step) {
    return step.pause.durationMs === undefined
      ? { kind: 'pause', stepIndex }
      : { kind: 'pause', stepIndex, durationMs: step.pause.durationMs };
  }
  return { kind: 'analysis', stepIndex, analysis: step.analysis };
}

/**
 * The whole canary as it would run on `hosts` now: each step with the hosts it adds. The machine
 * re-resolves each step with {@link resolveCanaryStep} when it reaches it, since hosts come and go.
 * @example
 * planCanary(CanaryStrategy.parse({ type: 'canary', steps: [{ setHosts: 1 }, { setHosts: '50%' }] }), hosts)
 */
export function planCanary(
  strategy: CanaryStrategy,
  hosts: readonly CanaryHost[],
  opts: CanaryPlanOptions = {},
): CanaryPlan {
  const order = orderCanaryHosts(hosts, strategy.hostOrder).map((h) => h.hostId);
  const firstDeploy = opts.firstDeploy ?? false;
  const plan: CanaryPlan = { firstDeploy, hostCount: order.length, order, steps: [] };
  // A placement of zero hosts completes at once: nothing to move, nothing to wait for or measure.
  if (order.length === 0) return plan;
  const done = new Set(opts.done ?? []);
  if (firstDeploy) {
    plan.steps.push(moveHosts(strategy, order, done, order.length, null));
    return plan;
  }
  if (strategy.backgroundAnalysis !== undefined) plan.backgroundAnalysis = strategy.backgroundAnalysis;
  for (let i = 0; i <= strategy.steps.length; i++) {
    const step = resolveCanaryStep(strategy, i, hosts, { done: [...done] });
    if (step.kind === 'setHosts') {
      // The implicit last step only exists when hosts remain.
      if (step.stepIndex === null && step.add.length === 0) break;
      for (const id of step.add) done.add(id);
    }
    plan.steps.push(step);
  }
  return plan;
}
