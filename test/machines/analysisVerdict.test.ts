// Over 400 lines on purpose: the table-driven specification of one pure module (analysisVerdict.ts), kept in
// one file so its mutation runs pick up exactly these tests (scripts/mutation.mjs).
import {
  type AnalysisMeasurement,
  AnalysisSpec,
  type AnalysisSpecInput,
  BackgroundAnalysis,
} from '../../src/protocol/strategies';
import { describe, expect, it } from 'vitest';
import { analysisVerdict, judgeMeasurement, nextMeasurementAt } from '../../machines/rollout/analysisVerdict';

function spec(overrides: Partial<AnalysisSpecInput> = {}): AnalysisSpec {
  return AnalysisSpec.parse({
    provider: 'errorRate',
    count: 3,
    intervalMs: 10_000,
    failureCondition: { metric: 'errorRate', max: 0.01 },
    ...overrides,
  });
}

const v = (value: number): AnalysisMeasurement => ({ value });
const none: AnalysisMeasurement = { noData: true };
const err = (error: string): AnalysisMeasurement => ({ error });

describe('judging one measurement', () => {
  const both = { successCondition: { max: 0.01 }, failureCondition: { max: 0.05 } };
  it.each([
    // conditions, measurement, outcome, detail
    [{}, v(0.001), 'successful', 'errorRate 0.001 <= max 0.01'],
    [{}, v(0.01), 'successful', 'errorRate 0.01 <= max 0.01'],
    [{}, v(0.2), 'failed', 'errorRate 0.2 > max 0.01'],
    [{ failureCondition: undefined, successCondition: { max: 0.01 } }, v(0.2), 'failed', 'errorRate 0.2 > max 0.01'],
    [{ failureCondition: undefined, successCondition: { max: 0.01 } }, v(0), 'successful', 'errorRate 0 <= max 0.01'],
    [both, v(0.005), 'successful', 'errorRate 0.005 <= max 0.01'],
    [both, v(0.03), 'inconclusive', 'errorRate 0.03 > max 0.01'],
    [both, v(0.06), 'failed', 'errorRate 0.06 > max 0.05'],
    [{ failureCondition: { min: 0.5, max: 2 } }, v(0.1), 'failed', 'errorRate 0.1 < min 0.5'],
    [{ failureCondition: { min: 0.5, max: 2 } }, v(1), 'successful', 'errorRate 1 >= min 0.5 and <= max 2'],
    [{}, v(0.19999999999999998), 'failed', 'errorRate 0.2 > max 0.01'],
    [{}, v(Number.NaN), 'error', 'not a finite number'],
    [{}, none, 'inconclusive', 'no data for errorRate'],
    [{ noData: 'fail' }, none, 'failed', 'no data for errorRate'],
    [{ noData: 'pass' }, none, 'successful', 'no data for errorRate'],
    [{}, err('webhook answered 500'), 'error', 'measurement error: webhook answered 500'],
    [{ provider: 'latencyP99', failureCondition: { max: 250 } }, v(1234.5), 'failed', 'latencyP99 1235 > max 250'],
  ] as const)('%o with %o is %s', (overrides, m, outcome, detail) => {
    const judged = judgeMeasurement(spec(overrides), m);
    expect(judged.outcome).toBe(outcome);
    expect(judged.detail).toContain(detail);
  });
});

