/**
 * The component machine as a host runs it: the table of effects one kind of workload provides (`Effects`),
 * the machine provided once per process with effects that look their slot and table up by actor system, and
 * `bindSlot`, which registers a new slot's actor there. Also the `deadline` effect both kinds share. It must not
 * hold any per-host state beyond that registry, nor know what a component or provider effect does
 * (`component.ts`, `provider.ts`).
 */
import { componentMachine } from '../../../machines/component/componentMachine';
import type {
  DeadlineInput,
  DisposeInput,
  EffectInput,
  LinkedOutput,
  RestoreInput,
  SwapInput,
} from '../../../machines/component/types';
import { CutoverError } from '../../errors';
import type { Clock } from '../../ports/clock';
import { type EffectScope, fromEffect } from '../fromEffect';
import type { Slot } from '../slots';

/** One effect of the component machine, run for `slot`. */
export type Effect<TInput, TOutput = void> = (slot: Slot, input: TInput, scope: EffectScope) => Promise<TOutput>;

/** What one kind of workload does in each effect of the component machine, written once per host. */
export interface Effects {
  admit: Effect<EffectInput>;
  fetch: Effect<EffectInput>;
  validate: Effect<EffectInput>;
  putLinks: Effect<EffectInput, LinkedOutput>;
  pauseGate: Effect<EffectInput>;
  swapLink: Effect<SwapInput>;
  instantiate: Effect<EffectInput>;
  resumeGate: Effect<EffectInput>;
  restoreLinks: Effect<RestoreInput>;
  disposeInstance: Effect<DisposeInput>;
  stop: Effect<EffectInput>;
  deadline: Effect<DeadlineInput>;
}

// Every component actor is a root actor with its own system, which its invoked effects share: keyed by it, the
// machine is provided once per process instead of once per slot (a provided machine costs ~43 KB and ~1 ms).
const bindings = new WeakMap<object, { readonly slot: Slot; readonly effects: Effects }>();
const probes = new WeakMap<object, EffectProbe>();
const bound = <TInput, TOutput>(name: keyof Effects, pick: (effects: Effects) => Effect<TInput, TOutput>) =>
  fromEffect<TOutput, TInput>((input, scope) => {
    const binding = bindings.get(scope.system);
    if (binding === undefined) throw new CutoverError('invoke.failed', 'effect ran outside a host');
    probes.get(scope.system)?.(name, input);
    return pick(binding.effects)(binding.slot, input, scope);
  });

/**
 * Sees each effect of one actor just before it runs; throwing fails that effect as if the effect had thrown.
 * Tests inject with it the faults no real part can produce on demand (a gate that will not pause, a timer).
 */
export type EffectProbe = (name: keyof Effects, input: unknown) => void;

/** The component machine with every effect bound to the slot of the actor that invokes it. */
export const hostedMachine = componentMachine.provide({
  actors: {
    admit: bound('admit', (e) => e.admit),
    fetch: bound('fetch', (e) => e.fetch),
    validate: bound('validate', (e) => e.validate),
    putLinks: bound('putLinks', (e) => e.putLinks),
    pauseGate: bound('pauseGate', (e) => e.pauseGate),
    swapLink: bound('swapLink', (e) => e.swapLink),
    instantiate: bound('instantiate', (e) => e.instantiate),
    resumeGate: bound('resumeGate', (e) => e.resumeGate),
    restoreLinks: bound('restoreLinks', (e) => e.restoreLinks),
    disposeInstance: bound('disposeInstance', (e) => e.disposeInstance),
    stop: bound('stop', (e) => e.stop),
    deadline: bound('deadline', (e) => e.deadline),
  },
});

/** Makes the effects invoked in an actor's `system` run for `slot` with `effects` (call before it starts). */
export function bindSlot(system: object, slot: Slot, effects: Effects): void {
  bindings.set(system, { slot, effects });
}

/** Puts `probe` in front of every effect the actor of `system` runs (see {@link EffectProbe}). */
export function probeEffects(system: object, probe: EffectProbe): void {
  probes.set(system, probe);
}

/** The `deadline` effect: resolves at `input.at` on `clock`. */
export function deadlineEffect(clock: Clock): Effect<DeadlineInput> {
  // A deadline clears its timer when its state is left (no AbortController: pausing starts one per cut-over).
  return (_slot, input, { onStop }) =>
    new Promise<void>((resolve) => {
      const handle = clock.setTimeout(resolve, Math.max(0, input.at - clock.now()));
      onStop(() => clock.clearTimeout(handle));
    });
}
