import type { PromiseActorLogic, PromiseSnapshot } from 'xstate';

/** What an effect receives besides its input: cancellation, set up only when the effect asks for it. */
export interface EffectScope {
  /** Aborted when the invoking state is left; created on first read. */
  readonly signal: AbortSignal;
  /** Runs `cleanup` when the invoking state is left before the effect settles. */
  onStop(cleanup: () => void): void;
  /** The actor system of the invoking machine: the same object for every effect one root actor invokes. */
  readonly system: object;
}

type Snapshot<TOutput, TInput> = PromiseSnapshot<TOutput, TInput>;
type Cleanups = Array<() => void>;

// The same events and snapshots as xstate's fromPromise, so the machine's `fromPromise` stubs accept it.
const RESOLVE = 'xstate.promise.resolve';
const REJECT = 'xstate.promise.reject';
const STOP = 'xstate.stop';

/**
 * Promise actor logic like xstate's `fromPromise`, minus the AbortController (and the DOMException of its
 * abort) every invocation pays for there: cut-over steps run while a gate is closed, where each µs counts.
 */
export function fromEffect<TOutput, TInput>(
  run: (input: TInput, scope: EffectScope) => Promise<TOutput>,
): PromiseActorLogic<TOutput, TInput> {
  const cleanups = new WeakMap<object, Cleanups>();
  const stopOf = (self: object) => {
    const list = cleanups.get(self);
    cleanups.delete(self);
    for (const cleanup of list ?? []) cleanup();
  };
  return {
    config: run,
    transition: (state: Snapshot<TOutput, TInput>, event, { self }) => {
      if (state.status !== 'active') return state;
      switch (event.type) {
        case RESOLVE:
          return { ...state, status: 'done', output: event.data as TOutput, input: undefined };
        case REJECT:
          return { ...state, status: 'error', error: event.data, input: undefined };
        case STOP:
          stopOf(self);
          return { ...state, status: 'stopped', input: undefined };
        default:
          return state;
      }
    },
    start: (state, { self, system }) => {
      if (state.status !== 'active') return;
      let controller: AbortController | undefined;
      const onStop = (cleanup: () => void) => {
        const list = cleanups.get(self);
        if (list === undefined) cleanups.set(self, [cleanup]);
        else list.push(cleanup);
      };
      const scope: EffectScope = {
        get signal() {
          if (controller === undefined) {
            const c = new AbortController();
            controller = c;
            onStop(() => c.abort());
          }
          return controller.signal;
        },
        onStop,
        system,
      };
      let promise: Promise<TOutput>;
      try {
        promise = run(state.input as TInput, scope);
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (data) => {
          if (self.getSnapshot().status !== 'active') return;
          cleanups.delete(self);
          self.send({ type: RESOLVE, data });
        },
        (data: unknown) => {
          if (self.getSnapshot().status !== 'active') return;
          cleanups.delete(self);
          self.send({ type: REJECT, data });
        },
      );
    },
    getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, input }),
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as Snapshot<TOutput, TInput>,
  };
}