describe('analysis verdict', () => {
  it.each([
    // name, spec overrides, measurements, status, reason
    ['running before any measurement', {}, [], 'running', '0 of 3 measurements taken'],
    [
      'running while measurements are good',
      {},
      [v(0), v(0.001)],
      'running',
      '2 of 3 measurements taken (2 successful, 0 failed, 0 errors)',
    ],
    [
      'successful after count good measurements',
      {},
      [v(0), v(0.001), v(0.002)],
      'successful',
      'errorRate 0.002 <= max 0.01 in 3 of 3 measurements',
    ],
    [
      'failed at the first bad one with failureLimit 0',
      {},
      [v(0.2)],
      'failed',
      'errorRate 0.2 > max 0.01 in 1 of 1 measurements',
    ],
    [
      'failed with every figure bad',
      {},
      [v(0.2), v(0.2), v(0.2)],
      'failed',
      'errorRate 0.2 > max 0.01 in 1 of 1 measurements',
    ],
    [
      'tolerates failures up to failureLimit',
      { failureLimit: 1 },
      [v(0.2), v(0), v(0)],
      'successful',
      'in 2 of 3 measurements; 1 failed within limit 1',
    ],
    [
      'fails past failureLimit',
      { failureLimit: 1 },
      [v(0.2), v(0), v(0.3)],
      'failed',
      'errorRate 0.3 > max 0.01 in 2 of 3 measurements (failure limit 1)',
    ],
    [
      'waits for a person when inconclusive',
      { successCondition: { max: 0.01 }, failureCondition: { max: 0.05 } },
      [v(0.03)],
      'inconclusive',
      'errorRate 0.03 > max 0.01 in 1 of 1 measurements: waiting for a person',
    ],
    [
      'tolerates inconclusive up to inconclusiveLimit',
      { successCondition: { max: 0.01 }, failureCondition: { max: 0.05 }, inconclusiveLimit: 1 },
      [v(0.03), v(0), v(0)],
      'successful',
      '3 measurements',
    ],
    ['no data is inconclusive by default', {}, [none], 'inconclusive', 'no data for errorRate in 1 of 1 measurements'],
    [
      'no data fails with noData "fail"',
      { noData: 'fail' },
      [none],
      'failed',
      'no data for errorRate in 1 of 1 measurements',
    ],
    [
      'no data passes with noData "pass"',
      { noData: 'pass' },
      [none, none, none],
      'successful',
      'no data for errorRate in 3 of 3 measurements',
    ],
    [
      'errors within consecutiveErrorLimit keep it running',
      { consecutiveErrorLimit: 2 },
      [err('e1'), err('e2')],
      'running',
      '2 errors',
    ],
    [
      'fails past consecutiveErrorLimit',
      { consecutiveErrorLimit: 2, count: 10 },
      [err('e1'), err('e2'), err('timeout')],
      'failed',
      '3 measurement errors in a row > limit 2 (last: timeout)',
    ],
    [
      'a good measurement resets the error streak',
      { consecutiveErrorLimit: 1, count: 5 },
      [err('a'), v(0), err('b'), v(0), err('c')],
      'successful',
      '2 of 5 measurements',
    ],
    [
      'consecutiveErrorLimit 0 fails on the first error',
      { consecutiveErrorLimit: 0 },
      [err('refused')],
      'failed',
      '1 measurement errors in a row > limit 0 (last: refused)',
    ],
    [
      'an error within the limit does not spoil a good result',
      { count: 2 },
      [err('a'), v(0.001)],
      'successful',
      '1 of 2 measurements',
    ],
    [
      'no usable measurement at all is inconclusive',
      { count: 2 },
      [err('a'), err('b')],
      'inconclusive',
      'no usable measurement in 2 (2 errors): waiting for a person',
    ],
    ['count 1: one good figure is enough', { count: 1 }, [v(0)], 'successful', 'in 1 of 1 measurements'],
  ] as const)('%s', (_name, overrides, measurements, status, reason) => {
    const verdict = analysisVerdict(spec(overrides), measurements);
    expect(verdict.status).toBe(status);
    expect(verdict.observed).toBe(status);
    expect(verdict.dryRun).toBe(false);
    expect(verdict.reason).toContain(reason);
  });

  it('reports the figures of a failing canary in the reason', () => {
    const verdict = analysisVerdict(spec({ failureLimit: 2 }), [v(0.2), v(0.2), v(0.2)]);
    expect(verdict.reason).toBe('errorRate 0.2 > max 0.01 in 3 of 3 measurements (failure limit 2)');
    expect(verdict.counts).toEqual({
      measured: 3,
      successful: 0,
      failed: 3,
      inconclusive: 0,
      noData: 0,
      errors: 0,
      consecutiveErrors: 0,
    });
  });

  it('keeps counting after the verdict is decided', () => {
    const verdict = analysisVerdict(spec(), [v(0.2), v(0), err('x'), none]);
    expect(verdict.status).toBe('failed');
    expect(verdict.counts).toMatchObject({
      measured: 4,
      failed: 1,
      successful: 1,
      errors: 1,
      noData: 1,
      inconclusive: 1,
    });
  });

  describe('dry run', () => {
    it.each([
      // name, measurements, status, observed, reason
      ['keeps measuring after a failure', [v(0.2)], 'running', 'failed', '(dry run: would be failed)'],
      [
        'succeeds at count though the figures fail',
        [v(0.2), v(0.3), v(0.4)],
        'successful',
        'failed',
        'errorRate 0.2 > max 0.01 in 1 of 1 measurements (dry run: would be failed)',
      ],
      [
        'never holds for inconclusive figures',
        [none, none, none],
        'successful',
        'inconclusive',
        '(dry run: would be inconclusive)',
      ],
      [
        'reports good figures as they are',
        [v(0), v(0), v(0)],
        'successful',
        'successful',
        'in 3 of 3 measurements (dry run)',
      ],
    ] as const)('%s', (_name, measurements, status, observed, reason) => {
      const verdict = analysisVerdict(spec({ dryRun: true }), measurements);
      expect(verdict).toMatchObject({ status, observed, dryRun: true });
      expect(verdict.reason).toContain(reason);
    });
  });

  describe('background analysis without a count', () => {
    const background = BackgroundAnalysis.parse({
      provider: 'errorRate',
      intervalMs: 5_000,
      failureCondition: { max: 0.01 },
    });

    it.each([
      [
        'runs on while figures are good',
        Array.from({ length: 50 }, () => v(0)),
        'running',
        '50 of unbounded measurements taken',
      ],
      [
        'fails when a figure goes bad',
        [...Array.from({ length: 20 }, () => v(0)), v(0.5)],
        'failed',
        'errorRate 0.5 > max 0.01 in 1 of 21 measurements',
      ],
    ] as const)('%s', (_name, measurements, status, reason) => {
      const verdict = analysisVerdict(background, measurements);
      expect(verdict.status).toBe(status);
      expect(verdict.reason).toContain(reason);
    });
  });
});

