export { rolloutMachine } from './rolloutMachine';
export { rolloutOutput } from './rolloutOutput';
export type { RolloutMachine } from './rolloutMachine';
export {
  combine,
  errorRate,
  needsApply,
  orderHosts,
  place,
  planBatches,
  removedVerdict,
  resolveAmount,
  splitByWeight,
  verdict,
  workloadKey,
} from './plan';
export type {
  CurrentPlacement,
  GateRule,
  HostDiff,
  HostInfo,
  HostWorkloads,
  Placement,
  Verdict,
  WorkloadKind,
  WorkloadRef,
} from './plan';
export type {
  AnalysisResult,
  BatchApplied,
  BatchGate,
  BatchInput,
  DeadlineInput,
  FinalInput,
  PlanSummary,
  RolloutContext,
  RolloutEvent,
  RolloutInput,
  RolloutInputParam,
  RolloutKind,
  RolloutOutcome,
  RolloutOutput,
  Stamp,
  StepInput,
  VerifyResult,
} from './types';
