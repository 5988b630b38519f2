// Driving a lattice on simulated time: step the clock until a promise settles or a condition holds.
import { type SimulatedClock, settle } from './simulatedClock';

/** Options of {@link drive} and {@link until}. */
export interface DriveOptions {
  /** Simulated ms per step (default 500 for `drive`, 100 for `until`). */
  stepMs?: number;
  /** Gives up with an error after this many steps (default 2000). */
  maxSteps?: number;
}

/**
 * One step: promises and bus deliveries settle, then one real timer turn (the few parts that back off on real
 * time, such as an orchestrator's store retries, get to run), then the clock moves `stepMs` timer by timer.
 */
async function step(clock: SimulatedClock, stepMs: number): Promise<void> {
  await settle();
  await new Promise<void>((r) => setTimeout(r, 1));
  await clock.advance(stepMs);
}

/**
 * Advances `clock` in steps until `done` settles, and returns its value (or throws its error). Throws when
 * it has not settled after `maxSteps` steps.
 * @example
 * const out = await drive(lattice.clock, (await orchestrator.deploy(v2)).done);
 */
export async function drive<T>(clock: SimulatedClock, done: Promise<T>, options: DriveOptions = {}): Promise<T> {
  const stepMs = options.stepMs ?? 500;
  const maxSteps = options.maxSteps ?? 2000;
  let outcome = undefined as { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  done.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (error: unknown) => {
      outcome = { ok: false, error };
    },
  );
  for (let i = 0; i < maxSteps && outcome === undefined; i++) {
    await settle();
    if (outcome === undefined) await step(clock, stepMs);
  }
  await settle();
  if (outcome === undefined) throw new Error(`did not settle within ${maxSteps} steps of ${stepMs} simulated ms`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/**
 * Advances `clock` in steps until `holds()` is true. Throws when it is still false after `maxSteps` steps.
 * @example
 * await until(lattice.clock, () => handle.snapshot().state === 'progressing.stepPause');
 */
export async function until(clock: SimulatedClock, holds: () => boolean, options: DriveOptions = {}): Promise<void> {
  const stepMs = options.stepMs ?? 100;
  const maxSteps = options.maxSteps ?? 2000;
  for (let i = 0; i < maxSteps; i++) {
    if (holds()) return;
    await settle();
    if (holds()) return;
    await step(clock, stepMs);
  }
  if (!holds()) throw new Error(`condition still false after ${maxSteps} steps of ${stepMs} simulated ms`);
}