describe('analysis schema', () => {
  it.each([
    [
      'webhook without url',
      { provider: 'webhook', successCondition: { max: 1 } },
      'webhook: provider "webhook" needs webhook: { url }',
    ],
    [
      'a webhook on a built-in',
      { provider: 'errorRate', failureCondition: { max: 1 }, webhook: { url: 'http://x' } },
      'provider "errorRate" takes no webhook',
    ],
    ['no conditions', { provider: 'errorRate' }, 'an analysis needs a successCondition or a failureCondition'],
    [
      'a condition on another metric',
      { provider: 'latencyP99', failureCondition: { metric: 'errorRate', max: 1 } },
      'failureCondition.metric: "errorRate" is not measured by this analysis (it measures "latencyP99")',
    ],
    [
      'an empty condition',
      { provider: 'errorRate', failureCondition: {} },
      'failureCondition: a condition needs "min" or "max"',
    ],
    [
      'min above max',
      { provider: 'errorRate', failureCondition: { min: 2, max: 1 } },
      'failureCondition.min: "min" must not be above "max"',
    ],
    [
      'an unknown provider',
      { provider: 'datadog', failureCondition: { max: 1 } },
      'provider: must be "errorRate", "latencyP99", "webhook" or "prometheus"',
    ],
    [
      'an unknown no-data policy',
      { provider: 'errorRate', failureCondition: { max: 1 }, noData: 'ignore' },
      'noData: must be "fail", "pass" or "inconclusive"',
    ],
    [
      'a non-http webhook',
      { provider: 'webhook', successCondition: { max: 1 }, webhook: { url: 'file:///etc/passwd' } },
      'webhook.url: must be an http or https url',
    ],
    ['a zero count', { provider: 'errorRate', failureCondition: { max: 1 }, count: 0 }, 'count'],
  ])('refuses %s', (_name, input, message) => {
    const result = AnalysisSpec.safeParse(input);
    expect(result.success).toBe(false);
    const text = result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    expect(text).toContain(message);
  });

  it('fills in the defaults', () => {
    expect(
      AnalysisSpec.parse({
        provider: 'webhook',
        webhook: { url: 'http://127.0.0.1:9/m' },
        successCondition: { max: 1 },
      }),
    ).toEqual({
      provider: 'webhook',
      initialDelayMs: 0,
      intervalMs: 60_000,
      count: 1,
      successCondition: { max: 1 },
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
      noData: 'inconclusive',
      dryRun: false,
      webhook: { url: 'http://127.0.0.1:9/m', timeoutMs: 10_000, headers: {} },
    });
  });
});

