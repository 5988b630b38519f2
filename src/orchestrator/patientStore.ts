/**
 * The store as a rollout's effects see it: every call that fails because the store is unavailable is retried
 * with jittered, bounded backoff on the orchestrator's clock until it answers or the run stops, and the outage
 * is marked (a `StoreUnavailable` condition) while it lasts. So an outage makes a rollout wait in every phase
 * instead of ending it. Every other error passes through unchanged. It must not add behaviour to the store
 * (no caching, no reordering) and must not outlive its run (the run's signal ends every wait).
 */
import { type Clock, waitUntil } from '../ports/clock';
import type { StateStore } from '../ports/store';
import { type Outages, isUnavailable } from './outages';

/** Backoff before retry `attempt` (0-based): 50 ms doubling to 5 s, half of it jitter. */
export function outageBackoff(attempt: number): number {
  const base = Math.min(50 * 2 ** Math.min(attempt, 10), 5_000);
  return base / 2 + Math.random() * (base / 2);
}

/** Runs `fn` until it answers, waiting out unavailability (marked in `outages`) until `signal` aborts. */
export async function untilAvailable<T>(
  fn: () => Promise<T>,
  o: { clock: Clock; outages: Outages; kind: 'store' | 'transport'; signal: AbortSignal },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      const value = await fn();
      o.outages.clear(o.kind);
      return value;
    } catch (e) {
      if (!isUnavailable(e) || o.signal.aborted) throw e;
      o.outages.mark(o.kind, e);
      await waitUntil(o.clock, o.clock.now() + outageBackoff(attempt), o.signal);
      if (o.signal.aborted) throw e;
    }
  }
}

/** `store` with every call waiting out unavailability until `signal` aborts. */
export function patientStore(store: StateStore, clock: Clock, outages: Outages, signal: AbortSignal): StateStore {
  const o = { clock, outages, kind: 'store' as const, signal };
  return {
    get: (bucket, key) => untilAvailable(() => store.get(bucket, key), o),
    put: (bucket, key, value, options) => untilAvailable(() => store.put(bucket, key, value, options), o),
    delete: (bucket, key, options) => untilAvailable(() => store.delete(bucket, key, options), o),
    keys: (bucket, prefix) => untilAvailable(() => store.keys(bucket, prefix), o),
    watch: (bucket, options) => store.watch(bucket, options),
    close: () => store.close(),
  };
}
