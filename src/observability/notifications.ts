// Rollout notifications: the event schema an orchestrator's `notify` option receives, and the per-orchestrator
// notifier that turns rollout views, analysis verdicts and outcomes into those events, numbered per rollout,
// and into OpenTelemetry metrics and spans (./telemetry.ts). It never awaits nor lets a throwing `notify`
// reach the rollout: notifications must not slow or break one.
import type { Span } from '@opentelemetry/api';
import { z } from 'zod';
import type { Clock } from '../ports/clock';
import { RolloutOutcome, type RolloutOutput } from '../protocol/rollout';
import { AnalysisProviderName } from '../protocol/strategies';
import { endSpan, instruments, startSpan, traceparentOf, withSpan } from './telemetry';

const base = {
  /** Schema version of the event. */
  schema: z.literal(1),
  /** 1, 2, 3… per rollout on this orchestrator: a receiver drops a number it has seen (deliveries may repeat). */
  seq: z.number().int().min(1),
  /** When the orchestrator noticed it, on its clock (ms since the epoch). */
  at: z.number(),
  lattice: z.string(),
  /** The orchestrator that sent it (its lease holder name): `seq` counts per orchestrator. */
  orchestrator: z.string(),
  rolloutId: z.string(),
  app: z.string(),
  targetVersion: z.string().nullable(),
  stableVersion: z.string().nullable(),
};

/**
 * One notification about a rollout: a `rollout.phase` change (dotted machine state, e.g. `progressing.analyzing`),
 * a `rollout.paused` / `rollout.resumed` by a person, a `rollout.analysis` verdict, or the `rollout.outcome`.
 * @example
 * NotificationEvent.parse(JSON.parse(body)).type // 'rollout.phase'
 */
export const NotificationEvent = z.discriminatedUnion('type', [
  z.strictObject({
    ...base,
    type: z.literal('rollout.phase'),
    from: z.string().nullable(),
    to: z.string(),
    batch: z.number().int(),
    batches: z.number().int(),
  }),
  z.strictObject({ ...base, type: z.literal('rollout.paused'), reason: z.string().nullable() }),
  z.strictObject({ ...base, type: z.literal('rollout.resumed') }),
  z.strictObject({
    ...base,
    type: z.literal('rollout.analysis'),
    /** The analysis' name (or its metric), and which run: `background` or `bN.aM` (batch N, analysis M). */
    analysis: z.string(),
    run: z.string(),
    provider: AnalysisProviderName,
    verdict: z.enum(['passed', 'failed', 'inconclusive']),
    reason: z.string().nullable(),
  }),
  z.strictObject({
    ...base,
    type: z.literal('rollout.outcome'),
    outcome: RolloutOutcome,
    code: z.string().nullable(),
    reason: z.string(),
  }),
]);
export type NotificationEvent = z.output<typeof NotificationEvent>;

/** The `type`s of {@link NotificationEvent}. */
export const NOTIFICATION_TYPES = [
  'rollout.phase',
  'rollout.paused',
  'rollout.resumed',
  'rollout.analysis',
  'rollout.outcome',
] as const;

/** What an orchestrator calls with each notification; a returned promise is not awaited (its rejection is ignored). */
export type Notify = (event: NotificationEvent) => void | Promise<void>;

/** The fields of a rollout view a notification is made from. */
export interface ViewFacts {
  id: string;
  app: string;
  state: string;
  paused: boolean;
  reason: string | null;
  batch: number;
  batches: number;
  targetVersion: string | null;
  stableVersion: string | null;
}

/** An analysis' verdict as the analysis effect reports it. */
export interface AnalysisNote {
  rolloutId: string;
  app: string;
  targetVersion: string;
  stableVersion: string | null;
  analysis: string;
  run: string;
  provider: AnalysisProviderName;
  verdict: 'passed' | 'failed' | 'inconclusive';
  reason: string | null;
}

type Body<T extends NotificationEvent['type']> = Omit<
  Extract<NotificationEvent, { type: T }>,
  'schema' | 'seq' | 'at' | 'lattice' | 'orchestrator'
>;

interface Followed {
  seq: number;
  state: string | null;
  paused: boolean;
  batch: number;
  startedAt: number;
  phaseAt: number;
  span: Span | undefined;
  batchSpan: Span | undefined;
}

/**
 * Turns an orchestrator's rollout changes into numbered {@link NotificationEvent}s for `notify` (when given),
 * and into the rollout metrics and spans of ./telemetry.ts.
 */
export class Notifier {
  readonly #notify: Notify | undefined;
  readonly #lattice: string;
  readonly #holder: string;
  readonly #clock: Clock;
  readonly #rollouts = new Map<string, Followed>();
  /** The rollout of each app driven here now (its spans give an apply its trace context). */
  readonly #byApp = new Map<string, Followed>();

  constructor(notify: Notify | undefined, lattice: string, holder: string, clock: Clock) {
    this.#notify = notify;
    this.#lattice = lattice;
    this.#holder = holder;
    this.#clock = clock;
  }

