import type { AnalysisContext, AnalysisProvider, MeasureResult } from '../../ports/analysis';
import { gateWindow } from './gateWindow';

/**
 * Built-in analysis: failed / completed invocations (the gate counts successes as `answered` and
 * failures as `errors`) of the revision's spec hashes over the measured hosts, from the gate counters
 * in their inventories (the window since `baseline` when given). No completed call in the window is no data.
 */
export const errorRateProvider: AnalysisProvider = {
  async measure(ctx: AnalysisContext): Promise<MeasureResult> {
    const w = gateWindow(ctx.hosts, ctx.app, ctx.hashes ?? [ctx.hash], ctx.baseline);
    const completed = w.answered + w.errors;
    return completed === 0 ? { noData: true } : { value: w.errors / completed };
  },
};
