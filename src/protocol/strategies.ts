import { z } from 'zod';
import { HostOrder } from './hostOrder';

/** A percentage of the current host set, e.g. `"25%"`. */
export type Percentage = `${number}%`;

/**
 * A host count: a number of hosts or a percentage of the current host set. `min` is the smallest
 * absolute value allowed (1 for counts that must move at least one host, 0 for limits).
 */
function hostCount(min: 0 | 1) {
  const percent = z.templateLiteral([z.number(), z.literal('%')]).refine(
    (s) => {
      const n = Number.parseFloat(s);
      return n >= min && n <= 100 && (min === 0 || n > 0);
    },
    `must be a percentage from ${min === 0 ? '0' : 'above 0'} to 100, like "25%"`,
  );
  return z.union(
    [
      z.number().min(min, `must be at least ${min}`).refine(Number.isInteger, 'must be a whole number of hosts'),
      percent,
    ],
    {
      error: (iss) =>
        iss.code === 'invalid_union' ? `must be a number of hosts or a percentage like "25%"` : undefined,
    },
  );
}

/** A count of hosts to move (at least one): `3` or `"25%"`. Percentages round up. */
export const HostCount = hostCount(1);
export type HostCount = z.output<typeof HostCount>;

/** A limit on hosts (may be zero): `0`, `2` or `"10%"`. Percentages round down. */
export const HostLimit = hostCount(0);
export type HostLimit = z.output<typeof HostLimit>;

/** Where an analysis gets its figures from. */
export const AnalysisProviderName = z.enum(['errorRate', 'latencyP99', 'webhook', 'prometheus'], {
  error: () => 'must be "errorRate", "latencyP99", "webhook" or "prometheus"',
});
export type AnalysisProviderName = z.output<typeof AnalysisProviderName>;

/**
 * Bounds a healthy value stays within. As `successCondition` a value inside passes; as `failureCondition`
 * a value outside fails; with both, a value between them is inconclusive.
 */
export const AnalysisCondition = z
  .strictObject({
    metric: z.string().min(1).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((c) => c.min !== undefined || c.max !== undefined, 'a condition needs "min" or "max"')
  .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, {
    message: '"min" must not be above "max"',
    path: ['min'],
  });
export type AnalysisCondition = z.output<typeof AnalysisCondition>;

/** Where the webhook provider posts and how long it waits. */
export const WebhookSpec = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http or https url' }),
  timeoutMs: z.number().int().min(1).default(10_000),
  headers: z.record(z.string(), z.string()).default({}),
});
export type WebhookSpec = z.output<typeof WebhookSpec>;

/** The placeholders a Prometheus query may use, filled in per measurement. */
export const PROMETHEUS_QUERY_PLACEHOLDERS = ['app', 'revision', 'hash'] as const;

/** A PromQL instant query; `{{app}}`, `{{revision}}` and `{{hash}}` are filled in per measurement. */
const PromQuery = z
  .string()
  .min(1, 'must be a PromQL expression')
  .refine(
    (q) =>
      [...q.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].every((m) =>
        (PROMETHEUS_QUERY_PLACEHOLDERS as readonly string[]).includes(m[1] ?? ''),
      ),
    'placeholders are {{app}}, {{revision}} and {{hash}}',
  );

/** What to do with a measurement that has no data (no traffic in the window). */
export const NoDataPolicy = z.enum(['fail', 'pass', 'inconclusive'], {
  error: () => 'must be "fail", "pass" or "inconclusive"',
});
export type NoDataPolicy = z.output<typeof NoDataPolicy>;

