/**
 * The orchestrator's reports as zod schemas, one each: `RolloutView` (a rollout), `AppStatus` (an app, its
 * rollout and what each host serves) and `HistoryEntry` (one rollout in an app's history, also the stored
 * form). They are the contract for people and scripts: the API replies carry them, the package exports them,
 * and `schemas/*.schema.json` are generated from them (`node --import tsx scripts/json-schemas.ts`). Every field
 * added to a stored shape is optional, so records written before it still read. Schemas only: no behaviour.
 */
import { z } from 'zod';
import { Condition, RolloutKind, RolloutOutcome } from '../protocol/rollout';
import { AnalysisProviderName } from '../protocol/strategies';

/** Which strategy a rollout follows. */
export const StrategyType = z.enum(['rolling', 'canary', 'blueGreen']);
export type StrategyType = z.output<typeof StrategyType>;

/** A version with the spec hash of each of its workloads (`component:api` → hash); `hashes` null when not read. */
export const VersionRef = z.strictObject({
  version: z.string(),
  hashes: z.record(z.string(), z.string()).nullable(),
});
export type VersionRef = z.output<typeof VersionRef>;

/**
 * The versions a rollout or app concerns: `target` (what it rolls out), `stable` (the last completed revision,
 * where every rollback goes) and `previous` (the completed revision before stable, what a blue-green host
 * retains after a promotion); null when there is none.
 */
export const Versions = z.strictObject({
  target: VersionRef.nullable(),
  stable: VersionRef.nullable(),
  previous: VersionRef.nullable(),
});
export type Versions = z.output<typeof Versions>;

/** What a step does: a rolling `batch`, a canary `setHosts`/`pause`/`analysis`, a blue-green `standby`/`promote`. */
export const StepKind = z.enum(['batch', 'setHosts', 'pause', 'analysis', 'standby', 'promote']);
export type StepKind = z.output<typeof StepKind>;

/**
 * The step a rollout is at. Canary: `index` in `strategy.steps` (0-based; `index === total` is the implicit
 * last step that moves every remaining host). Rolling and blue-green: the batch index of `total` batches.
 */
export const RolloutStep = z.strictObject({
  index: z.number().int().min(0),
  kind: StepKind,
  total: z.number().int().min(0),
});
export type RolloutStep = z.output<typeof RolloutStep>;

/**
 * Why a rollout stands still: a strategy's `step` pause (timed when `until` is set), a `manual` pause asked
 * by a person, or an `inconclusive` analysis waiting for one. `since` and `until` are instants of the clock.
 */
export const PauseView = z.strictObject({
  kind: z.enum(['step', 'manual', 'inconclusive']),
  since: z.number(),
  until: z.number().nullable(),
});
export type PauseView = z.output<typeof PauseView>;

/** Who holds a rollout until a person acts (`resume` or `promote`), since when and why. */
export const HeldView = z.strictObject({
  by: z.enum(['person', 'analysis', 'strategy']),
  since: z.number(),
  reason: z.string(),
});
export type HeldView = z.output<typeof HeldView>;

/** Blue-green: standbys wait for the promotion (`pending`); `requested` is a promote given ahead of its pause. */
export const PromotionView = z.strictObject({
  pending: z.boolean(),
  requested: z.enum(['no', 'step', 'full']),
});
export type PromotionView = z.output<typeof PromotionView>;

/** How one measurement was judged. */
export const MeasurementVerdict = z.enum(['successful', 'failed', 'inconclusive', 'error']);

/** One measurement of an analysis: its value (null for no data or an error) and its verdict. */
export const MeasurementView = z.strictObject({
  value: z.number().nullable(),
  noData: z.boolean(),
  error: z.string().nullable(),
  verdict: MeasurementVerdict,
});
export type MeasurementView = z.output<typeof MeasurementView>;

/** Most measurements an analysis view lists (the newest); `measurements` still counts them all. */
export const MAX_MEASUREMENT_VIEWS = 100;

/** Where one analysis of a rollout stands: its figures so far and the verdict on them. */
export const AnalysisRunView = z.strictObject({
  /** `background`, or `after batch N` for a step or pre/post-promotion analysis. */
  run: z.string(),
  name: z.string(),
  provider: AnalysisProviderName,
  startedAt: z.number(),
  /** Measurements taken. */
  measurements: z.number().int().min(0),
  /** The newest measurements (at most {@link MAX_MEASUREMENT_VIEWS}), oldest first. */
  values: z.array(MeasurementView),
  /** `cancelled` (with the reason): its rollout ended, or a person promoted fully, before it had a verdict. */
  status: z.enum(['running', 'successful', 'failed', 'inconclusive', 'cancelled']),
  /** The final verdict once it ended; null while it runs. */
  verdict: z.enum(['successful', 'failed', 'inconclusive', 'cancelled']).nullable(),
  /** A dry run measures and reports but never fails or holds: `observed` is what its figures say. */
  dryRun: z.boolean(),
  observed: z.enum(['running', 'successful', 'failed', 'inconclusive']),
  reason: z.string(),
});
export type AnalysisRunView = z.output<typeof AnalysisRunView>;

/** One planned batch: its hosts, how it applies, and whether it is done, in flight or to come. */
export const BatchView = z.strictObject({
  index: z.number().int().min(0),
  hosts: z.array(z.string()),
  mode: z.enum(['apply', 'standby', 'promote']),
  state: z.enum(['done', 'current', 'pending']),
});
export type BatchView = z.output<typeof BatchView>;

