import { CutoverError } from '../errors';
import type { GateCounters, GateStats } from '../protocol/inventory';
import { instruments } from '../observability/telemetry';
import { Histogram, WindowedHistogram } from './histogram';

/** Something the gate dispatches to: a serving instance and the spec hash it serves. */
export interface GateTarget {
  readonly hash: string;
  invoke(operation: string, payload: Uint8Array): Promise<Uint8Array>;
}

/** Options of {@link Gate}. */
export interface GateOptions {
  componentId: string;
  /** Most invocations held at once (in flight plus buffered); beyond it callers get `gate.overflow`. */
  capacity?: number;
  /** Monotonic milliseconds for latency and pause figures (default `performance.now`). */
  now?: () => number;
  /**
   * Span (ms) of the per-version latency figures the gate reports (p50, p99, max): analysis judges recent
   * calls, not the whole life of the host. Default 60,000.
   */
  latencyWindowMs?: number;
}

/**
 * Totals of the calls through the gate over its life; `accepted = answered + errors + inFlight + buffered` always
 * holds. Preview calls ({@link Gate.track}) are counted per hash only.
 */
export interface GateTotals {
  accepted: number;
  answered: number;
  errors: number;
  refused: number;
  inFlight: number;
  buffered: number;
}

/** Versions whose counters a gate keeps (the serving one always among them). */
const MAX_HASHES = 8;

