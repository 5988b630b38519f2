export { componentMachine } from './componentMachine';
export type { ComponentMachine } from './componentMachine';
export type {
  ApplyOutcome,
  ComponentContext,
  ComponentEmitted,
  ComponentEvent,
  ComponentMachineInput,
  DeadlineInput,
  Desired,
  DisposeInput,
  EffectInput,
  LinkedOutput,
  Queued,
  RestoreInput,
  SwapInput,
  WorkloadKind,
} from './types';
