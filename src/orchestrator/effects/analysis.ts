// Analysis runs: a rolling rollout's error-rate check of a batch, the analyses a canary or blue-green gate
// names, and a canary's background analysis, each a schedule of measurements kept in the store (an absolute
// start and every measurement) so that a restarted orchestrator continues it instead of starting over. Owns
// the analysis run records and the providers' calls; it must not send to hosts, write plan or batch records,
// nor decide what happens to the rollout on a verdict (the machine does).
import { analysisVerdict, judgeMeasurement, nextMeasurementAt } from '../../../machines/rollout/analysisVerdict';
import { errorRate, place } from '../../../machines/rollout/plan';
import type { AnalysisResult, BatchInput, StepInput } from '../../../machines/rollout/types';
import type { AnalysisProvider } from '../../ports/analysis';
import { type Clock, waitUntil } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import { parseWith } from '../../protocol/decode';
import {
  type AnalysisMeasurement,
  type AnalysisProviderName,
  type AnalysisSpec,
  type BackgroundAnalysis,
  analysisMetric,
} from '../../protocol/strategies';
import { createPrometheusProvider, createWebhookProvider, errorRateProvider, latencyP99Provider } from '../analysis';
import { AnalysisRunRecord, keys } from '../records';
import { loadGate, loadSteps } from './batches';
import { type EffectContext, type RunContext, never, stamp, withRetry } from './context';

/** The providers an orchestrator measures with: `given` merged over the built-ins (webhook and Prometheus timeouts on `clock`). */
export function analysisProvidersOf(
  given: Partial<Record<AnalysisProviderName, AnalysisProvider>> | undefined,
  clock: Clock,
): Record<AnalysisProviderName, AnalysisProvider> {
  return {
    errorRate: errorRateProvider,
    latencyP99: latencyP99Provider,
    webhook: createWebhookProvider({ clock }),
    prometheus: createPrometheusProvider({ clock }),
    ...given,
  };
}

async function loadRun(store: StateStore, key: string): Promise<AnalysisRunRecord | undefined> {
  const e = await store.get('cutover', key);
  if (!e) return undefined;
  return parseWith(AnalysisRunRecord, e.value, 'plan.invalid', `analysis run "${key}"`);
}

/**
 * `count` measurements `intervalMs` apart, each over the window since the one before, judged by
 * analysisVerdict. The run lives in the store under `key`: its start is an absolute instant and every
 * measurement is kept, so a restarted orchestrator continues the schedule instead of starting over.
 */
async function runAnalysis(
  o: EffectContext,
  input: StepInput,
  spec: AnalysisSpec | BackgroundAnalysis,
  hashes: string[],
  key: string,
  signal: AbortSignal,
  run?: RunContext,
): Promise<AnalysisResult> {
  const r = await measureAnalysis(o, input, spec, hashes, key, signal, run);
  o.notifier?.analysis({
    rolloutId: input.rolloutId,
    app: input.app,
    targetVersion: input.targetVersion,
    stableVersion: input.stableVersion,
    analysis: spec.name ?? analysisMetric(spec),
    run: key.slice(keys.analysis(input.rolloutId, '').length),
    provider: spec.provider,
    verdict: r.status,
    reason: r.status === 'passed' ? null : r.reason,
  });
  return r;
}

