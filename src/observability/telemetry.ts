// OpenTelemetry instruments of cutover, through `@opentelemetry/api` only: with no SDK registered every call
// lands on the API's no-op meter and tracer, and the host's figures are observable instruments whose
// callbacks never run, so the cut-over path pays nothing. Instruments are made again when the global meter
// provider changes (an SDK registered after cutover was loaded, e.g. by the CLI's --metrics).
import {
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableResult,
  type Span,
  SpanStatusCode,
  context,
  isSpanContextValid,
  metrics,
  trace,
} from '@opentelemetry/api';
import type { HostInventory } from '../protocol/inventory';

/** The instrumentation scope name of every cutover meter and tracer. */
export const TELEMETRY_SCOPE = 'cutover';

/** Every metric cutover records: name, kind, unit and attributes (the table of docs/observability.md). */
export const METRICS = {
  rolloutStarted: { name: 'cutover.rollout.started', kind: 'counter', unit: '{rollout}', attributes: ['app'] },
  rolloutEnded: {
    name: 'cutover.rollout.ended',
    kind: 'counter',
    unit: '{rollout}',
    attributes: ['app', 'outcome', 'reason'],
  },
  rolloutDuration: { name: 'cutover.rollout.duration', kind: 'histogram', unit: 's', attributes: ['app', 'outcome'] },
  phaseDuration: { name: 'cutover.rollout.phase.duration', kind: 'histogram', unit: 's', attributes: ['app', 'phase'] },
  analysisMeasurements: {
    name: 'cutover.analysis.measurements',
    kind: 'counter',
    unit: '{measurement}',
    attributes: ['app', 'provider', 'verdict'],
  },
  analysisVerdicts: {
    name: 'cutover.analysis.verdicts',
    kind: 'counter',
    unit: '{analysis}',
    attributes: ['app', 'provider', 'verdict'],
  },
  gatePauseDuration: { name: 'cutover.gate.pause.duration', kind: 'histogram', unit: 's', attributes: ['component'] },
  leaseChanges: {
    name: 'cutover.lease.changes',
    kind: 'counter',
    unit: '{change}',
    attributes: ['app', 'change'],
  },
  retries: {
    name: 'cutover.retries',
    kind: 'counter',
    unit: '{retry}',
    attributes: ['code'],
  },
  hostApplies: {
    name: 'cutover.host.applies',
    kind: 'counter',
    unit: '{apply}',
    attributes: ['host', 'app', 'component', 'outcome'],
  },
  invocations: {
    name: 'cutover.invocations',
    kind: 'observable counter',
    unit: '{invocation}',
    attributes: ['host', 'app', 'component', 'version', 'outcome'],
  },
  gateBuffered: {
    name: 'cutover.gate.buffered',
    kind: 'observable gauge',
    unit: '{invocation}',
    attributes: ['host', 'app', 'component'],
  },
  gateInFlight: {
    name: 'cutover.gate.in_flight',
    kind: 'observable gauge',
    unit: '{invocation}',
    attributes: ['host', 'app', 'component'],
  },
} as const;

/** Bucket bounds (s) of rollout and phase durations: a millisecond to an hour. */
const ROLLOUT_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Bucket bounds (s) of gate pauses: 50 µs to 5 s (a cut-over pause is meant to be a few ms). */
const PAUSE_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5];

interface Instruments {
  meter: Meter;
  rolloutStarted: Counter;
  rolloutEnded: Counter;
  rolloutDuration: Histogram;
  phaseDuration: Histogram;
  analysisMeasurements: Counter;
  analysisVerdicts: Counter;
  gatePauseDuration: Histogram;
  hostApplies: Counter;
  leaseChanges: Counter;
  retries: Counter;
}

let made: { provider: unknown; instruments: Instruments } | undefined;

/** The instruments on the global meter provider now (made once per provider). */
export function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  if (made?.provider === provider) return made.instruments;
  const meter = provider.getMeter(TELEMETRY_SCOPE);
  const m = METRICS;
  const counter = (d: { name: string; unit: string }, description: string) =>
    meter.createCounter(d.name, { unit: d.unit, description });
  const histogram = (d: { name: string; unit: string }, description: string, buckets: number[]) =>
    meter.createHistogram(d.name, { unit: d.unit, description, advice: { explicitBucketBoundaries: buckets } });
  const instrumentsNow: Instruments = {
    meter,
    rolloutStarted: counter(m.rolloutStarted, 'Rollouts started'),
    rolloutEnded: counter(m.rolloutEnded, 'Rollouts ended, by outcome and reason code'),
    rolloutDuration: histogram(m.rolloutDuration, 'Time from a rollout start to its outcome', ROLLOUT_BUCKETS),
    phaseDuration: histogram(m.phaseDuration, 'Time a rollout spent in one phase (machine state)', ROLLOUT_BUCKETS),
    analysisMeasurements: counter(m.analysisMeasurements, 'Analysis measurements, by how each was judged'),
    analysisVerdicts: counter(m.analysisVerdicts, 'Analyses that reached a verdict'),
    leaseChanges: counter(m.leaseChanges, 'Leases this orchestrator took (acquired), took over (fenced) or lost'),
    retries: counter(m.retries, 'Store and transport calls of a rollout retried, by the error code that caused it'),
    hostApplies: counter(m.hostApplies, 'Applies a host finished, by outcome (applied, failed, superseded)'),
    gatePauseDuration: histogram(
      m.gatePauseDuration,
      'Length of each invocation gate pause (a cut-over)',
      PAUSE_BUCKETS,
    ),
  };
  made = { provider, instruments: instrumentsNow };
  return instrumentsNow;
}

