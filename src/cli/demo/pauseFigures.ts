import type { Gate } from '../../host/gate';

/** Gate-closed windows over every gate: nearest-rank p50 / p99 and the exact max, in ms. */
export interface PauseFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Merges the pause histograms of several gates. A histogram keeps buckets, not samples, so each pause is
 * read back as its bucket's upper bound (capped by that gate's exact max), the same ~12% resolution the
 * gate's own p50/p99 have; the max is exact.
 */
export function pauseFigures(gates: readonly Gate[]): PauseFigures {
  const samples: number[] = [];
  let max = 0;
  for (const gate of gates) {
    const h = gate.pauses;
    const n = h.count;
    // quantile((i - 0.5) / n) is the rank-i sample's bucket bound: this lists all n pauses in order.
    for (let i = 1; i <= n; i++) samples.push(h.quantile((i - 0.5) / n));
    max = Math.max(max, h.summary().max);
  }
  samples.sort((a, b) => a - b);
  const rank = (q: number) => samples[Math.max(0, Math.ceil(q * samples.length) - 1)] ?? 0;
  return { count: samples.length, p50: round(rank(0.5)), p99: round(rank(0.99)), max: round(max) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