/** {@link runAnalysis} without telling the notifier. */
async function measureAnalysis(
  o: EffectContext,
  input: StepInput,
  spec: AnalysisSpec | BackgroundAnalysis,
  hashes: string[],
  key: string,
  signal: AbortSignal,
  run?: RunContext,
): Promise<AnalysisResult> {
  const provider = o.analysisProviders[spec.provider];
  const name = spec.name ?? analysisMetric(spec);
  const save = (r: AnalysisRunRecord) => withRetry(() => o.store.put('cutover', key, r), o.clock, signal);
  let record = await withRetry(() => loadRun(o.store, key), o.clock, signal);
  if (record === undefined) {
    record = { schema: 1, startedAt: o.clock.now(), measurements: [] };
    await save(record);
  }
  const judged = (measurements: AnalysisMeasurement[]): AnalysisResult | undefined => {
    const v = analysisVerdict(spec, measurements);
    if (v.status === 'failed')
      return { status: 'failed', ...stamp(o.clock), reason: `analysis "${name}" failed: ${v.reason}` };
    if (v.status === 'inconclusive')
      return { status: 'inconclusive', ...stamp(o.clock), reason: `analysis "${name}" inconclusive: ${v.reason}` };
    if (v.status === 'successful') return { status: 'passed', ...stamp(o.clock) };
    return undefined;
  };
  let windowStart = o.clock.now();
  let baseline = await o.client.ping();
  for (;;) {
    const decided = judged(record.measurements);
    if (decided) return decided;
    let at = nextMeasurementAt(spec, record.startedAt, record.measurements.length);
    if (at === null) return { status: 'passed', ...stamp(o.clock) };
    // Due before this window opened (the orchestrator was down): the figures of that window are gone,
    // so this measurement covers a full interval from now.
    if (at <= windowStart) at = windowStart + spec.intervalMs;
    await waitUntil(o.clock, at, signal);
    if (signal.aborted) return never(signal);
    const now = await o.client.ping();
    const measuring = o.notifier?.measurement(input.rolloutId, input.app, spec.provider, name);
    let m: AnalysisMeasurement;
    try {
      m = await provider.measure({
        app: input.app,
        revision: input.targetVersion,
        hash: hashes[0] ?? '',
        hashes,
        hosts: now,
        baseline,
        metric: analysisMetric(spec),
        spec,
        signal,
      });
    } catch (e) {
      m = { error: e instanceof Error ? e.message : String(e) };
    }
    measuring?.end(judgeMeasurement(spec, m).outcome);
    record = { ...record, measurements: [...record.measurements, m] };
    await save(record);
    // A measurement taken is progress: an analysis that keeps measuring never trips the progress deadline.
    run?.progress?.({ at: o.clock.now(), measured: true });
    baseline = now;
    windowStart = o.clock.now();
  }
}

/** Spec hashes of the target revision (what an analysis measures). */
async function targetHashes(o: EffectContext, input: StepInput): Promise<string[]> {
  const target = await o.loadRevision(input.app, input.targetVersion, false);
  return [...new Set(Object.values(place(target, [], {}).hashes))];
}

/** Starts the canary's background analysis when `batch` reached `when` (once; the run record is the fact). */
export async function startBackground(
  o: EffectContext,
  input: BatchInput,
  when: 'applied' | 'verified',
  signal: AbortSignal,
): Promise<void> {
  if (input.strategy.type !== 'canary' || input.strategy.backgroundAnalysis === undefined || input.firstDeploy) return;
  const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
  const at = steps?.backgroundStart;
  if (at === undefined || at.when !== when || at.batch !== input.batch) return;
  const key = keys.analysis(input.rolloutId, 'background');
  if (await withRetry(() => loadRun(o.store, key), o.clock, signal)) return;
  const run: AnalysisRunRecord = { schema: 1, startedAt: o.clock.now(), measurements: [] };
  await withRetry(() => o.store.put('cutover', key, run), o.clock, signal);
}

/**
 * Ends every analysis of the rollout still running when the rollout ends, so each has a verdict: an unbounded
 * background analysis of a completed rollout is successful (it measured until the end); any other is cancelled
 * with the reason (`cancelled: superseded by r…` for a superseded rollout, which ends without finalizing).
 */
export async function endAnalyses(
  o: EffectContext,
  input: StepInput & { outcome: string; supersededBy?: string | null | undefined },
  signal: AbortSignal,
): Promise<void> {
  const prefix = keys.analysis(input.rolloutId, '');
  const found = await withRetry(() => o.store.keys('cutover', prefix), o.clock, signal);
  for (const key of found) {
    const record = await withRetry(() => loadRun(o.store, key), o.clock, signal).catch(() => undefined);
    if (record === undefined || record.ended !== undefined) continue;
    const background = key === keys.analysis(input.rolloutId, 'background');
    const spec = background && input.strategy.type === 'canary' ? input.strategy.backgroundAnalysis : undefined;
    if (spec !== undefined && analysisVerdict(spec, record.measurements).status !== 'running') continue;
    if (!background) {
      // A step analysis that reached its verdict needs nothing more; only one cut short is marked.
      const runs = await analysisRunStatus(o, input, key);
      if (runs !== 'running') continue;
    }
    const unbounded = spec !== undefined && spec.count === undefined && input.outcome === 'completed';
    const ended = {
      status: unbounded ? ('successful' as const) : ('cancelled' as const),
      reason: unbounded
        ? 'measured until the rollout completed'
        : input.supersededBy
          ? `cancelled: superseded by ${input.supersededBy}`
          : `cancelled: the rollout ended ${input.outcome}`,
      at: o.clock.now(),
    };
    await withRetry(() => o.store.put('cutover', key, { ...record, ended }), o.clock, signal);
  }
}

