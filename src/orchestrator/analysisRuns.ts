import { analysisVerdict } from '../../machines/rollout/analysisVerdict';
import type { StateStore } from '../ports/store';
import { parseWith } from '../protocol/decode';
import { type AnalysisSpec, type BackgroundAnalysis, analysisMetric } from '../protocol/strategies';
import type { Strategy } from '../protocol/strategy';
import { AnalysisRunRecord, GateRecord, keys } from './records';

/** Where one analysis of a rollout stands, for `status`: its figures so far and the verdict on them. */
export interface AnalysisRunView {
  /** `background`, or `after batch N` for a step or pre/post-promotion analysis. */
  run: string;
  name: string;
  provider: AnalysisSpec['provider'];
  startedAt: number;
  measurements: number;
  /** `cancelled` (with the reason): its rollout ended, or a person promoted fully, before it had a verdict. */
  status: 'running' | 'successful' | 'failed' | 'inconclusive' | 'cancelled';
  reason: string;
}

/**
 * Every analysis a rollout has started, read from its run records in the store (so another
 * orchestrator, or one restarted, reports the same figures). Unreadable records are skipped.
 */
export async function analysisRuns(
  store: StateStore,
  rolloutId: string,
  strategy: Strategy,
): Promise<AnalysisRunView[]> {
  const prefix = keys.analysis(rolloutId, '');
  const out: AnalysisRunView[] = [];
  for (const key of (await store.keys('cutover', prefix)).sort()) {
    const run = key.slice(prefix.length);
    try {
      const entry = await store.get('cutover', key);
      if (!entry) continue;
      const record = parseWith(AnalysisRunRecord, entry.value, 'plan.invalid', `analysis run "${key}"`);
      const found = await specOf(store, rolloutId, run, strategy);
      if (!found) continue;
      const judged = analysisVerdict(found.spec, record.measurements);
      const v = judged.status === 'running' && record.ended !== undefined ? record.ended : judged;
      out.push({
        run: found.label,
        name: found.spec.name ?? analysisMetric(found.spec),
        provider: found.spec.provider,
        startedAt: record.startedAt,
        measurements: record.measurements.length,
        status: v.status,
        reason: v.reason,
      });
    } catch {
      // A record this version cannot read says nothing about the rollout's health: leave it out.
    }
  }
  return out;
}

async function specOf(
  store: StateStore,
  rolloutId: string,
  run: string,
  strategy: Strategy,
): Promise<{ spec: AnalysisSpec | BackgroundAnalysis; label: string } | undefined> {
  if (run === 'background') {
    return strategy.type === 'canary' && strategy.backgroundAnalysis !== undefined
      ? { spec: strategy.backgroundAnalysis, label: 'background' }
      : undefined;
  }
  const m = /^b(\d+)\.a(\d+)$/.exec(run);
  if (!m) return undefined;
  const batch = Number(m[1]);
  const entry = await store.get('cutover', keys.gate(rolloutId, batch));
  if (!entry) return undefined;
  const gate = parseWith(GateRecord, entry.value, 'plan.invalid', `gate ${batch} of rollout "${rolloutId}"`);
  const spec = gate.analyses[Number(m[2])];
  return spec === undefined ? undefined : { spec, label: `after batch ${batch + 1}` };
}
