// Fault wrappers a test puts between a part and what uses it, for faults a real part cannot produce on demand
// in one process: a store path that goes down for one orchestrator while others keep theirs, a slow host
// connection. Each fault is switched through a FaultHandle; the lattice's per-host faults live in
// faultyRuntime.ts.
import { CutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { Transport } from '../ports/transport';

/** A fault that is on until cleared. `using` clears it at the end of a block. */
export interface FaultHandle extends Disposable {
  /** What the fault does, for messages: `validation fails on "h2"`. */
  readonly description: string;
  /** True until {@link FaultHandle.clear}. */
  readonly active: boolean;
  /** Ends the fault (a lost host returns, a store comes back); idempotent. */
  clear(): void;
}

/** A fault handle over an `active` flag; `onClear` runs once, on the first clear. */
export function faultHandle(description: string, onClear: () => void = () => undefined): FaultHandle {
  let active = true;
  const clear = () => {
    if (!active) return;
    active = false;
    onClear();
  };
  return {
    description,
    get active() {
      return active;
    },
    clear,
    [Symbol.dispose]: clear,
  };
}

/** A store one orchestrator reaches through, that a test can take down and bring back. */
export interface SwitchableStore {
  readonly store: StateStore;
  readonly isDown: boolean;
  /** Every call but `watch` fails with retryable `store.unavailable` until {@link SwitchableStore.up}. */
  down(): void;
  up(): void;
}

/**
 * Wraps `store` so that a test can cut this one path to it (closing the wrapper leaves `inner` open).
 * @example
 * const path = switchableStore(lattice.store); path.down(); // ...; path.up();
 */
export function switchableStore(inner: StateStore): SwitchableStore {
  let down = false;
  const check = () => {
    if (down) throw new CutoverError('store.unavailable', 'store connection is down (test fault)');
  };
  const store: StateStore = {
    get: async (bucket, key) => {
      check();
      return inner.get(bucket, key);
    },
    put: async (bucket, key, value, options) => {
      check();
      return inner.put(bucket, key, value, options);
    },
    delete: async (bucket, key, options) => {
      check();
      return inner.delete(bucket, key, options);
    },
    keys: async (bucket, prefix) => {
      check();
      return inner.keys(bucket, prefix);
    },
    watch: (bucket, options) => inner.watch(bucket, options),
    close: async () => undefined,
  };
  return {
    store,
    get isDown() {
      return down;
    },
    down: () => {
      down = true;
    },
    up: () => {
      down = false;
    },
  };
}

/**
 * A host connection whose incoming messages are handled `ms` late on `clock` (a slow or far host): what it
 * receives waits before its handler runs, and so does its answer.
 * @example
 * createTestLattice({ hosts: 3, hostTransport: (id, t, clock) => (id === 'h2' ? slowTransport(t, clock, 100) : t) })
 */
export function slowTransport(inner: Transport, clock: Clock, ms: number): Transport {
  return {
    publish: (subject, data) => inner.publish(subject, data),
    subscribe: (subject, handler, options) =>
      inner.subscribe(
        subject,
        (msg) =>
          new Promise<Uint8Array | undefined>((resolve, reject) => {
            clock.setTimeout(() => {
              try {
                Promise.resolve(handler(msg)).then((out) => resolve(out ?? undefined), reject);
              } catch (e) {
                reject(e);
              }
            }, ms);
          }),
        options,
      ),
    request: (subject, data, options) => inner.request(subject, data, options),
    requestMany: (subject, data, options) => inner.requestMany(subject, data, options),
    flush: () => inner.flush(),
    close: () => inner.close(),
    get closed() {
      return inner.closed;
    },
  };
}