/** The verdict of a step analysis run so far, from its gate's spec; `unknown` when the spec is gone. */
async function analysisRunStatus(o: EffectContext, input: StepInput, key: string): Promise<string> {
  const m = /\.b(\d+)\.a(\d+)$/.exec(key);
  if (!m) return 'unknown';
  const gate = await loadGate(o.store, input.rolloutId, Number(m[1]));
  const spec = gate.analyses[Number(m[2])];
  const record = await loadRun(o.store, key);
  return spec === undefined || record === undefined ? 'unknown' : analysisVerdict(spec, record.measurements).status;
}

/** The `analyze` effect: the gate's analyses of a canary or blue-green batch, a rolling batch's error rate. */
export async function analyze(
  o: EffectContext,
  input: BatchInput,
  signal: AbortSignal,
  run?: RunContext,
): Promise<AnalysisResult> {
  if (input.strategy.type !== 'rolling') {
    const gate = await withRetry(() => loadGate(o.store, input.rolloutId, input.batch), o.clock, signal);
    const hashes = await targetHashes(o, input);
    for (const [i, spec] of gate.analyses.entries()) {
      const r = await runAnalysis(
        o,
        input,
        spec,
        hashes,
        keys.analysis(input.rolloutId, `b${input.batch}.a${i}`),
        signal,
        run,
      );
      if (r.status !== 'passed') return r;
    }
    return { status: 'passed', ...stamp(o.clock), gate: { pause: gate.pause, analysis: false } };
  }
  const analysis = input.strategy.type === 'rolling' ? input.strategy.analysis : undefined;
  if (!analysis) return { status: 'passed', ...stamp(o.clock) };
  const target = await o.loadRevision(input.app, input.targetVersion, false);
  const hashes = new Set(Object.values(place(target, [], {}).hashes));
  const counters = (await o.client.ping()).flatMap((inv) =>
    inv.components
      .filter((c) => c.app === input.app && c.servingHash !== undefined && hashes.has(c.servingHash))
      .map((c) => (c.servingHash === undefined ? undefined : c.gate?.byHash[c.servingHash])),
  );
  const r = errorRate(counters, analysis.minSamples);
  if (r === null)
    return {
      status: 'inconclusive',
      ...stamp(o.clock),
      reason: `fewer than ${analysis.minSamples} answered invocations`,
    };
  if (r.rate > analysis.maxErrorRate) {
    return {
      status: 'failed',
      ...stamp(o.clock),
      reason: `error rate ${r.rate.toFixed(3)} over ${analysis.maxErrorRate} (${r.errors}/${r.answered})`,
    };
  }
  return { status: 'passed', ...stamp(o.clock) };
}

/** The `backgroundAnalysis` effect: a canary's analysis beside its steps, started by the batch the plan names. */
export async function backgroundAnalysis(
  o: EffectContext,
  input: BatchInput,
  signal: AbortSignal,
): Promise<AnalysisResult> {
  const strategy = input.strategy;
  // A full promote stopped it (and keeps it stopped after a restore): it ends cancelled with the rollout.
  if (
    strategy.type !== 'canary' ||
    strategy.backgroundAnalysis === undefined ||
    input.firstDeploy ||
    input.promoted === 'full'
  ) {
    return never(signal);
  }
  const spec = strategy.backgroundAnalysis;
  const key = keys.analysis(input.rolloutId, 'background');
  // Started by the batch the plan names (a durable record), so a restart neither loses nor repeats it.
  while ((await withRetry(() => loadRun(o.store, key), o.clock, signal)) === undefined) {
    await waitUntil(o.clock, o.clock.now() + o.pollMs, signal);
    if (signal.aborted) return never(signal);
  }
  const r = await runAnalysis(o, input, spec, await targetHashes(o, input), key, signal);
  // Passed (its count taken): nothing more to say while the steps go on.
  return r.status === 'passed' ? never(signal) : { ...r, reason: r.reason.replace(/^analysis/, 'background analysis') };
}
