// What the rollout's effects are given, and the three helpers every effect shares: retrying a store call,
// stamping an output with the clock, and waiting for the abort that ends an effect with nothing to say.
// Owns no state and does no I/O of its own; it must not grow effect logic (that lives in the files beside
// it) nor import from them, so that every part of the effects can import it without a cycle.
import { instruments } from '../../observability/telemetry';
import type { ProgressEvent, Stamp } from '../../../machines/rollout/types';
import type { AnalysisProvider } from '../../ports/analysis';
import type { AnalysisProviderName } from '../../protocol/strategies';
import { isCutoverError } from '../../errors';
import { type Clock, waitUntil } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import type { AppRevision } from '../../protocol/spec';
import type { RolloutOutcome } from '../../protocol/rollout';
import type { Inflight } from '../inflight';
import type { LatticeClient } from '../latticeClient';
import type { Outages } from '../outages';
import { isUnavailable } from '../outages';
import { outageBackoff } from '../patientStore';
import type { Persister } from '../persister';
import type { ScalerHolds } from '../scalers';
import type { Notifier } from '../../observability/notifications';

/** What effects need from the orchestrator. */
export interface EffectContext {
  store: StateStore;
  client: LatticeClient;
  clock: Clock;
  scalers: ScalerHolds;
  pollMs: number;
  /** Where analyses get their figures, by provider name (built-ins, or the ones given to createOrchestrator). */
  analysisProviders: Readonly<Record<AnalysisProviderName, AnalysisProvider>>;
  /**
   * The fencing token a send to the app's hosts goes out under now: the app's lease, held with time left beyond
   * the safety margin on this orchestrator's clock. Waits while the lease is being renewed (e.g. through a store
   * outage); throws `lease.stale` once another orchestrator took it, and then nothing more may be sent.
   */
  sendToken(app: string, signal: AbortSignal): Promise<number>;
  /** Requests to hosts still in flight per app: a rollout that supersedes another plans only once they settled. */
  inflight: Inflight;
  /** Store and transport outages, marked while effects wait them out. */
  outages: Outages;
  loadRevision(app: string, version: string, pin: boolean): Promise<AppRevision>;
  recordHistory(
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ): Promise<void>;
  publish(rolloutId: string, value: unknown): void;
  /** Where phase changes, analysis verdicts and outcomes are told: the `notify` option, metrics and spans. */
  notifier?: Notifier | undefined;
}

/** What effects need from the one rollout they serve. */
export interface RunContext {
  supersedes: string | null;
  persister: Persister;
  /**
   * Makes the run's current snapshot durable (compare-and-set on its record): the state that intends an effect
   * is written before the effect is sent. Waits out a store outage; throws when this run lost its record (then
   * nothing may be sent) or `signal` aborts.
   */
  durable(signal: AbortSignal): Promise<void>;
  /** Tells the rollout a host was verified or a measurement taken (progress), and which hosts still wait. */
  progress?(event: Omit<ProgressEvent, 'type'>): void;
}

/** Never resolves; rejects with the abort reason when `signal` aborts (an effect with nothing more to say). */
export const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/**
 * Runs `fn` again after a jittered backoff while it fails with a retryable error: up to `attempts` more times,
 * except an unavailable store or transport, which is waited out for as long as it lasts (an outage never ends a
 * rollout by itself), until `signal` aborts.
 */
export async function withRetry<T>(fn: () => Promise<T>, clock: Clock, signal: AbortSignal, attempts = 8): Promise<T> {
  for (let i = 0, counted = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (signal.aborted || !(isCutoverError(e) && e.retryable)) throw e;
      if (!isUnavailable(e) && counted++ >= attempts) throw e;
      instruments().retries.add(1, { code: e.code });
      await waitUntil(clock, clock.now() + outageBackoff(i), signal);
    }
  }
}

/** An effect's output stamped with the clock's now. */
export const stamp = (clock: Clock): Stamp => ({ at: clock.now() });
