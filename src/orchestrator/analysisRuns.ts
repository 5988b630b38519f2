import { analysisVerdict, judgeMeasurement } from '../../machines/rollout/analysisVerdict';
import type { StateStore } from '../ports/store';
import { parseWith } from '../protocol/decode';
import {
  type AnalysisMeasurement,
  type AnalysisSpec,
  type BackgroundAnalysis,
  analysisMetric,
} from '../protocol/strategies';
import type { Strategy } from '../protocol/strategy';
import { AnalysisRunRecord, GateRecord, keys } from './records';
import { type AnalysisRunView, MAX_MEASUREMENT_VIEWS, type MeasurementView } from './viewSchemas';

export type { AnalysisRunView };

/** One measurement as people read it: its value (null for no data or an error) and how it was judged. */
function measurementView(spec: AnalysisSpec | BackgroundAnalysis, m: AnalysisMeasurement): MeasurementView {
  return {
    value: 'value' in m ? m.value : null,
    noData: 'noData' in m,
    error: 'error' in m ? m.error : null,
    verdict: judgeMeasurement(spec, m).outcome,
  };
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
        values: record.measurements.slice(-MAX_MEASUREMENT_VIEWS).map((m) => measurementView(found.spec, m)),
        status: v.status,
        verdict: v.status === 'running' ? null : v.status,
        dryRun: judged.dryRun,
        observed: judged.observed,
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