describe('measurement schedule', () => {
  it.each([
    // initialDelayMs, intervalMs, count, taken, due at (started at 1000)
    [0, 10_000, 3, 0, 11_000],
    [0, 10_000, 3, 2, 31_000],
    [0, 10_000, 3, 3, null],
    [5_000, 10_000, 1, 0, 16_000],
    [5_000, 10_000, 1, 1, null],
    [0, 1_000, undefined, 999, 1_001_000],
  ] as const)(
    'with delay %i, interval %i and count %s, measurement %i+1 is due at %s',
    (initialDelayMs, intervalMs, count, taken, at) => {
      expect(nextMeasurementAt({ initialDelayMs, intervalMs, count }, 1_000, taken)).toBe(at);
    },
  );
});

describe('judging one measurement, word for word', () => {
  it.each([
    // conditions, value, outcome, detail
    [{ failureCondition: { min: 0.5 } }, 0.5, 'successful', 'errorRate 0.5 >= min 0.5'],
    [{ failureCondition: { min: 0.5 } }, 0.4999, 'failed', 'errorRate 0.4999 < min 0.5'],
    [{ failureCondition: { max: 0.5 } }, 0.5, 'successful', 'errorRate 0.5 <= max 0.5'],
    [{ failureCondition: { min: 1, max: 2 } }, 1, 'successful', 'errorRate 1 >= min 1 and <= max 2'],
    [{ failureCondition: undefined, successCondition: { min: 10 } }, 10, 'successful', 'errorRate 10 >= min 10'],
    [{ failureCondition: undefined, successCondition: { min: 10 } }, 9, 'failed', 'errorRate 9 < min 10'],
    [{ provider: 'latencyP99', failureCondition: { max: 250 } }, 12_345.6, 'failed', 'latencyP99 12346 > max 250'],
    [{ provider: 'latencyP99', failureCondition: { max: 99_999 } }, 1000, 'successful', 'latencyP99 1000 <= max 99999'],
    [{ provider: 'latencyP99', failureCondition: { max: 250 } }, 250.123456, 'failed', 'latencyP99 250.1 > max 250'],
    [{ failureCondition: { max: 0.01 } }, -0.5, 'successful', 'errorRate -0.5 <= max 0.01'],
  ] as const)('%o with %d is %s: %s', (overrides, value, outcome, detail) => {
    expect(judgeMeasurement(spec(overrides), { value })).toEqual({ outcome, detail });
  });

  it.each([
    [Number.POSITIVE_INFINITY, 'measurement error: errorRate is not a finite number (Infinity)'],
    [Number.NEGATIVE_INFINITY, 'measurement error: errorRate is not a finite number (-Infinity)'],
    [Number.NaN, 'measurement error: errorRate is not a finite number (NaN)'],
  ])('takes %d for a measurement error', (value, detail) => {
    expect(judgeMeasurement(spec(), { value })).toEqual({ outcome: 'error', detail });
  });

  it('reports the bare figure when there is no condition to judge it by', () => {
    const bare = { provider: 'errorRate' as const, noData: 'inconclusive' as const };
    expect(judgeMeasurement(bare, { value: 0.25 })).toEqual({ outcome: 'successful', detail: 'errorRate 0.25' });
  });
});

