import type { LatencySummary } from '../protocol/inventory';

// Log-spaced bucket bounds from 1 µs to ~67 s (factor 1.25): fixed memory, ~12% relative error.
const BOUNDS: readonly number[] = (() => {
  const out: number[] = [];
  for (let b = 0.001; b < 70_000; b *= 1.25) out.push(b);
  return out;
})();

/** A fixed-bucket latency histogram in milliseconds; `summary()` gives count, p50, p99 and exact max. */
export class Histogram {
  /** Allocated on the first sample: a histogram that never records (most of a fleet's) costs a few bytes. */
  private counts: Uint32Array | undefined;
  private total = 0;
  private maxMs = 0;
  /** The last summary, until the next record: inventories and reports ask far more often than gates record. */
  private summarised: LatencySummary | undefined;

  record(ms: number): void {
    const v = Math.max(0, ms);
    let lo = 0;
    let hi = BOUNDS.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((BOUNDS[mid] ?? Number.POSITIVE_INFINITY) < v) lo = mid + 1;
      else hi = mid;
    }
    this.summarised = undefined;
    this.counts ??= new Uint32Array(BOUNDS.length + 1);
    this.counts[lo] = (this.counts[lo] ?? 0) + 1;
    this.total++;
    if (v > this.maxMs) this.maxMs = v;
  }

  get count(): number {
    return this.total;
  }

  /** Adds every sample of `other` to this one: exact, as both share the same bucket bounds. */
  merge(other: Histogram): this {
    const theirs = other.counts;
    if (theirs === undefined) return this;
    this.counts ??= new Uint32Array(BOUNDS.length + 1);
    for (let i = 0; i < this.counts.length; i++) this.counts[i] = (this.counts[i] ?? 0) + (theirs[i] ?? 0);
    this.total += other.total;
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
    this.summarised = undefined;
    return this;
  }

  /** Upper bound of the bucket holding quantile `q` (capped by the exact max). */
  quantile(q: number): number {
    const counts = this.counts;
    if (this.total === 0 || counts === undefined) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] ?? 0;
      if (seen >= rank) return Math.min(BOUNDS[i] ?? this.maxMs, this.maxMs);
    }
    return this.maxMs;
  }

  summary(): LatencySummary {
    this.summarised ??= { count: this.total, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.maxMs };
    return { ...this.summarised };
  }
}

/** Options of {@link WindowedHistogram}. */
export interface WindowedHistogramOptions {
  /** Span of the figures `summary()` gives (ms, default 60,000). */
  windowMs?: number;
  /** Slices the window is kept in; it moves a slice at a time (default 6). */
  slices?: number;
  /** Monotonic milliseconds (default `performance.now`). */
  now?: () => number;
}

/**
 * A latency histogram over a sliding window: p50, p99 and max of `summary()` cover only the samples of the
 * last `windowMs` (in `slices` steps), so one early burst ages out instead of marking a version for good;
 * `count` stays the lifetime total, so readers that difference two readings still see it only grow.
 * @example
 * const h = new WindowedHistogram({ windowMs: 60_000 });
 * h.record(12); h.summary() // { count: 1, p50: 12, p99: 12, max: 12 }
 */
export class WindowedHistogram {
  readonly windowMs: number;
  private readonly sliceMs: number;
  private readonly now: () => number;
  /**
   * Ring of slices; `ring[(epoch) % n]` holds the samples of slice number `epoch`. A slice is allocated on its
   * first sample: most gates (idle versions, idle hosts) never record, and 10,000 hosts hold one gate each.
   */
  private readonly ring: Array<Histogram | undefined>;
  private readonly epochs: number[];
  private total = 0;
  private summarised: LatencySummary | undefined;
  private summarisedEpoch = -1;

  constructor(options: WindowedHistogramOptions = {}) {
    const slices = Math.max(1, Math.floor(options.slices ?? 6));
    this.windowMs = Math.max(1, options.windowMs ?? 60_000);
    this.sliceMs = this.windowMs / slices;
    this.now = options.now ?? (() => performance.now());
    this.ring = new Array<Histogram | undefined>(slices).fill(undefined);
    this.epochs = new Array<number>(slices).fill(-1);
  }

  private epoch(): number {
    return Math.floor(this.now() / this.sliceMs);
  }

  record(ms: number): void {
    const e = this.epoch();
    const i = e % this.ring.length;
    let slice = this.ring[i];
    if (slice === undefined || this.epochs[i] !== e) {
      slice = new Histogram();
      this.ring[i] = slice;
      this.epochs[i] = e;
    }
    slice.record(ms);
    this.total++;
    this.summarised = undefined;
  }

  /** Samples recorded over the histogram's life. */
  get count(): number {
    return this.total;
  }

  /** The samples of the window as one histogram. */
  window(): Histogram {
    const e = this.epoch();
    const out = new Histogram();
    for (let i = 0; i < this.ring.length; i++) {
      const at = this.epochs[i] ?? -1;
      const slice = this.ring[i];
      if (slice !== undefined && at >= 0 && at > e - this.ring.length && at <= e) out.merge(slice);
    }
    return out;
  }

  /** Lifetime `count`; p50, p99 and max of the window (0 when it holds no sample). */
  summary(): LatencySummary {
    if (this.total === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
    const e = this.epoch();
    if (this.summarised === undefined || this.summarisedEpoch !== e) {
      const w = this.window().summary();
      this.summarised = { count: this.total, p50: w.p50, p99: w.p99, max: w.max };
      this.summarisedEpoch = e;
    }
    return { ...this.summarised };
  }
}
