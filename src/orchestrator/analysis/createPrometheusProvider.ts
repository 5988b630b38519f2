import { z } from 'zod';
import { CutoverError, type ErrorCode, isCutoverError } from '../../errors';
import type { AnalysisContext, AnalysisProvider, MeasureResult } from '../../ports/analysis';
import type { Clock } from '../../ports/clock';
import { clockTimeout } from './clockTimeout';

/** Options of {@link createPrometheusProvider}. */
export interface PrometheusProviderOptions {
  /** The fetch to use; defaults to the global one. */
  fetch?: typeof globalThis.fetch;
  /** The clock a query's timeout runs on (the orchestrator's); defaults to wall time. */
  clock?: Clock;
  /** Timeout of one query when the analysis names none (ms, default 10,000). */
  timeoutMs?: number;
}

/** One sample as Prometheus' HTTP API writes it: `[unix seconds, "value"]`. */
const Sample = z.tuple([z.number(), z.string()]);

/** The answer of `GET /api/v1/query` (https://prometheus.io/docs/prometheus/latest/querying/api/). */
const QueryReply = z.union([
  z.object({
    status: z.literal('success'),
    data: z.union([
      z.object({ resultType: z.literal('scalar'), result: Sample }),
      z.object({
        resultType: z.literal('vector'),
        result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: Sample })),
      }),
      z.object({ resultType: z.enum(['matrix', 'string']), result: z.unknown() }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string().optional() }),
]);

/** Fills `{{app}}`, `{{revision}}` and `{{hash}}` of a query with the measured revision's. */
export function renderPromQuery(query: string, ctx: Pick<AnalysisContext, 'app' | 'revision' | 'hash'>): string {
  const values: Record<string, string> = { app: ctx.app, revision: ctx.revision, hash: ctx.hash };
  return query.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
}

/**
 * An analysis provider that runs the analysis' PromQL `query` as an instant query against the Prometheus
 * server at `address` (`GET /api/v1/query`) and returns its one value: a scalar, or a vector of exactly one
 * series. An empty vector or NaN (e.g. 0/0 with no traffic) is no data. Errors are coded, and the
 * rollout counts each as a measurement error (see docs/observability.md):
 * `analysis.queryInvalid` (Prometheus refused the query, 400/422), `analysis.unavailable` (unreachable,
 * 5xx, no answer within the timeout, not a Prometheus reply) and `analysis.notSingleValue` (several
 * series, a range vector or a string).
 * @example
 * const provider = createPrometheusProvider();
 * await provider.measure({ app, revision, hash, hosts, metric: 'value', spec }) // { value: 0.02 }
 */
export function createPrometheusProvider(options: PrometheusProviderOptions = {}): AnalysisProvider {
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async measure(ctx: AnalysisContext): Promise<MeasureResult> {
      const { address, query } = ctx.spec;
      if (address === undefined || query === undefined) {
        throw new CutoverError(
          'plan.invalid',
          `analysis "${ctx.spec.name ?? ctx.metric}" needs a prometheus address and query`,
        );
      }
      const timeoutMs = ctx.spec.timeoutMs ?? options.timeoutMs ?? 10_000;
      const promql = renderPromQuery(query, ctx);
      const url = new URL('api/v1/query', address.endsWith('/') ? address : `${address}/`);
      url.searchParams.set('query', promql);
      url.searchParams.set('timeout', `${Math.max(1, Math.floor(timeoutMs / 1000))}s`);
      const where = `prometheus ${address}`;
      const fail = (code: ErrorCode, text: string, cause?: unknown) =>
        new CutoverError(code, `${code}: ${where} ${text}`, cause === undefined ? {} : { cause });
      const timer = clockTimeout(options.clock, timeoutMs);
      const signal = ctx.signal === undefined ? timer.signal : AbortSignal.any([ctx.signal, timer.signal]);
      let status: number;
      let text: string;
      try {
        const res = await doFetch(url, { headers: { accept: 'application/json' }, signal });
        status = res.status;
        text = await res.text();
      } catch (e) {
        if (timer.signal.aborted) throw fail('analysis.unavailable', `did not answer within ${timeoutMs} ms`, e);
        if (ctx.signal?.aborted) throw new CutoverError('aborted', `${where} query was cancelled`, { cause: e });
        if (isCutoverError(e)) throw e;
        const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
        throw fail('analysis.unavailable', `is unreachable: ${why}`, e);
      } finally {
        timer.cancel();
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw fail('analysis.unavailable', `answered ${status} without json${excerpt(text)}`, e);
      }
      const parsed = QueryReply.safeParse(json);
      if (!parsed.success)
        throw fail('analysis.unavailable', `answered ${status} with no query result${excerpt(text)}`);
      const reply = parsed.data;
      if (reply.status === 'error') {
        const why = `${reply.errorType ?? 'error'}: ${reply.error ?? 'no detail'}`;
        if (status === 400 || status === 422) throw fail('analysis.queryInvalid', `refused query ${promql} (${why})`);
        throw fail('analysis.unavailable', `answered ${status} (${why})`);
      }
      if (status < 200 || status > 299) throw fail('analysis.unavailable', `answered ${status}${excerpt(text)}`);
      const data = reply.data;
      if (data.resultType === 'scalar') return sampleValue(data.result[1], fail);
      if (data.resultType === 'vector') {
        if (data.result.length === 0) return { noData: true };
        const [only, ...rest] = data.result;
        if (only === undefined || rest.length > 0) {
          const shown = data.result.slice(0, 3).map((s) => labels(s.metric));
          throw fail(
            'analysis.notSingleValue',
            `answered ${data.result.length} series for ${promql}, not one: ${shown.join(', ')}${data.result.length > 3 ? ', …' : ''} (aggregate them, e.g. with sum())`,
          );
        }
        return sampleValue(only.value[1], fail);
      }
      throw fail('analysis.notSingleValue', `answered a ${data.resultType} for ${promql}, not a scalar or one series`);
    },
  };
}

/** A sample's value: NaN (0/0, nothing to divide) is no data; anything else, ±Inf included, is the value. */
function sampleValue(raw: string, fail: (code: ErrorCode, text: string) => CutoverError): MeasureResult {
  const value = Number(raw === '+Inf' ? 'Infinity' : raw === '-Inf' ? '-Infinity' : raw);
  if (raw === 'NaN') return { noData: true };
  if (Number.isNaN(value)) throw fail('analysis.notSingleValue', `answered "${raw}", not a number`);
  return { value };
}

function labels(metric: Record<string, string>): string {
  const parts = Object.entries(metric).map(([k, v]) => `${k}="${v}"`);
  return `{${parts.join(',')}}`;
}

function excerpt(text: string): string {
  const t = text.trim();
  if (t === '') return '';
  return `: "${t.length > 120 ? `${t.slice(0, 120)}…` : t}"`;
}
