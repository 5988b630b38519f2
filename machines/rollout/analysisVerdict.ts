import {
  type AnalysisCondition,
  type AnalysisMeasurement,
  type AnalysisSpec,
  type BackgroundAnalysis,
  analysisMetric,
} from '../../src/protocol/strategies';

/** Where an analysis stands: still measuring, or its result. `inconclusive` holds the rollout for a person. */
export type AnalysisStatus = 'running' | 'successful' | 'failed' | 'inconclusive';

/** How one measurement was judged. */
export type MeasurementOutcome = 'successful' | 'failed' | 'inconclusive' | 'error';

/** Tallies of the measurements so far. */
export interface AnalysisCounts {
  measured: number;
  successful: number;
  failed: number;
  inconclusive: number;
  noData: number;
  errors: number;
  consecutiveErrors: number;
}

/** The verdict on an analysis given its measurements so far. */
export interface AnalysisVerdict {
  /** What the rollout acts on; with `dryRun` never `failed` or `inconclusive`. */
  status: AnalysisStatus;
  /** What the figures say, dry run or not. */
  observed: AnalysisStatus;
  dryRun: boolean;
  counts: AnalysisCounts;
  /** For people: the figures behind the verdict, e.g. `errorRate 0.2 > max 0.01 in 3 of 3 measurements`. */
  reason: string;
}

/** The fields of an analysis its verdict depends on. */
export type AnalysisVerdictSpec = Pick<
  AnalysisSpec,
  | 'provider'
  | 'metric'
  | 'successCondition'
  | 'failureCondition'
  | 'failureLimit'
  | 'inconclusiveLimit'
  | 'consecutiveErrorLimit'
  | 'noData'
  | 'dryRun'
> & { count?: BackgroundAnalysis['count'] };

/** Figures read as people write them: 0.2 rather than 0.19999999999999998. */
function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 ? String(Math.round(v)) : String(Number(v.toPrecision(4)));
}

/** The first bound `value` breaks, as text (`errorRate 0.2 > max 0.01`), or undefined when inside. */
function broken(metric: string, c: AnalysisCondition, value: number): string | undefined {
  if (c.max !== undefined && value > c.max) return `${metric} ${fmt(value)} > max ${fmt(c.max)}`;
  if (c.min !== undefined && value < c.min) return `${metric} ${fmt(value)} < min ${fmt(c.min)}`;
  return undefined;
}

function within(metric: string, c: AnalysisCondition, value: number): string {
  const parts: string[] = [];
  if (c.min !== undefined) parts.push(`>= min ${fmt(c.min)}`);
  if (c.max !== undefined) parts.push(`<= max ${fmt(c.max)}`);
  return `${metric} ${fmt(value)} ${parts.join(' and ')}`;
}

/** Judges one measurement against the conditions and the no-data policy. */
export function judgeMeasurement(
  spec: Pick<AnalysisVerdictSpec, 'provider' | 'metric' | 'successCondition' | 'failureCondition' | 'noData'>,
  m: AnalysisMeasurement,
): { outcome: MeasurementOutcome; detail: string } {
  const metric = analysisMetric(spec);
  if ('error' in m) return { outcome: 'error', detail: `measurement error: ${m.error}` };
  if ('noData' in m) {
    const byPolicy = { fail: 'failed', pass: 'successful', inconclusive: 'inconclusive' } as const;
    return { outcome: byPolicy[spec.noData], detail: `no data for ${metric}` };
  }
  if (!Number.isFinite(m.value)) {
    return { outcome: 'error', detail: `measurement error: ${metric} is not a finite number (${String(m.value)})` };
  }
  const { successCondition: success, failureCondition: failure } = spec;
  if (failure !== undefined) {
    const why = broken(metric, failure, m.value);
    if (why !== undefined) return { outcome: 'failed', detail: why };
  }
  if (success !== undefined) {
    const why = broken(metric, success, m.value);
    if (why === undefined) return { outcome: 'successful', detail: within(metric, success, m.value) };
    // Between the success target and the failure limit: a person decides.
    return failure === undefined ? { outcome: 'failed', detail: why } : { outcome: 'inconclusive', detail: why };
  }
  const detail = failure === undefined ? `${metric} ${fmt(m.value)}` : within(metric, failure, m.value);
  return { outcome: 'successful', detail };
}

