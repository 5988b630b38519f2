import type { AnalysisContext, AnalysisProvider, MeasureResult } from '../../ports/analysis';
import { gateWindow } from './gateWindow';

/**
 * Built-in analysis: p99 latency (ms) of the revision's spec hashes. Hosts report the p99 of their gate's
 * latency window per hash (the last 60 s by default, not the host's life), so the figure is the worst p99
 * among the hosts that served invocations in the window (a conservative bound). No invocation in the window
 * is no data.
 */
export const latencyP99Provider: AnalysisProvider = {
  async measure(ctx: AnalysisContext): Promise<MeasureResult> {
    const w = gateWindow(ctx.hosts, ctx.app, ctx.hashes ?? [ctx.hash], ctx.baseline);
    const served = w.samples.filter((s) => s.latencyCount > 0);
    if (served.length === 0) return { noData: true };
    return { value: Math.max(...served.map((s) => s.p99)) };
  },
};
