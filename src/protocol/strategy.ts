import { z } from 'zod';
import { HostOrder } from './hostOrder';
import { BlueGreenStrategy, CanaryStrategy, HostCount, HostLimit, checkDeadlines, commonShape } from './strategies';

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

/** Rolling update: batches of hosts, each applied, verified (health gate) and optionally analysed. */
export const RollingStrategy = z
  .strictObject({
    type: z.literal('rolling'),
    /** Hosts applied at once; percentages round up, at least one host. */
    maxParallel: HostCount.default('25%'),
    /**
     * Hosts that may not serve a healthy version at once; percentages round down. Unset: equal to
     * `maxParallel` (a cut-over keeps serving, so `maxParallel: 2` moves two hosts at a time).
     */
    maxUnavailable: HostLimit.optional(),
    hostOrder: HostOrder.default('name'),
    /** A host fails when its target version's errors / answered exceed this. */
    maxErrorRate: z.number().min(0).max(1).default(0.05),
    pauseAfterBatch: BatchPause.default(false),
    analysis: BatchAnalysis.optional(),
    ...commonShape,
  })
  .superRefine(checkDeadlines);
export type RollingStrategy = z.output<typeof RollingStrategy>;

/**
 * How a rollout proceeds, as data: `rolling`, `canary` or `blueGreen`.
 * @example
 * Strategy.parse({ type: 'rolling', maxParallel: '10%' })
 */
export const Strategy = z.discriminatedUnion('type', [RollingStrategy, CanaryStrategy, BlueGreenStrategy]);
export type Strategy = z.output<typeof Strategy>;
export type StrategyInput = z.input<typeof Strategy>;
