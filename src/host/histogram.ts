import type { LatencySummary } from '../protocol/inventory';

// Log-spaced bucket bounds from 1 µs to ~67 s (factor 1.25): fixed memory, ~12% relative error.
const BOUNDS: readonly number[] = (() => {
  const out: number[] = [];
  for (let b = 0.001; b < 70_000; b *= 1.25) out.push(b);
  return out;
})();

/** A fixed-bucket latency histogram in milliseconds; `summary()` gives count, p50, p99 and exact max. */
export class Histogram {
  private readonly counts = new Uint32Array(BOUNDS.length + 1);
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
    this.counts[lo] = (this.counts[lo] ?? 0) + 1;
    this.total++;
    if (v > this.maxMs) this.maxMs = v;
  }

  get count(): number {
    return this.total;
  }

  /** Adds every sample of `other` to this one: exact, as both share the same bucket bounds. */
  merge(other: Histogram): this {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.total += other.total;
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
    this.summarised = undefined;
    return this;
  }

  /** Upper bound of the bucket holding quantile `q` (capped by the exact max). */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(BOUNDS[i] ?? this.maxMs, this.maxMs);
    }
    return this.maxMs;
  }

  summary(): LatencySummary {
    this.summarised ??= { count: this.total, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.maxMs };
    return { ...this.summarised };
  }
}
