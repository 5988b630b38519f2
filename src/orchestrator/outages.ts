/**
 * Outages: whether the store or the transport is unavailable right now, since when, and when it last came
 * back, as timestamped conditions (`StoreUnavailable`, `TransportUnavailable`) every view of a rollout this
 * orchestrator drives carries. The parts that wait an outage out (the patient store, the lattice client, the
 * lease renewal) mark and clear it here; nothing here waits, retries or decides. It must not touch runs,
 * records or hosts.
 */
import { toCutoverError } from '../errors';
import type { Clock } from '../ports/clock';

/** Which dependency is out. */
export type OutageKind = 'store' | 'transport';

/** A condition record of an outage, shaped like the rollout's conditions. */
export interface OutageCondition {
  type: 'StoreUnavailable' | 'TransportUnavailable';
  /** True while it lasts; false once it cleared (then `since` is when it cleared). */
  status: boolean;
  reason: string;
  message: string;
  since: number;
}

const TYPE = { store: 'StoreUnavailable', transport: 'TransportUnavailable' } as const;

/** The outages one orchestrator sees, shared by its runs. */
export class Outages {
  private readonly current = new Map<OutageKind, OutageCondition>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /** `kind` failed with `error`: an outage begins (or goes on; its start is kept). */
  mark(kind: OutageKind, error: unknown): void {
    const now = this.current.get(kind);
    if (now?.status === true) return;
    const e = toCutoverError(error);
    this.current.set(kind, {
      type: TYPE[kind],
      status: true,
      reason: e.code,
      message: `waiting for the ${kind === 'store' ? 'store' : 'NATS connection'}: ${e.message}`,
      since: this.clock.now(),
    });
    this.changed();
  }

  /** `kind` answered again: an outage in progress ends (kept with status false and the time it ended). */
  clear(kind: OutageKind): void {
    const now = this.current.get(kind);
    if (now?.status !== true) return;
    const lasted = this.clock.now() - now.since;
    this.current.set(kind, {
      ...now,
      status: false,
      message: `the ${kind === 'store' ? 'store' : 'NATS connection'} is back after ${lasted} ms`,
      since: this.clock.now(),
    });
    this.changed();
  }

  /** True while `kind` is out. */
  active(kind: OutageKind): boolean {
    return this.current.get(kind)?.status === true;
  }

  /** Every outage seen (ongoing, or the last one that cleared), oldest kind first. */
  conditions(): OutageCondition[] {
    return [...this.current.values()];
  }

  /** Called on every begin and end of an outage; returns an unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

/** True for the errors that mean "not reachable right now", which a rollout waits out instead of failing on. */
export function isUnavailable(error: unknown): boolean {
  const e = toCutoverError(error);
  // A closed store or connection (retryable false) is final, not an outage.
  return (
    e.retryable &&
    (e.code === 'store.unavailable' || e.code === 'transport.unavailable' || e.code === 'transport.closed')
  );
}