const analysisShape = {
  name: z.string().min(1).optional(),
  provider: AnalysisProviderName,
  /** Name of the measured figure; built-ins measure their own name, a webhook defaults to "value". */
  metric: z.string().min(1).optional(),
  initialDelayMs: z.number().int().min(0).default(0),
  /** Each measurement covers the interval before it. */
  intervalMs: z.number().int().min(1).default(60_000),
  count: z.number().int().min(1).default(1),
  successCondition: AnalysisCondition.optional(),
  failureCondition: AnalysisCondition.optional(),
  /** Failed measurements tolerated; one more fails the analysis. */
  failureLimit: z.number().int().min(0).default(0),
  /** Inconclusive measurements tolerated; one more holds the rollout for a person. */
  inconclusiveLimit: z.number().int().min(0).default(0),
  /** Measurement errors in a row tolerated; one more fails the analysis. */
  consecutiveErrorLimit: z.number().int().min(0).default(4),
  noData: NoDataPolicy.default('inconclusive'),
  /** Measure and report, but never fail or hold the rollout. */
  dryRun: z.boolean().default(false),
  webhook: WebhookSpec.optional(),
  /** Provider `prometheus`: the server's base url, e.g. `http://prometheus:9090`. */
  address: z.url({ protocol: /^https?$/, error: 'must be an http or https url' }).optional(),
  /** Provider `prometheus`: the PromQL instant query; its result must be a scalar or a single series. */
  query: PromQuery.optional(),
  /** Provider `prometheus`: how long one query may take (ms, default 10,000). */
  timeoutMs: z.number().int().min(1).optional(),
};

interface AnalysisFields {
  provider: AnalysisProviderName;
  metric?: string | undefined;
  successCondition?: AnalysisCondition | undefined;
  failureCondition?: AnalysisCondition | undefined;
  webhook?: WebhookSpec | undefined;
  address?: string | undefined;
  query?: string | undefined;
  timeoutMs?: number | undefined;
}

/** The name of the figure an analysis measures. */
export function analysisMetric(spec: Pick<AnalysisFields, 'provider' | 'metric'>): string {
  return spec.metric ?? (spec.provider === 'webhook' || spec.provider === 'prometheus' ? 'value' : spec.provider);
}

function checkAnalysis(spec: AnalysisFields, ctx: z.RefinementCtx): void {
  if (spec.provider === 'webhook' && spec.webhook === undefined) {
    ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'provider "webhook" needs webhook: { url }' });
  }
  if (spec.provider !== 'webhook' && spec.webhook !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['webhook'], message: `provider "${spec.provider}" takes no webhook` });
  }
  for (const key of ['address', 'query', 'timeoutMs'] as const) {
    if (spec.provider === 'prometheus' && spec[key] === undefined && key !== 'timeoutMs') {
      ctx.addIssue({ code: 'custom', path: [key], message: `provider "prometheus" needs ${key}` });
    }
    if (spec.provider !== 'prometheus' && spec[key] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: `provider "${spec.provider}" takes no ${key}` });
    }
  }
  const named = spec.provider === 'webhook' || spec.provider === 'prometheus';
  if (!named && spec.metric !== undefined && spec.metric !== spec.provider) {
    ctx.addIssue({
      code: 'custom',
      path: ['metric'],
      message: `provider "${spec.provider}" measures "${spec.provider}", not "${spec.metric}"`,
    });
  }
  if (spec.successCondition === undefined && spec.failureCondition === undefined) {
    ctx.addIssue({ code: 'custom', path: [], message: 'an analysis needs a successCondition or a failureCondition' });
  }
  const metric = analysisMetric(spec);
  for (const key of ['successCondition', 'failureCondition'] as const) {
    const named = spec[key]?.metric;
    if (named !== undefined && named !== metric) {
      ctx.addIssue({
        code: 'custom',
        path: [key, 'metric'],
        message: `"${named}" is not measured by this analysis (it measures "${metric}")`,
      });
    }
  }
}

/**
 * One analysis: take `count` measurements `intervalMs` apart and judge each against the conditions.
 * @example
 * AnalysisSpec.parse({ provider: 'errorRate', count: 3, intervalMs: 10_000, failureCondition: { metric: 'errorRate', max: 0.01 } })
 */
export const AnalysisSpec = z.strictObject(analysisShape).superRefine(checkAnalysis);
export type AnalysisSpec = z.output<typeof AnalysisSpec>;
export type AnalysisSpecInput = z.input<typeof AnalysisSpec>;

/** An analysis that runs beside the canary steps; without `count` it measures until the rollout ends. */
export const BackgroundAnalysis = z
  .strictObject({
    ...analysisShape,
    count: z.number().int().min(1).optional(),
    /** Index of the canary step at which it starts. */
    startingStep: z.number().int().min(0).default(0),
  })
  .superRefine(checkAnalysis);
export type BackgroundAnalysis = z.output<typeof BackgroundAnalysis>;
export type BackgroundAnalysisInput = z.input<typeof BackgroundAnalysis>;

