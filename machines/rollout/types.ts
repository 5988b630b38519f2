import type { Condition, RolloutKind, RolloutOutcome } from '../../src/protocol/rollout';
import type { Strategy } from '../../src/protocol/strategy';

export type {
  Condition,
  RolloutContext,
  RolloutInput,
  RolloutInputParam,
  RolloutKind,
  RolloutOutcome,
  RolloutOutput,
} from '../../src/protocol/rollout';

/** Commands and reports a rollout accepts. `at` is the orchestrator's clock when it was sent. */
export type RolloutEvent =
  | { type: 'rollout.pause'; at: number }
  | { type: 'rollout.resume'; at: number }
  | { type: 'rollout.promote'; full?: boolean; at: number }
  | { type: 'rollout.abort'; reason?: string; at: number }
  | { type: 'rollout.supersede'; by: string; at: number }
  | ProgressEvent;

/**
 * What verification and analysis tell a rollout while they run: `verified` hosts of the batch so far (a
 * count above the last one is progress), a measurement taken (`measured`, progress too), and the hosts not
 * yet verified (named when the progress deadline passes).
 */
export interface ProgressEvent {
  type: 'rollout.progress';
  at: number;
  verified?: number;
  measured?: boolean;
  unverified?: { hosts: string[]; count: number };
}

/** Every effect actor's output carries the clock time it finished at. */
export interface Stamp {
  at: number;
}

/**
 * What applying a batch tells the machine. `batches` is the new total when the batch began a step whose
 * hosts were re-planned against the current host set (a canary's percentages follow hosts that came or went).
 */
export interface BatchApplied extends Stamp {
  batches?: number;
}

/** What planning tells the machine: batch count and whether this is a first deploy. */
export interface PlanSummary extends Stamp {
  batches: number;
  firstDeploy: boolean;
}

/**
 * What follows a batch, when the strategy decides it per batch (canary steps); without it the machine
 * reads the rolling strategy's `pauseAfterBatch` and `analysis`.
 */
export interface BatchGate {
  pause: false | { durationMs?: number | undefined };
  analysis: boolean;
}

/** Outcome of verifying a batch (or a rollback), after which the machine moves on. */
export type VerifyResult =
  | { status: 'passed'; at: number; conditions?: Condition[]; cleared?: string[]; gate?: BatchGate }
  | { status: 'failed'; at: number; code: string; reason: string; conditions?: Condition[] };

/** Outcome of an analysis. `inconclusive` holds the rollout for a person. */
export type AnalysisResult =
  | { status: 'passed'; at: number; gate?: BatchGate }
  | { status: 'failed'; at: number; reason: string }
  | { status: 'inconclusive'; at: number; reason: string };

/** Input of every effect actor. */
export interface StepInput {
  rolloutId: string;
  app: string;
  targetVersion: string;
  stableVersion: string | null;
  strategy: Strategy;
  kind: RolloutKind;
}

/** Input of batch effects. */
export interface BatchInput extends StepInput {
  batch: number;
  firstDeploy: boolean;
  /** `full` once a person promoted fully: analyses still running end, cancelled. */
  promoted?: 'no' | 'step' | 'full';
}

/** Input of `finalizing` (resume scalers) and `completing`. */
export interface FinalInput extends StepInput {
  outcome: RolloutOutcome;
}

/** Input of the `deadline` actor: an absolute instant. */
export interface DeadlineInput {
  at: number;
}
