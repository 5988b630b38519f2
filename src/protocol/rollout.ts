// Rollout records as persisted and sent on the wire: input, context (the snapshot's) and output.
import { z } from 'zod';
import { Strategy } from './strategy';

/** How a rollout ended. */
export const RolloutOutcome = z.enum(['completed', 'rolledBack', 'aborted', 'superseded', 'failed']);
export type RolloutOutcome = z.infer<typeof RolloutOutcome>;

/** Why a rollout was started: a deploy, a retry of an earlier one, or an undo to a known-good revision. */
export const RolloutKind = z.enum(['deploy', 'retry', 'undo']);
export type RolloutKind = z.infer<typeof RolloutKind>;

/**
 * Something that holds (or held) about a rollout, as operators of Kubernetes read it: a condition that stops
 * holding stays with `status: false` and `since` = the instant it cleared. `hosts` names the hosts concerned.
 * @example
 * { type: 'HostLost', status: true, reason: 'hostLost', message: 'host "h3" stopped answering', since: 1_000, hosts: ['h3'] }
 */
export const Condition = z.strictObject({
  type: z.string().min(1),
  status: z.boolean(),
  reason: z.string(),
  message: z.string(),
  since: z.number(),
  hosts: z.array(z.string()).optional(),
});
export type Condition = z.output<typeof Condition>;

/** What starts a rollout actor. Revisions and plans live in the store; the machine knows only versions. */
export const RolloutInput = z.strictObject({
  rolloutId: z.string().min(1),
  app: z.string().min(1),
  targetVersion: z.string().min(1),
  /** The last completed revision: every rollback goes here. `null` for a first deploy. */
  stableVersion: z.string().min(1).nullable(),
  strategy: Strategy,
  kind: RolloutKind.default('deploy'),
  /** A held app stays held: a deploy that supersedes a held rollout starts held. */
  startPaused: z.boolean().default(false),
  /** Absolute start time from the orchestrator's clock. */
  at: z.number(),
});
export type RolloutInput = z.output<typeof RolloutInput>;
export type RolloutInputParam = z.input<typeof RolloutInput>;

/**
 * Context: small and flat on purpose (a persisted snapshot stays tiny at any host count). Per-host
 * detail lives in the store and in host inventories. Times are absolute instants of the injected clock.
 */
export const RolloutContext = z.strictObject({
  rolloutId: z.string(),
  app: z.string(),
  kind: RolloutKind,
  targetVersion: z.string(),
  stableVersion: z.string().nullable(),
  strategy: Strategy,
  /** No stable revision: pauses and analysis are skipped, the health gate and `maxParallel` kept. */
  firstDeploy: z.boolean(),
  batch: z.number().int().min(0),
  batches: z.number().int().min(0),
  paused: z.boolean(),
  /** `step`: a promote given outside a pause ends the next one; `full`: every remaining step is skipped. */
  promoted: z.enum(['no', 'step', 'full']),
  progressDeadlineAt: z.number().nullable(),
  /** When the current hold or pause began, so the progress deadline is shifted by its length on leaving. */
  heldAt: z.number().nullable(),
  pauseUntil: z.number().nullable(),
  rollbackDeadlineAt: z.number().nullable(),
  outcome: RolloutOutcome.nullable(),
  code: z.string().nullable(),
  reason: z.string().nullable(),
  conditions: z.array(Condition).max(16),
  /** Hosts of the current batch verified so far: a report that does not raise it is no progress. */
  verified: z.number().int().min(0).default(0),
  /** Hosts of the current batch not yet verified (at most a few, for the progress-deadline reason), and how many. */
  unverified: z
    .strictObject({ hosts: z.array(z.string()).max(8), count: z.number().int().min(0) })
    .default({ hosts: [], count: 0 }),
  supersededBy: z.string().nullable(),
});
export type RolloutContext = z.output<typeof RolloutContext>;

/** The final output of a rollout actor. */
export const RolloutOutput = z.strictObject({
  rolloutId: z.string(),
  app: z.string(),
  outcome: RolloutOutcome,
  reason: z.string(),
  code: z.string().nullable(),
  targetVersion: z.string(),
  stableVersion: z.string().nullable(),
  supersededBy: z.string().nullable(),
});
export type RolloutOutput = z.output<typeof RolloutOutput>;
