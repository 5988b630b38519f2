import { z } from 'zod';
import { HostOrder } from './hostOrder';
import { BlueGreenStrategy, CanaryStrategy } from './strategies';

/** A count of hosts: a whole number, or a percentage of the current host set (`"25%"`). */
export const Amount = z.union([
  z.number().int().min(0),
  z.string().regex(/^(100|[1-9]?[0-9])(\.[0-9]+)?%$/, 'must be a percentage such as "25%"'),
]);
export type Amount = z.infer<typeof Amount>;

// HostOrder lives in its own module so strategies.ts (canary, blue-green) can use it without an import cycle.
export { HostOrder } from './hostOrder';

/** A pause between batches: timed (`durationMs`) or until `rollout.resume` / `rollout.promote`. */
export const BatchPause = z.union([
  z.literal(false),
  z.strictObject({ durationMs: z.number().int().min(0).optional() }),
]);
export type BatchPause = z.infer<typeof BatchPause>;

/** Built-in analysis after each batch: the error rate of the target version over every host serving it. */
export const BatchAnalysis = z.strictObject({
  maxErrorRate: z.number().min(0).max(1),
  /** Fewer answered invocations than this is inconclusive: the rollout holds for a person. */
  minSamples: z.number().int().min(0).default(0),
});
export type BatchAnalysis = z.output<typeof BatchAnalysis>;

const common = {
  /** Counted from the last progress; never runs while held or paused. */
  /**
   * Time one host has from its apply to passing verification (Nomad's healthy deadline); past it the host
   * counts as failed with code `timeout`, even while other hosts keep the rollout making progress.
   */
  applyDeadlineMs: z.number().int().min(1).default(300_000),
  progressDeadlineMs: z.number().int().min(1).default(600_000),
  /** On expiry roll back (`true`) or only report a `ProgressDeadlineExceeded` condition. */
  progressDeadlineAbort: z.boolean().default(true),
  /** A host lost during a forward batch fails the rollout, or is skipped with a `HostLost` condition. */
  onHostLost: z.enum(['rollback', 'skip']).default('rollback'),
};

/** Rolling update: batches of hosts, each applied, verified (health gate) and optionally analysed. */
export const RollingStrategy = z.strictObject({
  type: z.literal('rolling'),
  /** Hosts applied at once; percentages round up, at least one host. */
  maxParallel: Amount.default('25%'),
  /** Hosts that may not serve a healthy version at once; percentages round down. */
  maxUnavailable: Amount.default('25%'),
  hostOrder: HostOrder.default('name'),
  /** A host passes once it served the target for this long. */
  minReadyMs: z.number().int().min(0).default(0),
  /** A host fails when its target version's errors / answered exceed this. */
  maxErrorRate: z.number().min(0).max(1).default(0.05),
  pauseAfterBatch: BatchPause.default(false),
  analysis: BatchAnalysis.optional(),
  ...common,
});
export type RollingStrategy = z.output<typeof RollingStrategy>;

/**
 * How a rollout proceeds, as data: `rolling`, `canary` or `blueGreen`.
 * @example
 * Strategy.parse({ type: 'rolling', maxParallel: '10%' })
 */
export const Strategy = z.discriminatedUnion('type', [RollingStrategy, CanaryStrategy, BlueGreenStrategy]);
export type Strategy = z.output<typeof Strategy>;
export type StrategyInput = z.input<typeof Strategy>;