/** One measurement as recorded: a value, no data, or an error (the provider threw). */
export const AnalysisMeasurement = z.union([
  z.strictObject({ value: z.number() }),
  z.strictObject({ noData: z.literal(true) }),
  z.strictObject({ error: z.string() }),
]);
export type AnalysisMeasurement = z.output<typeof AnalysisMeasurement>;

/**
 * What is wrong with a canary step: the problems of the kind of step it names (its one key), with their
 * paths inside the step (`analysis.count: must be at least 1`), or which kinds there are.
 */
function stepProblem(iss: { input?: unknown; errors?: unknown }): string {
  const input = iss.input;
  const named = typeof input === 'object' && input !== null ? Object.keys(input) : [];
  const branches = Array.isArray(iss.errors)
    ? (iss.errors as Array<Array<{ path: PropertyKey[]; message: string }>>)
    : [];
  const own = branches.find(
    (errs) => errs.length > 0 && errs.every((e) => e.path.length > 0 && named.includes(String(e.path[0]))),
  );
  if (own === undefined) return 'a canary step is one of { setHosts }, { pause } or { analysis }';
  return own.map((e) => `${e.path.map(String).join('.')}: ${e.message}`).join('; ');
}

/** One canary step: move hosts to the new version, wait, or analyse. */
export const CanaryStep = z.union(
  [
    /** Total hosts serving the new version after this step (never shrinks). */
    z.strictObject({ setHosts: HostCount }),
    /** Without `durationMs`: until `rollout.resume` or `rollout.promote`. */
    z.strictObject({ pause: z.strictObject({ durationMs: z.number().int().min(1).optional() }) }),
    z.strictObject({ analysis: AnalysisSpec }),
  ],
  { error: (iss) => (iss.code === 'invalid_union' ? stepProblem(iss) : undefined) },
);
export type CanaryStep = z.output<typeof CanaryStep>;

/** What a plan does when two versions would need the same resource on one host at once. */
export const OnConflict = z.enum(['fail', 'rolling'], { error: () => 'must be "fail" or "rolling"' });
export type OnConflict = z.output<typeof OnConflict>;

/** The deadlines, the lost-host policy and the health gate every strategy shares (docs/rollout-semantics.md). */
export const commonShape = {
  /**
   * Time one host has from its apply to passing verification (Nomad's healthy deadline); past it the host
   * counts as failed with code `timeout`, even while other hosts keep the rollout making progress. Unset:
   * 300,000 or the progress deadline, whichever is shorter. Must be below `progressDeadlineMs`.
   */
  applyDeadlineMs: z.number().int().min(1).optional(),
  /** Time allowed without progress (a host verified, a step done, a measurement taken) before the deadline passes. */
  progressDeadlineMs: z.number().int().min(1).default(600_000),
  /** On an expired deadline roll back (`true`) or only report a condition (`false`). */
  progressDeadlineAbort: z.boolean().default(true),
  /** A host lost while applied but not yet verified fails the rollout, or is skipped with a `HostLost` condition. */
  onHostLost: z.enum(['rollback', 'skip']).default('rollback'),
  /** Health gate: a host passes once it served the target for this long. Must be below the apply deadline. */
  minReadyMs: z.number().int().min(0).default(0),
};

/** The apply deadline a strategy runs with: `applyDeadlineMs`, or 300,000 capped by the progress deadline. */
export function applyDeadlineOf(s: { applyDeadlineMs?: number | undefined; progressDeadlineMs: number }): number {
  return s.applyDeadlineMs ?? Math.min(300_000, s.progressDeadlineMs);
}

/** Refuses deadlines that cannot work together: `minReadyMs < applyDeadlineMs < progressDeadlineMs`. */
export function checkDeadlines(
  s: { applyDeadlineMs?: number | undefined; progressDeadlineMs: number; minReadyMs: number },
  ctx: z.RefinementCtx,
): void {
  if (s.applyDeadlineMs !== undefined && s.applyDeadlineMs >= s.progressDeadlineMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['applyDeadlineMs'],
      message: `must be below progressDeadlineMs (${s.progressDeadlineMs}): a host needs its verification inside the progress window`,
    });
  }
  const apply = applyDeadlineOf(s);
  if (s.minReadyMs >= apply) {
    ctx.addIssue({
      code: 'custom',
      path: ['minReadyMs'],
      message: `must be below the apply deadline (${apply}): no host could pass the health gate in time`,
    });
  }
}

