// Test doubles for the invocation gate: serving instances whose calls stay in flight until a test answers
// them (by hand or on a simulated clock), and a way to let promise callbacks run without waiting in real time.
import { SimulatedClock } from 'xstate';
import { Gate, type GateTarget } from '../../src/host/gate';

export const bytes = (s: string) => new TextEncoder().encode(s);
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Lets every pending promise callback run (a macrotask runs only once the microtask queue is empty). */
export const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * What `promise` settles with once every pending callback ran; rejects at once when it is still pending, so a
 * test of the gate fails by an assertion, never by waiting for a test timeout.
 */
export async function promptly<T>(promise: Promise<T>): Promise<T> {
  const seen = outcome(promise);
  await settled();
  if (seen.state === 'fulfilled') return seen.value as T;
  if (seen.state === 'rejected') throw seen.error;
  throw new Error('still pending once every pending callback ran');
}

/** One call an instance received and has not answered yet. */
export interface HeldCall {
  readonly payload: string;
  /** Clock time at which the instance received it. */
  readonly at: number;
  answer(): void;
  fail(error?: unknown): void;
}

/** A serving instance that keeps every call in flight until the test answers it. */
export interface HeldTarget extends GateTarget {
  /** Calls received and not yet answered, oldest first. */
  readonly held: HeldCall[];
  /** Every payload received, in order. */
  readonly received: string[];
  /** Answers (or fails) the oldest held call. */
  answerNext(): void;
  failNext(error?: unknown): void;
  /** Answers every held call. */
  answerAll(): void;
}

export function heldTarget(hash: string, now: () => number = () => 0): HeldTarget {
  const held: HeldCall[] = [];
  const received: string[] = [];
  const take = () => {
    const call = held.shift();
    if (call === undefined) throw new Error(`no call held by "${hash}"`);
    return call;
  };
  return {
    hash,
    held,
    received,
    invoke(_operation, payload) {
      const p = text(payload);
      received.push(p);
      return new Promise<Uint8Array>((resolve, reject) => {
        held.push({
          payload: p,
          at: now(),
          answer: () => resolve(bytes(`${hash}:${p}`)),
          fail: (error = new Error(`${hash} failed ${p}`)) => reject(error),
        });
      });
    },
    answerNext: () => take().answer(),
    failNext: (error) => take().fail(error),
    answerAll: () => {
      for (const call of held.splice(0)) call.answer();
    },
  };
}

/** A gate whose figures come from a simulated clock (starting at 0): pauses and latencies are exact. */
export function clockedGate(capacity?: number): { gate: Gate; clock: SimulatedClock } {
  const clock = new SimulatedClock();
  const gate = new Gate({
    componentId: 'api',
    now: () => clock.now(),
    ...(capacity === undefined ? {} : { capacity }),
  });
  return { gate, clock };
}

/** Records how a promise ended, without an unhandled rejection. */
export function outcome<T>(promise: Promise<T>): {
  readonly state: 'pending' | 'fulfilled' | 'rejected';
  value?: T;
  error?: unknown;
} {
  const out: { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => {
      out.state = 'fulfilled';
      out.value = value;
    },
    (error: unknown) => {
      out.state = 'rejected';
      out.error = error;
    },
  );
  return out;
}
