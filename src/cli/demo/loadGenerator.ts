import { toCutoverError } from '../../errors';
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
  const { targets, rate } = options;
  const tickMs = options.tickMs ?? 5;
  const outstanding = new Set<number>();
  const settled = new Set<number>();
  const t: LoadTotals = {
    sent: 0,
    served: 0,
    failed: 0,
    dropped: 0,
    inFlight: 0,
    servedBy: { v1: 0, v2: 0, v3: 0 },
    failures: {},
    samples: {},
  };
  const fail = (code: string, message: string) => {
    t.failed++;
    t.failures[code] = (t.failures[code] ?? 0) + 1;
    t.samples[code] ??= message;
  };
  const started = performance.now();
  let next = 0;
  let stopped = false;

  const send = () => {
    const seq = t.sent++;
    const target = targets[seq % targets.length];
    if (target === undefined) return;
    const payload = `#${seq}@${target.id}`;
    outstanding.add(seq);
    const answered = (): boolean => {
      if (!outstanding.delete(seq)) {
        // A second answer to one call breaks "exactly one answer": counted as lost.
        if (settled.has(seq)) t.dropped++;
        return false;
      }
      settled.add(seq);
      return true;
    };
    let call: Promise<Uint8Array>;
    try {
      call = target.invoke(encoder.encode(payload));
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      (reply) => {
        if (!answered()) return;
        const text = decoder.decode(reply);
        const version = DEMO_VERSIONS.find((v) => text === `${v}:${payload}`);
        if (version === undefined) fail('wrong.reply', `sent "${payload}", got "${text.slice(0, 80)}"`);
        else {
          t.served++;
          t.servedBy[version]++;
        }
      },
      (error: unknown) => {
        if (!answered()) return;
        const e = toCutoverError(error);
        fail(e.code, e.message);
      },
    );
  };

  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) * rate) / 1000);
    // Never burst more than a second's worth after a long stall (e.g. a paused debugger).
    const count = Math.min(due - next, rate);
    for (let i = 0; i < count; i++) send();
    next = due;
  }, tickMs);

  const totals = (): LoadTotals => ({
    ...t,
    inFlight: outstanding.size,
    servedBy: { ...t.servedBy },
    failures: { ...t.failures },
    samples: { ...t.samples },
  });

  return {
    totals,
    async stop(graceMs = 5_000) {
      if (!stopped) {
        stopped = true;
        clearInterval(timer);
      }
      const deadline = performance.now() + graceMs;
      while (outstanding.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const out = totals();
      out.dropped += outstanding.size;
      out.inFlight = 0;
      // Settled sequence numbers are only needed to spot double answers while running.
      settled.clear();
      return out;
    },
  };
}