/** The tracer of cutover spans on the global tracer provider (a no-op one without an SDK). */
export function tracer() {
  return trace.getTracer(TELEMETRY_SCOPE);
}

/** Starts a span as a child of `parent` (or of the active context). */
export function startSpan(name: string, attributes: Attributes, parent?: Context): Span {
  return tracer().startSpan(name, { attributes }, parent ?? context.active());
}

/** Ends `span` with an error status when `error` is given. */
export function endSpan(span: Span, error?: string): void {
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}

/** The context with `span` as its active span, for children started elsewhere. */
export function withSpan(span: Span): Context {
  return trace.setSpan(context.active(), span);
}

/** The W3C `traceparent` of `span`, or undefined when it records nothing (no SDK: an invalid context). */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A context whose parent is the remote span a `traceparent` names (the active one when it is absent or bad). */
export function contextOf(traceparent: string | undefined): Context {
  const m = traceparent === undefined ? null : /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent);
  if (m === null) return context.active();
  const sc = { traceId: m[1] ?? '', spanId: m[2] ?? '', traceFlags: Number.parseInt(m[3] ?? '0', 16), isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(context.active(), sc) : context.active();
}

/**
 * Follows one apply on a host: a `cutover.host.apply` span (a child of the orchestrator's batch span when the
 * request carried its `traceparent`) and `cutover.host.applies` by outcome once `outcome` settles. Returns
 * `outcome` itself.
 */
export function observeApply<T extends { type: string }>(
  outcome: Promise<T>,
  at: { host: string; app: string; component: string; hash: string },
  traceparent: string | undefined,
): Promise<T> {
  const span = startSpan(
    'cutover.host.apply',
    { host: at.host, app: at.app, component: at.component, 'cutover.hash': at.hash },
    contextOf(traceparent),
  );
  const done = (result: string, error?: string) => {
    instruments().hostApplies.add(1, { host: at.host, app: at.app, component: at.component, outcome: result });
    span.setAttribute('cutover.outcome', result);
    endSpan(span, error);
  };
  outcome.then(
    (o) => (o.type === 'component.applied' ? done('applied') : done('failed', o.type)),
    (e: unknown) => done('failed', e instanceof Error ? e.message : String(e)),
  );
  return outcome;
}

/**
 * Observes a host's gate figures (invocations by component, version and outcome; buffer depth and calls in
 * flight) on the global meter provider now. Callbacks read `inventory()` only when a reader collects, so a
 * host without an SDK never runs them. Returns the function that stops observing.
 */
export function observeHost(inventory: () => HostInventory): () => void {
  const { meter } = instruments();
  const invocations = meter.createObservableCounter(METRICS.invocations.name, {
    unit: METRICS.invocations.unit,
    description: 'Invocations through the gate, by component, version (spec hash) and outcome',
  });
  const buffered = meter.createObservableGauge(METRICS.gateBuffered.name, {
    unit: METRICS.gateBuffered.unit,
    description: 'Calls held in the gate buffer while it is paused',
  });
  const inFlight = meter.createObservableGauge(METRICS.gateInFlight.name, {
    unit: METRICS.gateInFlight.unit,
    description: 'Calls dispatched by the gate and not answered yet',
  });
  const observeInvocations = (r: ObservableResult) => {
    const inv = inventory();
    for (const c of inv.components) {
      for (const [hash, n] of Object.entries(c.gate?.byHash ?? {})) {
        const at = { host: inv.hostId, app: c.app, component: c.id, version: hash };
        r.observe(n.answered, { ...at, outcome: 'ok' });
        r.observe(n.errors, { ...at, outcome: 'error' });
      }
    }
  };
  const observeGauge = (pick: 'buffered' | 'inFlight') => (r: ObservableResult) => {
    const inv = inventory();
    for (const c of inv.components) {
      if (c.gate !== undefined) r.observe(c.gate[pick], { host: inv.hostId, app: c.app, component: c.id });
    }
  };
  const gaugeBuffered = observeGauge('buffered');
  const gaugeInFlight = observeGauge('inFlight');
  invocations.addCallback(observeInvocations);
  buffered.addCallback(gaugeBuffered);
  inFlight.addCallback(gaugeInFlight);
  return () => {
    invocations.removeCallback(observeInvocations);
    buffered.removeCallback(gaugeBuffered);
    inFlight.removeCallback(gaugeInFlight);
  };
}
