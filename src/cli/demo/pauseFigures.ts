import type { Gate } from '../../host/gate';
import { Histogram } from '../../host/histogram';

/** Gate-closed windows over every gate: nearest-rank p50 / p99 and the exact max, in ms. */
export interface PauseFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Merges the pause histograms of several gates bucket by bucket (exact), so p50 / p99 have the gates' own
 * ~12% bucket resolution and the max is exact.
 */
export function pauseFigures(gates: readonly Gate[]): PauseFigures {
  const all = new Histogram();
  for (const gate of gates) all.merge(gate.pauses);
  const { count, p50, p99, max } = all.summary();
  return { count, p50: round(p50), p99: round(p99), max: round(max) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