describe('analysis verdict, word for word', () => {
  it.each([
    // name, spec overrides, measurements, status, reason
    ['running before any measurement', {}, [], 'running', '0 of 3 measurements taken'],
    ['running after one measurement', {}, [v(0.2)], 'failed', 'errorRate 0.2 > max 0.01 in 1 of 1 measurements'],
    [
      'inconclusive past inconclusiveLimit, naming the limit',
      { successCondition: { max: 0.01 }, failureCondition: { max: 0.05 }, inconclusiveLimit: 1, count: 5 },
      [v(0.03), v(0), v(0.04)],
      'inconclusive',
      'errorRate 0.04 > max 0.01 in 2 of 3 measurements (inconclusive limit 1): waiting for a person',
    ],
    [
      'no usable measurement, some without data',
      { count: 3, noData: 'inconclusive', consecutiveErrorLimit: 5, inconclusiveLimit: 5 },
      [err('a'), none, none],
      'inconclusive',
      'no usable measurement in 3 (1 errors, 2 without data): waiting for a person',
    ],
    [
      'no usable measurement, only errors',
      { count: 3, consecutiveErrorLimit: 5 },
      [err('a'), err('b'), err('c')],
      'inconclusive',
      'no usable measurement in 3 (3 errors): waiting for a person',
    ],
    [
      'no usable measurement, failures within their limit',
      { count: 2, failureLimit: 5 },
      [v(0.5), v(0.6)],
      'inconclusive',
      'no usable measurement in 2 (0 errors): waiting for a person',
    ],
    [
      'successful without failures says nothing of a limit',
      { count: 2, failureLimit: 3 },
      [v(0), v(0.005)],
      'successful',
      'errorRate 0.005 <= max 0.01 in 2 of 2 measurements',
    ],
    [
      'successful despite failures names them and the limit',
      { count: 3, failureLimit: 3 },
      [v(0), v(0.5), v(0.005)],
      'successful',
      'errorRate 0.005 <= max 0.01 in 2 of 3 measurements; 1 failed within limit 3',
    ],
    [
      'running with figures so far',
      { count: 4, failureLimit: 3, consecutiveErrorLimit: 3 },
      [v(0), v(0.5), err('x')],
      'running',
      '3 of 4 measurements taken (1 successful, 1 failed, 1 errors)',
    ],
  ] as const)('%s', (_name, overrides, measurements, status, reason) => {
    const verdict = analysisVerdict(spec(overrides), measurements);
    expect({ status: verdict.status, reason: verdict.reason }).toEqual({ status, reason });
  });

  it('counts no-data measurements apart from errors', () => {
    const { counts, reason } = analysisVerdict(spec({ count: 3, noData: 'pass' }), [none, err('x'), v(0)]);
    expect(counts).toEqual({
      measured: 3,
      successful: 2,
      failed: 0,
      inconclusive: 0,
      noData: 1,
      errors: 1,
      consecutiveErrors: 0,
    });
    expect(reason).toBe('errorRate 0 <= max 0.01 in 2 of 3 measurements');
  });

  it('reports a dry run that is still measuring as running, with what it would be', () => {
    expect(analysisVerdict(spec({ dryRun: true }), [v(0.2)])).toEqual({
      status: 'running',
      observed: 'failed',
      dryRun: true,
      counts: {
        measured: 1,
        successful: 0,
        failed: 1,
        inconclusive: 0,
        noData: 0,
        errors: 0,
        consecutiveErrors: 0,
      },
      reason: 'errorRate 0.2 > max 0.01 in 1 of 1 measurements (dry run: would be failed)',
    });
    expect(analysisVerdict(spec({ dryRun: true }), [v(0)]).reason).toBe(
      '1 of 3 measurements taken (1 successful, 0 failed, 0 errors) (dry run)',
    );
  });
});
