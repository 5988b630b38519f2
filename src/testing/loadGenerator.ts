// An invocation load generator: a steady rate (on any clock, so a simulated one sends exactly as time is
// advanced) or a fixed number of calls in flight, with every answer judged and counted exactly once.
import { toCutoverError } from '../errors';
import { type Clock, systemClock } from '../ports/clock';

/** What {@link LoadGeneratorOptions.check} says of a reply: a label to count it under, or an error. */
export type LoadVerdict = { label?: string } | { error: string; message: string };

/** Options of {@link createLoadGenerator}: exactly one of `rate` and `concurrency`. */
export interface LoadGeneratorOptions<R = unknown> {
  /** One call; `seq` counts from 0. A rejection counts as an error under its CutoverError code. */
  invoke: (seq: number) => Promise<R>;
  /** Calls per second of `clock` time. */
  rate?: number;
  /** Calls kept in flight: each answer sends the next one. */
  concurrency?: number;
  /** Clock for `rate` (default: the system clock); give a test its simulated clock. */
  clock?: Clock;
  /** Scheduling step in ms for `rate`: each step sends what is due, so the rate holds when timers run late. */
  tickMs?: number;
  /** Stops sending after this many calls. */
  maxCalls?: number;
  /** Judges a reply (default: every reply is good). */
  check?: (reply: R, seq: number) => LoadVerdict;
}

/** Counts of a load run. Every sent call ends as answered, an error, dropped, or still in flight. */
export interface LoadFigures {
  sent: number;
  /** Answered with a reply `check` accepted. */
  answered: number;
  /** Accepted answers per label `check` gave. */
  answeredBy: Record<string, number>;
  /** Refused, failed, or answered with a reply `check` rejected. */
  errors: number;
  errorsByCode: Record<string, number>;
  /** The first message seen per error code. */
  samples: Record<string, string>;
  /** Never answered by `stop`'s end, or answered twice. */
  dropped: number;
  /** Waiting for an answer right now. */
  inFlight: number;
}

/** A running load generator. */
export interface LoadGenerator {
  figures(): LoadFigures;
  /** Resolves once no call is in flight or about to be sent (with `concurrency`: after `maxCalls`, or stop). */
  idle(): Promise<void>;
  /** Stops sending, waits up to `graceMs` real ms for outstanding answers, and counts the rest as dropped. */
  stop(graceMs?: number): Promise<LoadFigures>;
}

/**
 * Sends invocations at `rate` per second of `clock` time, or `concurrency` at a time, and counts answers.
 * @example
 * const load = createLoadGenerator({ invoke: () => host.invoke('api', 'echo', bytes), rate: 100, clock });
 * await clock.advance(1000);
 * const { sent, answered } = await load.stop();
 */
export function createLoadGenerator<R>(options: LoadGeneratorOptions<R>): LoadGenerator {
  const { rate, concurrency } = options;
  if ((rate === undefined) === (concurrency === undefined)) {
    throw new RangeError('createLoadGenerator needs exactly one of rate and concurrency');
  }
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`rate must be above 0, got ${rate}`);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new RangeError(`concurrency must be a whole number above 0, got ${concurrency}`);
  }
  const clock = options.clock ?? systemClock;
  const maxCalls = options.maxCalls ?? Number.POSITIVE_INFINITY;
  const outstanding = new Set<number>();
  const settled = new Set<number>();
  const idlers: Array<() => void> = [];
  const f: LoadFigures = {
    sent: 0,
    answered: 0,
    answeredBy: {},
    errors: 0,
    errorsByCode: {},
    samples: {},
    dropped: 0,
    inFlight: 0,
  };
  let stopped = false;
  /** Next calls queued for a later turn (`concurrency`). */
  let scheduled = 0;
  const wakeIfIdle = () => {
    if (outstanding.size === 0 && scheduled === 0) for (const wake of idlers.splice(0)) wake();
  };
  const fail = (code: string, message: string) => {
    f.errors++;
    f.errorsByCode[code] = (f.errorsByCode[code] ?? 0) + 1;
    f.samples[code] ??= message;
  };
  const finished = (seq: number): boolean => {
    if (!outstanding.delete(seq)) {
      // A second answer to one call breaks "exactly one answer": counted as lost.
      if (settled.has(seq)) f.dropped++;
      return false;
    }
    settled.add(seq);
    if (concurrency !== undefined && !stopped && f.sent < maxCalls) {
      // The next call goes out on a later turn, so calls that answer at once cannot starve the event loop.
      scheduled++;
      setImmediate(() => {
        scheduled--;
        sendOne();
        wakeIfIdle();
      });
    }
    wakeIfIdle();
    return true;
  };

  const sendOne = () => {
    if (stopped || f.sent >= maxCalls) return;
    const seq = f.sent++;
    outstanding.add(seq);
    let call: Promise<R>;
    try {
      call = options.invoke(seq);
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      (reply) => {
        if (!finished(seq)) return;
        const verdict = options.check?.(reply, seq) ?? {};
        if ('error' in verdict) fail(verdict.error, verdict.message);
        else {
          f.answered++;
          if (verdict.label !== undefined) f.answeredBy[verdict.label] = (f.answeredBy[verdict.label] ?? 0) + 1;
        }
      },
      (error: unknown) => {
        if (!finished(seq)) return;
        const e = toCutoverError(error);
        fail(e.code, e.message);
      },
    );
  };

  let timer: unknown;
  if (rate !== undefined) {
    const tickMs = options.tickMs ?? 5;
    const started = clock.now();
    let next = 0;
    const tick = () => {
      if (stopped) return;
      const due = Math.floor(((clock.now() - started) * rate) / 1000);
      // Never burst more than a second's worth after a long stall (e.g. a paused debugger).
      const count = Math.min(due - next, Math.ceil(rate));
      for (let i = 0; i < count; i++) sendOne();
      next = due;
      timer = clock.setTimeout(tick, tickMs);
    };
    timer = clock.setTimeout(tick, tickMs);
  } else {
    for (let i = 0; i < (concurrency ?? 0); i++) sendOne();
  }

  const figures = (): LoadFigures => ({
    ...f,
    inFlight: outstanding.size,
    answeredBy: { ...f.answeredBy },
    errorsByCode: { ...f.errorsByCode },
    samples: { ...f.samples },
  });

  return {
    figures,
    idle: () =>
      outstanding.size === 0 && scheduled === 0 ? Promise.resolve() : new Promise<void>((r) => idlers.push(r)),
    async stop(graceMs = 5_000) {
      if (!stopped) {
        stopped = true;
        clock.clearTimeout(timer);
      }
      const deadline = Date.now() + graceMs;
      while (outstanding.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const out = figures();
      out.dropped += outstanding.size;
      out.inFlight = 0;
      // Settled sequence numbers are only needed to spot double answers while running.
      settled.clear();
      return out;
    },
  };
}