  #of(rolloutId: string): Followed {
    let r = this.#rollouts.get(rolloutId);
    if (r === undefined) {
      const now = this.#clock.now();
      r = {
        seq: 0,
        state: null,
        paused: false,
        batch: -1,
        startedAt: now,
        phaseAt: now,
        span: undefined,
        batchSpan: undefined,
      };
      this.#rollouts.set(rolloutId, r);
    }
    return r;
  }

  #send<T extends NotificationEvent['type']>(body: Body<T>): void {
    if (this.#notify === undefined) return;
    const r = this.#of(body.rolloutId);
    r.seq++;
    const head = { schema: 1, seq: r.seq, at: this.#clock.now(), lattice: this.#lattice, orchestrator: this.#holder };
    const event = { ...head, ...body } as Extract<NotificationEvent, { type: T }>;
    try {
      const p = this.#notify(event);
      if (p !== undefined) void p.catch(() => undefined);
    } catch {
      // A notifier's problem never reaches the rollout.
    }
  }

  /** A rollout's view changed: notifies a new phase, and a pause or resume by a person. */
  view(v: ViewFacts): void {
    const r = this.#of(v.id);
    const common = {
      rolloutId: v.id,
      app: v.app,
      targetVersion: v.targetVersion,
      stableVersion: v.stableVersion,
    };
    if (v.state !== r.state) {
      const from = r.state;
      const now = this.#clock.now();
      if (from === null) {
        this.#byApp.set(v.app, r);
        instruments().rolloutStarted.add(1, { app: v.app });
        r.span = startSpan('cutover.rollout', {
          app: v.app,
          'cutover.rollout.id': v.id,
          version: v.targetVersion ?? '',
        });
      } else {
        instruments().phaseDuration.record((now - r.phaseAt) / 1000, { app: v.app, phase: from });
      }
      r.phaseAt = now;
      r.state = v.state;
      this.#send<'rollout.phase'>({
        ...common,
        type: 'rollout.phase',
        from,
        to: v.state,
        batch: v.batch,
        batches: v.batches,
      });
    }
    if (v.batch !== r.batch && r.span !== undefined) {
      r.batchSpan?.end();
      r.batch = v.batch;
      r.batchSpan = startSpan('cutover.batch', { app: v.app, 'cutover.batch': v.batch }, withSpan(r.span));
    }
    if (v.paused !== r.paused) {
      r.paused = v.paused;
      if (v.paused) this.#send<'rollout.paused'>({ ...common, type: 'rollout.paused', reason: v.reason });
      else this.#send<'rollout.resumed'>({ ...common, type: 'rollout.resumed' });
    }
  }

  /** An analysis reached its verdict. */
  analysis(note: AnalysisNote): void {
    instruments().analysisVerdicts.add(1, { app: note.app, provider: note.provider, verdict: note.verdict });
    this.#send<'rollout.analysis'>({ ...note, type: 'rollout.analysis' });
  }

  /**
   * Starts the span of one analysis measurement (a child of the rollout's); `end` records how it was judged
   * (`successful`, `failed`, `inconclusive` or `error`).
   */
  measurement(rolloutId: string, app: string, provider: string, analysis: string): { end(verdict: string): void } {
    const parent = this.#rollouts.get(rolloutId)?.span;
    const span = startSpan(
      'cutover.analysis.measure',
      { app, 'cutover.analysis': analysis, 'cutover.analysis.provider': provider },
      parent === undefined ? undefined : withSpan(parent),
    );
    return {
      end: (verdict) => {
        instruments().analysisMeasurements.add(1, { app, provider, verdict });
        span.setAttribute('cutover.analysis.verdict', verdict);
        endSpan(span, verdict === 'error' ? 'measurement error' : undefined);
      },
    };
  }

  /** The W3C `traceparent` of the batch (or rollout) span of `app`'s rollout; undefined while no tracer records. */
  traceparent(app: string): string | undefined {
    const r = this.#byApp.get(app);
    const span = r?.batchSpan ?? r?.span;
    return span === undefined ? undefined : traceparentOf(span);
  }

  /** The rollout is final: notifies its outcome and forgets it. */
  outcome(output: RolloutOutput): void {
    const r = this.#of(output.rolloutId);
    if (this.#byApp.get(output.app) === r) this.#byApp.delete(output.app);
    const ended = { app: output.app, outcome: output.outcome };
    instruments().rolloutEnded.add(1, { ...ended, reason: output.code ?? output.outcome });
    instruments().rolloutDuration.record((this.#clock.now() - r.startedAt) / 1000, ended);
    r.batchSpan?.end();
    if (r.span !== undefined) endSpan(r.span, output.outcome === 'completed' ? undefined : output.reason);
    this.#send<'rollout.outcome'>({
      type: 'rollout.outcome',
      rolloutId: output.rolloutId,
      app: output.app,
      targetVersion: output.targetVersion,
      stableVersion: output.stableVersion,
      outcome: output.outcome,
      code: output.code,
      reason: output.reason,
    });
    this.#rollouts.delete(output.rolloutId);
  }
}
