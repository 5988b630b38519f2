import type { AnalysisContext, AnalysisProvider, MeasureResult } from '../../ports/analysis';
import { gateWindow } from './gateWindow';

/**
 * Built-in analysis: p99 latency (ms) of the revision's spec hashes. Hosts report a cumulative p99
 * per hash, so the figure is the worst p99 among the hosts that served invocations in the window
 * (a conservative bound). No invocation in the window is no data.
 */
export const latencyP99Provider: AnalysisProvider = {
  async measure(ctx: AnalysisContext): Promise<MeasureResult> {
    const w = gateWindow(ctx.hosts, ctx.app, ctx.hashes ?? [ctx.hash], ctx.baseline);
    const served = w.samples.filter((s) => s.latencyCount > 0);
    if (served.length === 0) return { noData: true };
    return { value: Math.max(...served.map((s) => s.p99)) };
  },
};
