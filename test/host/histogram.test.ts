import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Histogram } from '../../src/host/histogram';

const of = (samples: readonly number[]): Histogram => {
  const h = new Histogram();
  for (const ms of samples) h.record(ms);
  return h;
};

const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1] as const;
const quantiles = (h: Histogram) => QUANTILES.map((q) => h.quantile(q));

describe('Histogram.merge', () => {
  it.each([
    { name: 'two empty histograms', a: [], b: [], summary: { count: 0, p50: 0, p99: 0, max: 0 } },
    { name: 'samples into an empty one', a: [], b: [1, 2, 3], summary: { count: 3, p50: 2, p99: 3, max: 3 } },
    { name: 'an empty one into samples', a: [1, 2, 3], b: [], summary: { count: 3, p50: 2, p99: 3, max: 3 } },
    {
      name: 'disjoint ranges, the max from the other side',
      a: [0.5, 0.5, 0.5],
      b: [40],
      summary: { count: 4, p50: 0.5, p99: 40, max: 40 },
    },
    {
      name: 'the same bucket on both sides (counts add)',
      a: [10, 10],
      b: [10, 10, 10],
      summary: { count: 5, p50: 10, p99: 10, max: 10 },
    },
    {
      name: 'zero and negative samples (clamped to 0)',
      a: [0, -5],
      b: [0],
      summary: { count: 3, p50: 0, p99: 0, max: 0 },
    },
    {
      name: 'samples past the last bound (overflow bucket)',
      a: [1],
      b: [100_000, 90_000],
      summary: { count: 3, p50: 90_000, p99: 100_000, max: 100_000 },
    },
  ])('merges $name exactly as recording every sample in one histogram', ({ a, b, summary }) => {
    const merged = of(a).merge(of(b));
    const together = of([...a, ...b]);
    expect(merged.count).toBe(a.length + b.length);
    expect(quantiles(merged)).toEqual(quantiles(together));
    expect(merged.summary()).toEqual(together.summary());
    // A quantile is its bucket's upper bound: at most one bucket (factor 1.25) above the sample, never below.
    const { count, p50, p99, max } = merged.summary();
    expect({ count, max }).toEqual({ count: summary.count, max: summary.max });
    expect(p50).toBeGreaterThanOrEqual(summary.p50);
    expect(p50).toBeLessThanOrEqual(summary.p50 * 1.25);
    expect(p99).toBeGreaterThanOrEqual(summary.p99);
    expect(p99).toBeLessThanOrEqual(summary.p99 * 1.25);
  });

  it('leaves the merged-in histogram unchanged and returns the receiver', () => {
    const a = of([1, 2]);
    const b = of([3, 400]);
    const before = { summary: b.summary(), quantiles: quantiles(b) };
    expect(a.merge(b)).toBe(a);
    expect({ summary: b.summary(), quantiles: quantiles(b) }).toEqual(before);
  });

  it('refreshes a summary taken before the merge', () => {
    const a = of([1, 1, 1]);
    expect(a.summary()).toMatchObject({ count: 3, max: 1 });
    a.merge(of([50, 50, 50, 50]));
    expect(a.summary()).toEqual(of([1, 1, 1, 50, 50, 50, 50]).summary());
  });

  it('merges a histogram into itself as doubling every count', () => {
    const a = of([1, 2, 3, 70]);
    a.merge(a);
    expect(a.summary()).toEqual(of([1, 2, 3, 70, 1, 2, 3, 70]).summary());
  });

  it('is exact, associative and commutative for any samples', () => {
    const samples = fc.array(fc.double({ min: -1, max: 200_000, noNaN: true }), { maxLength: 60 });
    fc.assert(
      fc.property(samples, samples, samples, (a, b, c) => {
        const together = quantiles(of([...a, ...b, ...c]));
        expect(quantiles(of(a).merge(of(b)).merge(of(c)))).toEqual(together);
        expect(quantiles(of(c).merge(of(b).merge(of(a))))).toEqual(together);
        expect(of(a).merge(of(b)).merge(of(c)).summary()).toEqual(of([...c, ...a, ...b]).summary());
      }),
      { numRuns: 200 },
    );
  });
});
