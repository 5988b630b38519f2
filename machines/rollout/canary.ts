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
 * Refuses, against the `total` hosts known at plan time, a `setHosts` that would move fewer hosts than an
 * earlier step (validation compares only counts with counts and percentages with percentages; a mix is
 * decided here): `strategy.invalid` naming the step. A placement of no hosts moves none and is never refused.
 * @example
 * checkSetHostsAgainst(CanaryStrategy.parse({ type: 'canary', steps: [{ setHosts: 2 }, { setHosts: '25%' }] }), 4) // throws
 */
export function checkSetHostsAgainst(strategy: Pick<CanaryStrategy, 'steps'>, total: number): void {
  if (total === 0) return;
  let before: { count: number; value: HostCount; index: number } | undefined;
  strategy.steps.forEach((step, index) => {
    if (!('setHosts' in step)) return;
    const count = resolveHostCount(step.setHosts, total, 'up');
    if (before !== undefined && count < before.count) {
      const show = (v: HostCount, n: number) => (typeof v === 'number' ? `${n}` : `"${v}" (${n} of ${total} hosts)`);
      throw new CutoverError(
        'strategy.invalid',
        `steps.${index}.setHosts: setHosts never shrinks: ${show(step.setHosts, count)} after ${show(before.value, before.count)} at steps.${before.index}`,
      );
    }
    before = { count, value: step.setHosts, index };
  });
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

/** What follows one batch of a canary schedule: its pause (timed or for a person) and its analyses. */
export interface CanaryGate {
  pause: false | { durationMs?: number };
  analyses: AnalysisSpec[];
}

/** Where background analysis starts: once batch `batch` is applied, or once it is verified. */
export interface BackgroundStart {
  batch: number;
  when: 'applied' | 'verified';
}

/** A canary as batches: the batches, the gate after some of them, and the step each step-opening batch begins. */
export interface CanarySchedule {
  batches: string[][];
  /** Batch index → what follows it (only batches with a pause or an analysis). */
  gates: Map<number, CanaryGate>;
  /** Batches that begin a setHosts step, with that step's index in `strategy.steps` (the implicit last step is `steps.length`). */
  starts: Array<{ batch: number; step: number }>;
  /** Unset without background analysis, or when its starting step comes before `fromStep`. */
  backgroundStart?: BackgroundStart;
}

/** Options for {@link canarySchedule}. */
export interface CanaryScheduleOptions extends CanaryPlanOptions {
  /** Re-plan from this step on (the steps before it are done); default 0. */
  fromStep?: number;
  /** Index of the schedule's first batch (a re-plan continues the numbering); default 0. */
  firstBatch?: number;
  /** Splits one step's hosts into batches (maxParallel and maxUnavailable); default one batch per step. */
  chunk?: (hostIds: string[]) => string[][];
}

/**
 * A canary (or the rest of one, from `fromStep`) as batches with gates: each pause and analysis step
 * joins the gate after the batch before it (a gate analyses, then pauses; an analysis after a pause gets
 * an empty batch of its own to keep the order, and so do steps before the first setHosts, which run before
 * any host moves); a step that moves no host opens no batch.
 * @example
 * canarySchedule(strategy, hosts, { chunk: (ids) => [ids] }).batches // [['h1'], ['h2', 'h3'], …]
 */
export function canarySchedule(
  strategy: CanaryStrategy,
  hosts: readonly CanaryHost[],
  opts: CanaryScheduleOptions = {},
): CanarySchedule {
  const fromStep = opts.fromStep ?? 0;
  const firstBatch = opts.firstBatch ?? 0;
  const chunk = opts.chunk ?? ((ids: string[]) => [ids]);
  const sliced = fromStep === 0 ? strategy : { ...strategy, steps: strategy.steps.slice(fromStep) };
  const plan = planCanary(sliced, hosts, opts);
  const out: CanarySchedule = { batches: [], gates: new Map(), starts: [] };
  const background = opts.firstDeploy === true ? undefined : strategy.backgroundAnalysis;
  const wantStart = background !== undefined && background.startingStep >= fromStep ? background.startingStep : null;
  const last = () => firstBatch + out.batches.length - 1;
  const moves = plan.steps.some((step) => step.kind === 'setHosts' && step.add.length > 0);
  for (const step of plan.steps) {
    const index = step.stepIndex === null ? strategy.steps.length : step.stepIndex + fromStep;
    if (wantStart !== null && out.backgroundStart === undefined && index >= wantStart) {
      // A setHosts step starts it with its first batch; a pause or analysis step once the batch before it is verified.
      out.backgroundStart =
        step.kind === 'setHosts' || out.batches.length === 0
          ? { batch: firstBatch + out.batches.length, when: 'applied' }
          : { batch: last(), when: 'verified' };
    }
    if (step.kind === 'setHosts') {
      const batches = (step.add.length === 0 ? [] : chunk(step.add)).filter((b) => b.length > 0);
      if (batches.length > 0) out.starts.push({ batch: firstBatch + out.batches.length, step: index });
      out.batches.push(...batches);
      continue;
    }
    if (out.batches.length === 0) {
      // Steps run as written: a pause or analysis before the first setHosts is a gate on stable, after a batch
      // of no hosts, before any host moves (unless no host will move at all).
      if (!moves) continue;
      out.batches.push([]);
    }
    let gate = out.gates.get(last()) ?? { pause: false as const, analyses: [] };
    if (step.kind === 'analysis' && gate.pause !== false) {
      // A gate analyses before it pauses; an analysis written after a pause gets a batch of no hosts of its
      // own, so it measures after the pause as the steps say (traffic first, then figures).
      out.batches.push([]);
      gate = { pause: false, analyses: [] };
    }
    if (step.kind === 'analysis') gate.analyses.push(step.analysis);
    else {
      const before = gate.pause;
      // Untimed wins (it waits for a person); timed pauses in a row add up.
      gate.pause =
        step.durationMs === undefined || (before !== false && before.durationMs === undefined)
          ? {}
          : { durationMs: step.durationMs + (before === false ? 0 : (before.durationMs ?? 0)) };
    }
    out.gates.set(last(), gate);
  }
  // Started past the last batch (only pauses after it): start with the last batch's verification.
  if (out.backgroundStart !== undefined && out.backgroundStart.batch > last() && out.batches.length > 0) {
    out.backgroundStart = { batch: last(), when: 'verified' };
  }
  if (out.batches.length === 0) delete out.backgroundStart;
  return out;
}
