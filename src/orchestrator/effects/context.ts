// What the rollout's effects are given, and the three helpers every effect shares: retrying a store call,
// stamping an output with the clock, and waiting for the abort that ends an effect with nothing to say.
// Owns no state and does no I/O of its own; it must not grow effect logic (that lives in the files beside
// it) nor import from them, so that every part of the effects can import it without a cycle.
import type { Stamp } from '../../../machines/rollout/types';
import { isCutoverError } from '../../errors';
import { type Clock, waitUntil } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import type { AppRevision } from '../../protocol/spec';
import type { RolloutOutcome } from '../../protocol/rollout';
import type { LatticeClient } from '../latticeClient';
import type { Persister } from '../persister';
import type { ScalerHolds } from '../scalers';

/** What effects need from the orchestrator. */
export interface EffectContext {
  store: StateStore;
  client: LatticeClient;
  clock: Clock;
  scalers: ScalerHolds;
  pollMs: number;
  leaseToken(app: string): Promise<number>;
  loadRevision(app: string, version: string, pin: boolean): Promise<AppRevision>;
  recordHistory(
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ): Promise<void>;
  publish(rolloutId: string, value: unknown): void;
}

/** What effects need from the one rollout they serve. */
export interface RunContext {
  supersedes: string | null;
  persister: Persister;
}

/** Never resolves; rejects with the abort reason when `signal` aborts (an effect with nothing more to say). */
export const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/** Runs `fn` again after a backoff while it fails with a retryable error, up to `attempts` more times. */
export async function withRetry<T>(fn: () => Promise<T>, clock: Clock, signal: AbortSignal, attempts = 8): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || signal.aborted || !(isCutoverError(e) && e.retryable)) throw e;
      await waitUntil(clock, clock.now() + Math.min(50 * 2 ** i, 5_000), signal);
    }
  }
}

/** An effect's output stamped with the clock's now. */
export const stamp = (clock: Clock): Stamp => ({ at: clock.now() });