/**
 * The verdict on an analysis from its measurements so far, in the order they were taken. Fails once
 * failures exceed `failureLimit` or errors in a row exceed `consecutiveErrorLimit`; turns inconclusive
 * once inconclusive measurements exceed `inconclusiveLimit`; succeeds after `count` measurements.
 * @example
 * analysisVerdict(spec, [{ value: 0.2 }, { value: 0.25 }]).reason // "errorRate 0.25 > max 0.01 in 2 of 2 measurements"
 */
export function analysisVerdict(
  spec: AnalysisVerdictSpec,
  measurements: readonly AnalysisMeasurement[],
): AnalysisVerdict {
  const counts: AnalysisCounts = {
    measured: 0,
    successful: 0,
    failed: 0,
    inconclusive: 0,
    noData: 0,
    errors: 0,
    consecutiveErrors: 0,
  };
  let lastFailed = '';
  let lastInconclusive = '';
  let lastSuccessful = '';
  let lastError = '';
  let decided: { status: 'failed' | 'inconclusive'; reason: string } | undefined;
  for (const m of measurements) {
    const { outcome, detail } = judgeMeasurement(spec, m);
    counts.measured++;
    if ('noData' in m) counts.noData++;
    if (outcome === 'error') {
      counts.errors++;
      counts.consecutiveErrors++;
      lastError = detail;
    } else {
      counts.consecutiveErrors = 0;
      counts[outcome]++;
      if (outcome === 'failed') lastFailed = detail;
      else if (outcome === 'inconclusive') lastInconclusive = detail;
      else lastSuccessful = detail;
    }
    if (decided !== undefined) continue;
    const of = `of ${counts.measured} measurements`;
    if (counts.failed > spec.failureLimit) {
      decided = {
        status: 'failed',
        reason: `${lastFailed} in ${counts.failed} ${of}${limit('failure', spec.failureLimit)}`,
      };
    } else if (counts.consecutiveErrors > spec.consecutiveErrorLimit) {
      decided = {
        status: 'failed',
        reason: `${counts.consecutiveErrors} measurement errors in a row > limit ${spec.consecutiveErrorLimit} (last: ${lastError.replace(/^measurement error: /, '')})`,
      };
    } else if (counts.inconclusive > spec.inconclusiveLimit) {
      decided = {
        status: 'inconclusive',
        reason: `${lastInconclusive} in ${counts.inconclusive} ${of}${limit('inconclusive', spec.inconclusiveLimit)}: waiting for a person`,
      };
    }
  }
  const complete = spec.count !== undefined && counts.measured >= spec.count;
  const of = `of ${counts.measured} measurements`;
  let observed: AnalysisStatus;
  let reason: string;
  if (decided !== undefined) {
    observed = decided.status;
    reason = decided.reason;
  } else if (!complete) {
    observed = 'running';
    reason = `${counts.measured} of ${spec.count ?? 'unbounded'} measurements taken`;
    if (counts.measured > 0)
      reason += ` (${counts.successful} successful, ${counts.failed} failed, ${counts.errors} errors)`;
  } else if (counts.successful === 0) {
    observed = 'inconclusive';
    reason = `no usable measurement in ${counts.measured} (${counts.errors} errors${counts.noData > 0 ? `, ${counts.noData} without data` : ''}): waiting for a person`;
  } else {
    observed = 'successful';
    reason = `${lastSuccessful} in ${counts.successful} ${of}`;
    if (counts.failed > 0) reason += `; ${counts.failed} failed within limit ${spec.failureLimit}`;
  }
  if (!spec.dryRun) return { status: observed, observed, dryRun: false, counts, reason };
  // A dry run measures to the end and reports, but never fails or holds the rollout.
  const status: AnalysisStatus = complete ? 'successful' : 'running';
  const note = observed === 'failed' || observed === 'inconclusive' ? ` (dry run: would be ${observed})` : ' (dry run)';
  return { status, observed, dryRun: true, counts, reason: reason + note };
}

function limit(what: string, n: number): string {
  return n === 0 ? '' : ` (${what} limit ${n})`;
}

/**
 * When measurement number `taken + 1` is due, as an absolute instant (so a restored rollout keeps its
 * schedule): each measurement covers the `intervalMs` before it, the first starting `initialDelayMs`
 * after `startedAt`. `null` once `count` measurements are taken.
 */
export function nextMeasurementAt(
  spec: Pick<AnalysisSpec, 'initialDelayMs' | 'intervalMs'> & { count?: number | undefined },
  startedAt: number,
  taken: number,
): number | null {
  if (spec.count !== undefined && taken >= spec.count) return null;
  return startedAt + spec.initialDelayMs + (taken + 1) * spec.intervalMs;
}
