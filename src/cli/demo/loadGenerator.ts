// The demo's load: the test kit's load generator (src/testing/loadGenerator.ts) sending round-robin to the
// hosts' gates or the HTTP front door, each answer checked against the demo versions.
import { createLoadGenerator } from '../../testing/loadGenerator';
import { DEMO_VERSIONS, type DemoVersion } from './manifest';

/** Invocation figures of a run. `dropped`: accepted but never answered (or answered twice). */
export interface LoadTotals {
  sent: number;
  served: number;
  /** Refused or answered with an error (by code), or answered with the wrong content. */
  failed: number;
  dropped: number;
  /** Waiting for an answer right now. */
  inFlight: number;
  servedBy: Record<DemoVersion, number>;
  failures: Record<string, number>;
  /** The first message seen per failure code. */
  samples: Record<string, string>;
}

/** A running load generator. */
export interface LoadGenerator {
  totals(): LoadTotals;
  /** Stops sending, waits up to `graceMs` for outstanding answers, and counts what never came as dropped. */
  stop(graceMs?: number): Promise<LoadTotals>;
}

/** One destination of the load. */
export interface LoadTarget {
  readonly id: string;
  invoke(payload: Uint8Array): Promise<Uint8Array>;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /** Where calls go, round-robin: a host's gate (`host.invoke`) or a real HTTP endpoint. */
  targets: readonly LoadTarget[];
  /** Invocations per second over all hosts. */
  rate: number;
  /** Scheduling step (ms); each step sends what is due, so the rate holds even when timers run late. */
  tickMs?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends a steady stream of invocations to the targets (round-robin) and checks every answer: it must be
 * `vN:` + the exact payload sent, from one of the demo versions.
 */
export function startLoad(options: LoadOptions): LoadGenerator {
  const { targets } = options;
  const payloadOf = (seq: number) => `#${seq}@${targets[seq % targets.length]?.id ?? '?'}`;
  const load = createLoadGenerator({
    rate: options.rate,
    ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
    invoke: (seq) => {
      const target = targets[seq % targets.length];
      if (target === undefined) return Promise.reject(new Error('no load targets'));
      return target.invoke(encoder.encode(payloadOf(seq)));
    },
    check: (reply, seq) => {
      const text = decoder.decode(reply);
      const payload = payloadOf(seq);
      const version = DEMO_VERSIONS.find((v) => text === `${v}:${payload}`);
      if (version === undefined)
        return { error: 'wrong.reply', message: `sent "${payload}", got "${text.slice(0, 80)}"` };
      return { label: version };
    },
  });
  const totals = (figures = load.figures()): LoadTotals => ({
    sent: figures.sent,
    served: figures.answered,
    failed: figures.errors,
    dropped: figures.dropped,
    inFlight: figures.inFlight,
    servedBy: { v1: figures.answeredBy.v1 ?? 0, v2: figures.answeredBy.v2 ?? 0, v3: figures.answeredBy.v3 ?? 0 },
    failures: figures.errorsByCode,
    samples: figures.samples,
  });
  return {
    totals: () => totals(),
    stop: async (graceMs) => totals(await load.stop(graceMs)),
  };
}
