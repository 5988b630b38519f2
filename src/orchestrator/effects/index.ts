// The effects of a rollout, supplied to the machine with provide(). Every effect is idempotent and
// level-triggered from host inventories, so a rollout restored after a crash simply runs them again. Where
// each lives: planning/ (which hosts go in which batch, per strategy, and the re-plans), batches.ts (the
// per-batch records), send.ts (decide → persist → send: applyBatch and every control message to a host),
// verify.ts (verifyBatch, verifyRollback), analysis.ts (analyses), lifecycle.ts (scalers, app record,
// complete, rollback, deadline), context.ts (what effects are given). This file only wires them to the
// machine's actor names; it must hold no effect logic of its own.
import { fromPromise } from 'xstate';
import type {
  AnalysisResult,
  BatchApplied,
  BatchInput,
  DeadlineInput,
  FinalInput,
  PlanSummary,
  Stamp,
  StepInput,
  VerifyResult,
} from '../../../machines/rollout/types';
import { analyze, backgroundAnalysis } from './analysis';
import type { EffectContext, RunContext } from './context';
import { complete, deadline, markUpgrading, resumeScalers, rollback, suspendScalers } from './lifecycle';
import { planRollout } from './planning';
import { applyBatch } from './send';
import { verifyBatch, verifyRollback } from './verify';

export type { EffectContext, RunContext } from './context';

/** The effects of one rollout as plain async functions (input, abort signal) → output. */
export function rolloutEffectFunctions(o: EffectContext, run: RunContext) {
  return {
    suspendScalers: (input: StepInput, signal: AbortSignal): Promise<Stamp> => suspendScalers(o, run, input, signal),
    markUpgrading: (input: StepInput, signal: AbortSignal): Promise<Stamp> => markUpgrading(o, input, signal),
    planRollout: (input: StepInput, signal: AbortSignal): Promise<PlanSummary> => planRollout(o, input, signal),
    applyBatch: (input: BatchInput, signal: AbortSignal): Promise<BatchApplied> => applyBatch(o, run, input, signal),
    verifyBatch: (input: BatchInput, signal: AbortSignal): Promise<VerifyResult> => verifyBatch(o, run, input, signal),
    analyze: (input: BatchInput, signal: AbortSignal): Promise<AnalysisResult> => analyze(o, input, signal, run),
    backgroundAnalysis: (input: BatchInput, signal: AbortSignal): Promise<AnalysisResult> =>
      backgroundAnalysis(o, input, signal),
    complete: (input: FinalInput, signal: AbortSignal): Promise<Stamp> => complete(o, run, input, signal),
    rollback: (input: StepInput, signal: AbortSignal): Promise<Stamp> => rollback(o, run, input, signal),
    verifyRollback: (input: StepInput, signal: AbortSignal): Promise<VerifyResult> =>
      verifyRollback(o, run, input, signal),
    resumeScalers: (input: FinalInput, signal: AbortSignal): Promise<Stamp> => resumeScalers(o, input, signal),
    deadline: (input: DeadlineInput, signal: AbortSignal): Promise<Stamp> => deadline(o, input, signal),
  };
}

/** The actor implementations for one rollout, for `rolloutMachine.provide({ actors })`. */
export function rolloutEffects(o: EffectContext, run: RunContext) {
  const f = rolloutEffectFunctions(o, run);
  return {
    suspendScalers: fromPromise<Stamp, StepInput>(({ input, signal }) => f.suspendScalers(input, signal)),
    markUpgrading: fromPromise<Stamp, StepInput>(({ input, signal }) => f.markUpgrading(input, signal)),
    planRollout: fromPromise<PlanSummary, StepInput>(({ input, signal }) => f.planRollout(input, signal)),
    applyBatch: fromPromise<BatchApplied, BatchInput>(({ input, signal }) => f.applyBatch(input, signal)),
    verifyBatch: fromPromise<VerifyResult, BatchInput>(({ input, signal }) => f.verifyBatch(input, signal)),
    analyze: fromPromise<AnalysisResult, BatchInput>(({ input, signal }) => f.analyze(input, signal)),
    backgroundAnalysis: fromPromise<AnalysisResult, BatchInput>(({ input, signal }) =>
      f.backgroundAnalysis(input, signal),
    ),
    complete: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.complete(input, signal)),
    rollback: fromPromise<Stamp, StepInput>(({ input, signal }) => f.rollback(input, signal)),
    verifyRollback: fromPromise<VerifyResult, StepInput>(({ input, signal }) => f.verifyRollback(input, signal)),
    resumeScalers: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.resumeScalers(input, signal)),
    deadline: fromPromise<Stamp, DeadlineInput>(({ input, signal }) => f.deadline(input, signal)),
  };
}