/** The current batch's verification: hosts verified, and (at most 8 named) hosts not yet. */
export const VerificationView = z.strictObject({
  verified: z.number().int().min(0),
  unverified: z.array(z.string()),
  unverifiedCount: z.number().int().min(0),
});

/** The fields a rollout and its app's status share: the rollout's story so far. */
const rolloutStory = {
  strategy: StrategyType.nullable(),
  versions: Versions,
  step: RolloutStep.nullable(),
  pause: PauseView.nullable(),
  held: HeldView.nullable(),
  promotion: PromotionView,
  /** Every analysis the rollout started, with its figures so far. */
  analyses: z.array(AnalysisRunView),
  /** The planned batches with their hosts (empty until planned, or once pruned from history). */
  plannedBatches: z.array(BatchView),
  verification: VerificationView,
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
};

/** A JSON-friendly view of a rollout: where it is, what it rolls out, and what holds or held about it. */
export const RolloutView = z.strictObject({
  id: z.string(),
  app: z.string(),
  kind: RolloutKind,
  parent: z.string().nullable(),
  /** Dotted state, e.g. `progressing.verifying`. */
  state: z.string(),
  done: z.boolean(),
  outcome: RolloutOutcome.nullable(),
  reason: z.string().nullable(),
  code: z.string().nullable(),
  targetVersion: z.string(),
  stableVersion: z.string().nullable(),
  /** Batches done and planned (a step that re-plans may change `batches`). */
  batch: z.number().int(),
  batches: z.number().int(),
  paused: z.boolean(),
  /** What holds or held about the rollout; a cleared one stays with `status: false`. */
  conditions: z.array(Condition),
  progressDeadlineAt: z.number().nullable(),
  ...rolloutStory,
});
export type RolloutView = z.output<typeof RolloutView>;

/** A version on a host: its spec hash and the version it belongs to (null when none known has it). */
export const HostVersion = z.strictObject({ hash: z.string(), version: z.string().nullable() });

/** One workload on one host, as `status` reads it against the app's versions. */
export const WorkloadState = z.strictObject({
  id: z.string(),
  kind: z.enum(['component', 'provider']),
  status: z.string(),
  servingHash: z.string().nullable(),
  on: z.enum(['stable', 'target', 'other']),
  serving: HostVersion.nullable(),
  /** An apply in flight (not a standby). */
  target: HostVersion.nullable(),
  /** Blue-green: the new version validated and linked beside the serving one, waiting for promotion. */
  standby: HostVersion.nullable(),
  /** Blue-green: the version kept after a promotion for an instant revert, until `until`. */
  retained: HostVersion.extend({ until: z.number() }).nullable(),
  /** Serves the rollout's target (or stable, with no rollout) healthily for `minReadyMs`. */
  verified: z.boolean(),
  /** Serves it but not yet for `minReadyMs`: what is left (ms); null otherwise. */
  minReadyRemainingMs: z.number().min(0).nullable(),
});
export type WorkloadState = z.output<typeof WorkloadState>;

/** What `status(app)` reports: the app's phase, its latest rollout's story, scaler holders and each host. */
export const AppStatus = z.strictObject({
  app: z.string(),
  phase: z.enum(['upgrading', 'deployed', 'rolledBack', 'aborted', 'failed', 'unknown']),
  rolloutId: z.string().nullable(),
  state: z.string().nullable(),
  stableVersion: z.string().nullable(),
  targetVersion: z.string().nullable(),
  paused: z.boolean(),
  batch: z.number().int(),
  batches: z.number().int(),
  reason: z.string().nullable(),
  /** The rollout's conditions, and outages the orchestrator waits out (`StoreUnavailable`, `TransportUnavailable`). */
  conditions: z.array(Condition),
  scalerHolders: z.array(z.string()),
  ...rolloutStory,
  hosts: z.array(z.strictObject({ hostId: z.string(), workloads: z.array(WorkloadState) })),
});
export type AppStatus = z.output<typeof AppStatus>;

/** A promotion a person gave: when, and whether it skipped every remaining step. */
export const PromotionRecord = z.strictObject({ at: z.number(), full: z.boolean() });

/**
 * One rollout in an app's history, newest first (also its stored form, so the new fields are optional):
 * the outcome, the versions it went between, its analyses (dry runs with what they observed), the
 * promotions people gave, and the time it spent held or paused.
 */
export const HistoryEntry = z.strictObject({
  version: z.string(),
  rolloutId: z.string(),
  kind: RolloutKind,
  outcome: z.union([RolloutOutcome, z.literal('inProgress')]),
  reason: z.string().nullable(),
  /** When the entry was last written (its outcome's instant once final). */
  at: z.number(),
  stableVersion: z.string().nullable().optional(),
  strategy: StrategyType.optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().nullable().optional(),
  analyses: z.array(AnalysisRunView).optional(),
  promotions: z.array(PromotionRecord).max(100).optional(),
  /** Total time held or paused (ms), over `holds` holds. */
  heldMs: z.number().min(0).optional(),
  holds: z.number().int().min(0).optional(),
});
export type HistoryEntry = z.output<typeof HistoryEntry>;
