import type { AnyMachineSnapshot, AnyStateMachine, EventFromLogic, SnapshotFrom } from 'xstate';
import { CutoverError } from '../errors';
import type { PathStep, SelectedPath } from './selectPaths';

/** How a replay drives a real system through a selected path. */
export interface ReplayDriver<TMachine extends AnyStateMachine> {
  /**
   * Subscribes to every snapshot of the actor under test, synchronously (e.g. from an `inspect` hook),
   * so events meant for a passing state are sent while the actor is still in it.
   */
  observe(listener: (snapshot: SnapshotFrom<TMachine>) => void): () => void;
  /**
   * Makes step `index` happen: sends external events, and arranges effect outcomes through the real
   * environment (fault injection, clock moves). Called when the previous step's state is reached.
   */
  perform(event: EventFromLogic<TMachine>, index: number, steps: readonly PathStep<TMachine>[]): void;
  /** Invariants, checked after every step; throw to fail the replay. */
  check?(snapshot: SnapshotFrom<TMachine>, step: PathStep<TMachine>, index: number): void;
}

/** Options of {@link replayPath}. */
export interface ReplayOptions<TMachine extends AnyStateMachine> {
  /** Same projection as path selection used (state value is always compared). */
  serialize?: (snapshot: SnapshotFrom<TMachine>) => unknown;
  /** Real time allowed between two steps before the replay fails (default 2000 ms). */
  stepTimeoutMs?: number;
}

const keyOf = <TMachine extends AnyStateMachine>(
  s: SnapshotFrom<TMachine>,
  serialize?: (s: SnapshotFrom<TMachine>) => unknown,
) => JSON.stringify({ value: (s as AnyMachineSnapshot).value, guards: serialize?.(s) ?? null });

/**
 * Replays a selected path (prefix first) against a real system through `driver`; resolves once every
 * step's state was reached in order, rejects on a failed invariant or when a step does not arrive in time.
 * @example
 * await replayPath(path, driver, { serialize: componentGuardState })
 */
export function replayPath<TMachine extends AnyStateMachine>(
  path: SelectedPath<TMachine>,
  driver: ReplayDriver<TMachine>,
  options: ReplayOptions<TMachine> = {},
): Promise<{ steps: number }> {
  const steps = [...path.prefix, ...path.steps];
  const timeoutMs = options.stepTimeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    let index = 0;
    let last = '(nothing observed)';
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      if (error === undefined) resolve({ steps: steps.length });
      else reject(error);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const step = steps[index];
        finish(
          new CutoverError(
            'timeout',
            `path "${path.id}" stalled at step ${index + 1}/${steps.length} (${step?.event.type ?? '?'}): expected ${step === undefined ? '?' : keyOf(step.state, options.serialize)}, last saw ${last}`,
          ),
        );
      }, timeoutMs);
    };
    const run = (i: number) => {
      const step = steps[i];
      if (step === undefined) return;
      try {
        driver.perform(step.event, i, steps);
      } catch (error) {
        finish(error);
      }
    };
    const unsubscribe = driver.observe((snapshot) => {
      if (done) return;
      last = keyOf(snapshot, options.serialize);
      const step = steps[index];
      if (step === undefined || last !== keyOf(step.state, options.serialize)) return;
      try {
        driver.check?.(snapshot, step, index);
      } catch (error) {
        finish(error);
        return;
      }
      index++;
      if (index >= steps.length) {
        finish();
        return;
      }
      arm();
      run(index);
    });
    arm();
    run(0);
  });
}
