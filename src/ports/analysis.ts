import type { HostInventory } from '../protocol/inventory';
import type { AnalysisSpec, BackgroundAnalysis } from '../protocol/strategies';

/** What one measurement is about: a revision of an app on some hosts. */
export interface AnalysisContext {
  app: string;
  revision: string;
  /** Spec hash whose figures are measured. */
  hash: string;
  /** Every spec hash of the revision, when it has several components; defaults to `[hash]`. */
  hashes?: readonly string[];
  /** Inventories of the hosts to measure, read now. */
  hosts: readonly HostInventory[];
  /** Inventories of the same hosts at the start of the window; without it, totals since the hosts started. */
  baseline?: readonly HostInventory[];
  metric: string;
  spec: AnalysisSpec | BackgroundAnalysis;
  signal?: AbortSignal;
}

/** One figure, or no data (nothing to measure in the window). */
export type MeasureResult = { value: number } | { noData: true };

/**
 * Where analysis figures come from. A measurement that cannot be taken rejects (a coded CutoverError);
 * the rollout records it as a measurement error, counted against `consecutiveErrorLimit`.
 */
export interface AnalysisProvider {
  measure(ctx: AnalysisContext): Promise<MeasureResult>;
}