interface Entry {
  readonly operation: string;
  readonly payload: Uint8Array;
  readonly acceptedAt: number;
  readonly resolve: (value: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

interface HashCounters {
  /** Calls of this version in flight (kept here, not in a map of its own: the counters of old versions go). */
  inFlight: number;
  accepted: number;
  answered: number;
  errors: number;
  latency: WindowedHistogram;
}

/**
 * The invocation gate of one component: dispatches to the serving instance, and while paused keeps
 * accepting into a bounded buffer that drains in arrival order on resume. Every accepted call gets
 * exactly one answer; a call that cannot be accepted is refused with a coded error, never dropped.
 */
export class Gate {
  readonly componentId: string;
  readonly capacity: number;
  private readonly now: () => number;
  private readonly latencyWindowMs: number;
  private target: GateTarget | undefined;
  private holds = 0;
  private closed: CutoverError | undefined;
  private pausedAt = 0;
  private longestPause = 0;
  private readonly buffer: Entry[] = [];
  private readonly idleWaiters: Array<{ hash: string | undefined; resolve: () => void }> = [];
  private readonly byHash = new Map<string, HashCounters>();
  private readonly totalsValue: GateTotals = {
    accepted: 0,
    answered: 0,
    errors: 0,
    refused: 0,
    inFlight: 0,
    buffered: 0,
  };
  /** Length of every pause (ms), for benchmarks and inventories. */
  readonly pauses = new Histogram();
  /** Extra wait of calls that arrived while paused (ms from arrival to dispatch). */
  readonly bufferedWait = new Histogram();

  constructor(options: GateOptions) {
    this.componentId = options.componentId;
    this.capacity = options.capacity ?? 1024;
    this.now = options.now ?? (() => performance.now());
    this.latencyWindowMs = options.latencyWindowMs ?? 60_000;
  }

  /** True when calls are dispatched at once. */
  get open(): boolean {
    return this.holds === 0 && this.closed === undefined && this.target !== undefined;
  }

  get servingHash(): string | undefined {
    return this.target?.hash;
  }

  /** Accepts a call (or refuses it with `gate.overflow` / `invoke.notFound` / `gate.closed`). */
  invoke(operation: string, payload: Uint8Array): Promise<Uint8Array> {
    const t = this.totalsValue;
    if (this.closed !== undefined) {
      t.refused++;
      return Promise.reject(this.closed);
    }
    if (this.target === undefined && this.holds === 0) {
      t.refused++;
      return Promise.reject(
        new CutoverError('invoke.notFound', `component "${this.componentId}" is not serving`, {
          componentId: this.componentId,
        }),
      );
    }
    if (t.inFlight + t.buffered >= this.capacity) {
      t.refused++;
      return Promise.reject(
        new CutoverError('gate.overflow', `gate of "${this.componentId}" is full (${this.capacity} calls held)`, {
          componentId: this.componentId,
        }),
      );
    }
    t.accepted++;
    const target = this.target;
    // The common case (open gate) chains onto the instance's promise: no entry, executor or extra promise per
    // call, which keeps the garbage (and so the scavenges that may land in a pause) down under load.
    if (target !== undefined && this.holds === 0 && this.closed === undefined)
      return this.call(target, operation, payload, this.now());
    return new Promise<Uint8Array>((resolve, reject) => {
      t.buffered++;
      this.buffer.push({ operation, payload, acceptedAt: this.now(), resolve, reject });
    });
  }

  /** Points the gate at a new serving instance; dispatch only happens while no one holds a pause. */
  setTarget(target: GateTarget | undefined): void {
    this.target = target;
    if (target !== undefined) this.counters(target.hash);
    this.flush();
  }

  /** Stops dispatching (calls keep being accepted into the buffer); resolves once nothing is in flight. */
  pause(): Promise<void> {
    if (this.holds === 0) this.pausedAt = this.now();
    this.holds++;
    return this.idle();
  }

  /** Releases one pause; the last release dispatches the buffer in arrival order. */
  resume(): void {
    if (this.holds === 0) return;
    this.holds--;
    if (this.holds === 0) {
      const length = this.now() - this.pausedAt;
      this.pauses.record(length);
      instruments().gatePauseDuration.record(length / 1000, { component: this.componentId });
      if (length > this.longestPause) this.longestPause = length;
    }
    this.flush();
  }

  /** True while some cut-over holds the gate paused. */
  get paused(): boolean {
    return this.holds > 0;
  }

  /** Resolves when no call is in flight (on `hash` only, when given). */
  idle(hash?: string): Promise<void> {
    const busy = hash === undefined ? this.totalsValue.inFlight : (this.byHash.get(hash)?.inFlight ?? 0);
    if (busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push({ hash, resolve }));
  }

  /**
   * Refuses new calls from now on with `reason`; buffered calls are dispatched if an instance serves,
   * otherwise answered with the reason. Resolves when nothing is in flight.
   */
  close(reason: CutoverError): Promise<void> {
    this.closed ??= reason;
    this.holds = 0;
    if (this.target !== undefined) this.drainBuffer();
    else {
      for (const entry of this.buffer.splice(0)) {
        this.totalsValue.buffered--;
        this.totalsValue.errors++;
        entry.reject(reason);
      }
    }
    return this.idle();
  }

  /** Re-opens a closed gate (a component installed again after a delete). */
  reopen(): void {
    this.closed = undefined;
  }

  /**
   * Counts a call made beside the gate (a blue-green preview call to a standby instance) under `hash`, in the
   * same per-hash counters and latency histogram as dispatched calls; it is never paused, buffered or refused
   * for capacity, and is not part of {@link GateTotals}. `idle(hash)` waits for it, so the instance outlives it.
   */
  track<T>(hash: string, call: () => Promise<T>): Promise<T> {
    if (this.closed !== undefined) return Promise.reject(this.closed);
    const end = this.begin(hash, this.now());
    let running: Promise<T>;
    try {
      running = call();
    } catch (error) {
      running = Promise.reject(error);
    }
    return running.then(
      (value) => {
        end(true);
        this.wakeIdle();
        return value;
      },
      (error: unknown) => {
        end(false);
        this.wakeIdle();
        throw error;
      },
    );
  }

  totals(): Readonly<GateTotals> {
    return { ...this.totalsValue };
  }

  stats(): GateStats {
    const byHash: Record<string, GateCounters> = {};
    for (const [hash, c] of this.byHash) {
      byHash[hash] = { accepted: c.accepted, answered: c.answered, errors: c.errors, latencyMs: c.latency.summary() };
    }
    const t = this.totalsValue;
    const ongoing = this.holds > 0 ? this.now() - this.pausedAt : 0;
    return {
      open: this.open,
      inFlight: t.inFlight,
      buffered: t.buffered,
      capacity: this.capacity,
      refused: t.refused,
      longestPauseMs: Math.max(this.longestPause, ongoing),
      byHash,
    };
  }

  private counters(hash: string): HashCounters {
    let c = this.byHash.get(hash);
    if (c === undefined) {
      c = {
        inFlight: 0,
        accepted: 0,
        answered: 0,
        errors: 0,
        latency: new WindowedHistogram({ windowMs: this.latencyWindowMs, now: this.now }),
      };
      this.byHash.set(hash, c);
      // Keep the counters of recent versions only, so a long-lived gate stays small.
      for (const old of this.byHash.keys()) {
        if (this.byHash.size <= MAX_HASHES) break;
        if (old !== hash && old !== this.target?.hash && (this.byHash.get(old)?.inFlight ?? 0) === 0)
          this.byHash.delete(old);
      }
    }
    return c;
  }

  /** Opens one call on `hash`'s counters; the returned function closes it (per hash: accepted = answered + errors + in flight). */
  private begin(hash: string, startedAt: number): (ok: boolean) => void {
    const c = this.counters(hash);
    c.accepted++;
    c.inFlight++;
    return (ok) => {
      c.inFlight--;
      c.latency.record(this.now() - startedAt);
      if (ok) c.answered++;
      else c.errors++;
    };
  }

  private flush(): void {
    if (this.holds === 0 && this.target !== undefined) this.drainBuffer();
  }

  private drainBuffer(): void {
    for (const entry of this.buffer.splice(0)) {
      this.totalsValue.buffered--;
      this.bufferedWait.record(this.now() - entry.acceptedAt);
      this.dispatch(entry);
    }
  }

  private dispatch(entry: Entry): void {
    const target = this.target;
    if (target === undefined) {
      this.totalsValue.errors++;
      entry.reject(
        new CutoverError('invoke.notFound', `component "${this.componentId}" is not serving`, {
          componentId: this.componentId,
        }),
      );
      return;
    }
    this.call(target, entry.operation, entry.payload, entry.acceptedAt).then(entry.resolve, entry.reject);
  }

  /** Runs one accepted call on `target`, counted in flight until it settles. */
  private call(target: GateTarget, operation: string, payload: Uint8Array, acceptedAt: number): Promise<Uint8Array> {
    const t = this.totalsValue;
    const hash = target.hash;
    const c = this.counters(hash);
    c.accepted++;
    t.inFlight++;
    c.inFlight++;
    let call: Promise<Uint8Array>;
    try {
      call = target.invoke(operation, payload);
    } catch (error) {
      call = Promise.reject(error);
    }
    return call.then(
      (value) => {
        this.settle(c, acceptedAt, true);
        return value;
      },
      (error: unknown) => {
        this.settle(c, acceptedAt, false);
        throw error;
      },
    );
  }

  private settle(c: HashCounters, acceptedAt: number, ok: boolean): void {
    const t = this.totalsValue;
    t.inFlight--;
    c.inFlight--;
    c.latency.record(this.now() - acceptedAt);
    if (ok) {
      c.answered++;
      t.answered++;
    } else {
      c.errors++;
      t.errors++;
    }
    this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    if (waiters.length === 0) return;
    // In place: it runs once per answered call while a pause drains, so it allocates nothing.
    let kept = 0;
    for (const w of waiters) {
      const busy = w.hash === undefined ? this.totalsValue.inFlight : (this.byHash.get(w.hash)?.inFlight ?? 0);
      if (busy === 0) w.resolve();
      else waiters[kept++] = w;
    }
    waiters.length = kept;
  }
}
