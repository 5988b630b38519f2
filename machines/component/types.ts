import type { ComponentSpec, ProviderSpec } from '../../src/protocol/spec';

/** What one component actor runs: a component instance or a capability provider instance. */
export type WorkloadKind = 'component' | 'provider';

/** A desired spec with its hash (the identity the host serves and reports). */
export interface Desired {
  readonly spec: ComponentSpec | ProviderSpec;
  readonly hash: string;
  /** Host clock time the apply arrived (deadlines count from here). */
  readonly at: number;
  /** Blue-green: stop in `standby` beside the serving instance until promoted or reverted. */
  readonly standby?: boolean;
}

/** Work queued behind an apply that cannot be interrupted (links being put, cut-over). */
export type Queued = ({ readonly kind: 'apply' } & Desired) | { readonly kind: 'delete'; readonly at: number };

/** The outcome of the last finished apply, as the inventory reports it. */
export interface ApplyOutcome {
  readonly hash: string;
  readonly outcome: 'applied' | 'failed' | 'superseded';
  readonly code?: string;
  readonly reason?: string;
}

/** Input of the component machine. */
export interface ComponentMachineInput {
  readonly id: string;
  readonly kind?: WorkloadKind;
  /** Longest a fetch may take, counted from the apply's arrival. */
  readonly fetchTimeoutMs?: number;
  /** Longest the gate waits for in-flight calls before cut-over proceeds anyway. */
  readonly drainTimeoutMs?: number;
}

export interface ComponentContext {
  readonly id: string;
  readonly kind: WorkloadKind;
  readonly fetchTimeoutMs: number;
  readonly drainTimeoutMs: number;
  serving: Desired | undefined;
  target: Desired | undefined;
  next: Queued | undefined;
  /** Absolute instant the current pause must end by. */
  pauseDeadline: number;
  swapsTotal: number;
  swapsDone: number;
  failure: { code: string; reason: string } | undefined;
  lastApply: ApplyOutcome | undefined;
  /** The last disposal of old instances that failed (they may still hold memory); it changes no outcome. */
  disposeFailure: { code: string; reason: string } | undefined;
  /** The previous version kept (instance and spec) after a promote, for an instant revert. */
  retained: Desired | undefined;
  /** Absolute instant the retained version is disposed at. */
  retainUntil: number;
  /** The cut-over in flight is a promote from standby (ends in `retained`). */
  promoted: boolean;
}

/** Events the component machine accepts (effect outcomes arrive as xstate.done/error.actor.* events). */
export type ComponentEvent =
  | { type: 'component.apply'; spec: ComponentSpec | ProviderSpec; hash: string; at: number; standby?: boolean }
  | { type: 'component.delete'; at: number }
  | { type: 'component.promote'; at: number; keepOldForMs: number }
  | { type: 'component.revert'; at: number };

/** Events the machine emits; a host turns them into reports. */
export type ComponentEmitted =
  | { type: 'component.applied'; hash: string }
  | { type: 'component.failed'; hash: string; code: string; reason: string };

/** Inputs of the effect actors a host provides. */
export interface EffectInput {
  readonly id: string;
  readonly kind: WorkloadKind;
  readonly target: Desired | undefined;
  readonly serving: Desired | undefined;
}
export interface SwapInput extends EffectInput {
  /** First swap of the plan to do; one invocation does it and every later one, in the plan's order. */
  readonly index: number;
}
export interface RestoreInput extends EffectInput {
  /** Swaps the machine saw finish (all or none): a failed swap effect tells its host how far it got. */
  readonly swapped: number;
}
export interface DisposeInput {
  readonly id: string;
  readonly kind: WorkloadKind;
  /** Hash of the instance to keep; every other instance of this component is disposed. */
  readonly keep: string | undefined;
}
/** Output of linking: when the new links were in place (the drain deadline counts from here) and how many
 * existing links the cut-over must swap. */
export interface LinkedOutput {
  readonly at: number;
  readonly swaps: number;
}
/** Input of a `deadline` actor: an absolute instant of the host clock. */
export interface DeadlineInput {
  readonly at: number;
}