const progressShape = {
  ...commonShape,
  onConflict: OnConflict.default('fail'),
  /** Health gate: a host fails when its target version's errors / answered exceed this. Unset: no error budget. */
  maxErrorRate: z.number().min(0).max(1).optional(),
};

/**
 * Canary: steps that move a growing share of hosts to the new version, with pauses and analysis between.
 * @example
 * CanaryStrategy.parse({ type: 'canary', steps: [{ setHosts: 1 }, { pause: { durationMs: 60_000 } }, { setHosts: '50%' }] })
 */
export const CanaryStrategy = z
  .strictObject({
    type: z.literal('canary'),
    steps: z.array(CanaryStep).default([]),
    /** Which hosts go first (e.g. `{ label: 'zone', values: ['canary'] }`); ties by host id. */
    hostOrder: HostOrder.default('name'),
    /** Hosts applied at once within a step; unset: all of the step's hosts. Rounds up. */
    maxParallel: HostCount.optional(),
    /** Hosts allowed to be unavailable at once; unset: equal to maxParallel. Rounds down. */
    maxUnavailable: HostLimit.optional(),
    backgroundAnalysis: BackgroundAnalysis.optional(),
    ...progressShape,
  })
  .superRefine((s, ctx) => {
    checkDeadlines(s, ctx);
    // Only same-kind values compare without a host count; mixed kinds are clamped when planned.
    let lastCount: number | undefined;
    let lastPercent: number | undefined;
    s.steps.forEach((step, i) => {
      if (!('setHosts' in step)) return;
      const v = step.setHosts;
      if (typeof v === 'number') {
        if (lastCount !== undefined && v < lastCount) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'setHosts'],
            message: `setHosts never shrinks: ${v} after ${lastCount}`,
          });
        }
        lastCount = v;
      } else {
        const p = Number.parseFloat(v);
        if (lastPercent !== undefined && p < lastPercent) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', i, 'setHosts'],
            message: `setHosts never shrinks: "${v}" after "${lastPercent}%"`,
          });
        }
        lastPercent = p;
      }
    });
    const background = s.backgroundAnalysis;
    if (background !== undefined && background.startingStep > s.steps.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['backgroundAnalysis', 'startingStep'],
        message: `startingStep ${background.startingStep} is past the last step (${s.steps.length} steps)`,
      });
    }
  });
export type CanaryStrategy = z.output<typeof CanaryStrategy>;
export type CanaryStrategyInput = z.input<typeof CanaryStrategy>;

/**
 * Blue-green: the new version runs as a standby beside the old on every host, then is promoted at once;
 * the old instance is retained for `keepOldForMs` so an abort switches straight back.
 * @example
 * BlueGreenStrategy.parse({ type: 'blueGreen', autoPromote: false, keepOldForMs: 60_000 })
 */
export const BlueGreenStrategy = z
  .strictObject({
    type: z.literal('blueGreen'),
    /** Hosts (first in hostOrder) whose standby serves preview traffic before promotion. */
    previewHosts: HostLimit.default('100%'),
    hostOrder: HostOrder.default('name'),
    /** Hosts whose standby is installed at once; unset: all. Rounds up. */
    maxParallel: HostCount.optional(),
    /** Promote without a person once the standby is verified and pre-promotion analysis passed. */
    autoPromote: z.boolean().default(true),
    /** With autoPromote: wait this long after the standby is ready before promoting. */
    autoPromoteAfterMs: z.number().int().min(0).optional(),
    /** How long the old instance is kept after promotion, so an abort is an instant switch back. */
    keepOldForMs: z.number().int().min(0).default(30_000),
    prePromotionAnalysis: AnalysisSpec.optional(),
    postPromotionAnalysis: AnalysisSpec.optional(),
    ...progressShape,
  })
  .superRefine((s, ctx) => {
    checkDeadlines(s, ctx);
    if (s.autoPromoteAfterMs !== undefined && !s.autoPromote) {
      ctx.addIssue({
        code: 'custom',
        path: ['autoPromoteAfterMs'],
        message: 'autoPromoteAfterMs needs autoPromote: true',
      });
    }
  });
export type BlueGreenStrategy = z.output<typeof BlueGreenStrategy>;
export type BlueGreenStrategyInput = z.input<typeof BlueGreenStrategy>;
