// Concurrency of the invocation gate, as properties: many calls in flight, overlapping pauses, version
// switches, previews beside the gate and overflow, all on a simulated clock so every figure is exact.
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CutoverError } from '../../src/errors';
import { Gate, type GateTarget } from '../../src/host/gate';
import { Histogram } from '../../src/host/histogram';
import { bytes, promptly, settled, text } from './gateHarness';

type Op =
  | { kind: 'invoke'; latency: number; ok: boolean }
  | { kind: 'preview'; hash: 'blue' | 'green'; latency: number; ok: boolean }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'switch'; to: number | null }
  | { kind: 'advance'; ms: number };

const latency = fc.integer({ min: 0, max: 40 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('invoke' as const), latency, ok: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('preview' as const),
      hash: fc.constantFrom('blue' as const, 'green' as const),
      latency,
      ok: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'pause' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'resume' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('switch' as const), to: fc.option(fc.integer({ min: 0, max: 3 })) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }) },
);

/** One call as the test saw it, from the caller's and from the instance's side. */
interface Call {
  readonly id: number;
  readonly acceptedAt: number;
  readonly latency: number;
  readonly ok: boolean;
  /** Expected at once: refused with this code. */
  refusedWith?: string;
  /** Set by the instance: which version ran it, when it got it, when it answered. */
  hash?: string;
  dispatchedAt?: number;
  settledAt?: number;
  /** Accepted while the gate was not open: waits in the buffer. */
  buffered?: boolean;
  /** How many times an instance received it. */
  received: number;
  /** Whether the gate was paused when an instance received it (it never should be). */
  dispatchedWhilePaused?: boolean;
  /** How many answers the caller got (resolve or reject). */
  answers: number;
  answer?: { ok: true; value: string } | { ok: false; error: unknown };
}

/** A serving (or previewed) version whose calls take their planned time on the simulated clock. */
function timedTarget(
  hash: string,
  clock: SimulatedClock,
  calls: Map<number, Call>,
  log: number[],
  paused: () => boolean = () => false,
): GateTarget {
  return {
    hash,
    invoke(_operation, payload) {
      const call = calls.get(Number(text(payload)));
      if (call === undefined) throw new Error(`unknown call ${text(payload)}`);
      call.received++;
      call.hash = hash;
      call.dispatchedAt = clock.now();
      call.dispatchedWhilePaused = paused();
      log.push(call.id);
      return new Promise<Uint8Array>((resolve, reject) => {
        clock.setTimeout(() => {
          call.settledAt = clock.now();
          if (call.ok) resolve(bytes(`${hash}:${call.id}`));
          else reject(new Error(`${hash} failed ${call.id}`));
        }, call.latency);
      });
    },
  };
}

const summary = (samples: readonly number[]) => {
  const h = new Histogram();
  for (const s of samples) h.record(s);
  return h.summary();
};

/** Runs `ops` against a gate of `capacity` and checks every invariant along the way and at the end. */
async function run(ops: readonly Op[], capacity: number): Promise<void> {
  const clock = new SimulatedClock();
  const gate = new Gate({ componentId: 'api', capacity, now: () => clock.now() });
  const calls = new Map<number, Call>();
  const previews: Call[] = [];
  const dispatchLog: number[] = [];
  const versions = [0, 1, 2, 3].map((v) => timedTarget(`v${v}`, clock, calls, dispatchLog, () => holds > 0));
  const previewTargets = new Map<string, Map<number, Call>>();
  let nextId = 0;

  // The model: pause holds and their figures, what the gate holds, and each pause waiting for its calls.
  let holds = 0;
  let pausedAt = 0;
  const pauseLengths: number[] = [];
  let serving: GateTarget | undefined = versions[0];
  gate.setTarget(serving);
  const pauses: Array<{ waitsFor: number[]; resolvedWith?: { inFlight: number; unsettled: number[] } }> = [];

  const held = () => [...calls.values()].filter((c) => c.refusedWith === undefined && c.answers === 0).length;
  const inFlightIds = () =>
    [...calls.values()].filter((c) => c.dispatchedAt !== undefined && c.settledAt === undefined).map((c) => c.id);
  const checkTotals = () => {
    const all = [...calls.values()];
    const accepted = all.filter((c) => c.refusedWith === undefined);
    const t = gate.totals();
    expect(t.accepted).toBe(t.answered + t.errors + t.inFlight + t.buffered);
    expect(t).toEqual({
      accepted: accepted.length,
      answered: accepted.filter((c) => c.answer?.ok === true).length,
      errors: accepted.filter((c) => c.answer?.ok === false).length,
      refused: all.length - accepted.length,
      inFlight: accepted.filter((c) => c.dispatchedAt !== undefined && c.answers === 0).length,
      buffered: accepted.filter((c) => c.dispatchedAt === undefined && c.answers === 0).length,
    });
  };

  const track = (call: Call, promise: Promise<Uint8Array>) =>
    promise.then(
      (value) => {
        call.answers++;
        call.answer = { ok: true, value: text(value) };
      },
      (error: unknown) => {
        call.answers++;
        call.answer = { ok: false, error };
      },
    );

  for (const o of ops) {
    switch (o.kind) {
      case 'invoke': {
        const holding = held();
        const call: Call = {
          id: nextId++,
          acceptedAt: clock.now(),
          latency: o.latency,
          ok: o.ok,
          received: 0,
          answers: 0,
        };
        calls.set(call.id, call);
        if (serving === undefined && holds === 0) call.refusedWith = 'invoke.notFound';
        else if (holding >= capacity) call.refusedWith = 'gate.overflow';
        else call.buffered = holds > 0 || serving === undefined;
        const answered = gate.invoke('echo', bytes(String(call.id)));
        if (call.refusedWith !== undefined) {
          await expect(promptly(answered)).rejects.toMatchObject({ code: call.refusedWith, componentId: 'api' });
        } else {
          void track(call, answered);
        }
        break;
      }
      case 'preview': {
        const id = nextId++;
        const call: Call = { id, acceptedAt: clock.now(), latency: o.latency, ok: o.ok, received: 0, answers: 0 };
        previews.push(call);
        let own = previewTargets.get(o.hash);
        if (own === undefined) previewTargets.set(o.hash, (own = new Map()));
        own.set(id, call);
        const standby = timedTarget(o.hash, clock, own, []);
        void track(
          call,
          gate.track(o.hash, () => standby.invoke('preview', bytes(String(id)))),
        );
        break;
      }
      case 'pause': {
        if (holds === 0) pausedAt = clock.now();
        holds++;
        const entry: (typeof pauses)[number] = { waitsFor: inFlightIds() };
        pauses.push(entry);
        void gate.pause().then(() => {
          entry.resolvedWith = {
            inFlight: gate.totals().inFlight,
            unsettled: entry.waitsFor.filter((id) => calls.get(id)?.settledAt === undefined),
          };
        });
        break;
      }
      case 'resume': {
        if (holds > 0) {
          holds--;
          if (holds === 0) pauseLengths.push(clock.now() - pausedAt);
        }
        gate.resume();
        break;
      }
      case 'switch': {
        serving = o.to === null ? undefined : versions[o.to];
        gate.setTarget(serving);
        break;
      }
      case 'advance':
        clock.increment(o.ms);
        break;
    }
    await settled();
    checkTotals();
    expect(gate.paused).toBe(holds > 0);
    expect(gate.open).toBe(holds === 0 && serving !== undefined);
    expect(gate.stats().longestPauseMs).toBe(Math.max(0, ...pauseLengths, holds > 0 ? clock.now() - pausedAt : 0));
    // A pause that resolved did so with nothing in flight, every call it waited for settled.
    for (const p of pauses) if (p.resolvedWith) expect(p.resolvedWith).toEqual({ inFlight: 0, unsettled: [] });
  }

  // Wind down: release every pause, serve, and let the clock run until everything is answered.
  while (holds > 0) {
    holds--;
    if (holds === 0) pauseLengths.push(clock.now() - pausedAt);
    gate.resume();
  }
  if (serving === undefined) gate.setTarget((serving = versions[0]));
  for (let i = 0; i < 100 && [...calls.values(), ...previews].some((c) => !c.refusedWith && c.answers === 0); i++) {
    clock.increment(10);
    await settled();
  }
  checkTotals();
  await promptly(gate.close(new CutoverError('gate.closed', 'component "api" is stopping')));
  expect(gate.totals().inFlight).toBe(0);

  // Every accepted call reached one instance exactly once and got exactly its own answer; refused ones none.
  for (const c of calls.values()) {
    if (c.refusedWith !== undefined) {
      expect({ id: c.id, received: c.received, answers: c.answers }).toEqual({ id: c.id, received: 0, answers: 0 });
      continue;
    }
    expect({ id: c.id, received: c.received, answers: c.answers }).toEqual({ id: c.id, received: 1, answers: 1 });
    expect(c.answer).toEqual(
      c.ok ? { ok: true, value: `${c.hash}:${c.id}` } : { ok: false, error: new Error(`${c.hash} failed ${c.id}`) },
    );
  }
  for (const p of previews) expect({ id: p.id, answers: p.answers }).toEqual({ id: p.id, answers: 1 });
  // Nothing reached an instance while a pause held the gate.
  expect([...calls.values()].filter((c) => c.dispatchedWhilePaused).map((c) => c.id)).toEqual([]);
  // Dispatched in arrival order, whatever the pauses.
  expect(dispatchLog).toEqual([...dispatchLog].sort((a, b) => a - b));
  // Every pause resolved, with nothing in flight.
  for (const p of pauses) expect(p.resolvedWith).toEqual({ inFlight: 0, unsettled: [] });

  // Figures, exact: pause lengths, buffered waits, and per version counts and latencies (from acceptance).
  expect(gate.pauses.summary()).toEqual(summary(pauseLengths));
  const accepted = [...calls.values()].filter((c) => c.refusedWith === undefined);
  expect(gate.bufferedWait.summary()).toEqual(
    summary(accepted.filter((c) => c.buffered).map((c) => (c.dispatchedAt as number) - c.acceptedAt)),
  );
  for (const c of accepted) if (!c.buffered) expect(c.dispatchedAt).toBe(c.acceptedAt);
  const byHash: Record<string, { accepted: number; answered: number; errors: number; latencyMs: unknown }> = {};
  const hashes = new Set([...accepted, ...previews].map((c) => c.hash as string));
  for (const hash of hashes) {
    const mine = [...accepted, ...previews].filter((c) => c.hash === hash);
    byHash[hash] = {
      accepted: mine.length,
      answered: mine.filter((c) => c.ok).length,
      errors: mine.filter((c) => !c.ok).length,
      latencyMs: summary(mine.map((c) => (c.settledAt as number) - c.acceptedAt)),
    };
  }
  const stats = gate.stats().byHash;
  for (const hash of hashes) expect(stats[hash]).toEqual(byHash[hash]);
}

// Under mutation testing any counterexample kills the mutant: shrinking it would only cost time.
const shrink = { endOnFailure: process.env.STRYKER_MUTATOR_WORKER !== undefined };

describe('gate concurrency (properties)', () => {
  it('answers every accepted call exactly once, pauses only resolve with nothing in flight, and its figures are exact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), run),
      { numRuns: 150, ...shrink },
    );
  });

  it('resolves a pause over many calls in flight only after the last of them settles, in any order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 0, max: 11 }),
        async (latencies, pauseAfter) => {
          const clock = new SimulatedClock();
          const gate = new Gate({ componentId: 'api', now: () => clock.now() });
          const calls = new Map<number, Call>();
          gate.setTarget(timedTarget('v1', clock, calls, []));
          const answers: Promise<unknown>[] = [];
          latencies.forEach((ms, id) => {
            calls.set(id, { id, acceptedAt: 0, latency: ms, ok: id % 3 !== 0, received: 0, answers: 0 });
            answers.push(gate.invoke('echo', bytes(String(id))).catch(() => undefined));
          });
          const start = Math.min(pauseAfter, Math.max(...latencies) - 1);
          clock.set(start);
          await settled();
          let resolvedAt: number | undefined;
          void gate.pause().then(() => (resolvedAt = clock.now()));
          for (let t = start + 1; t <= 50; t++) {
            clock.set(t);
            await settled();
          }
          await promptly(Promise.all(answers));
          // It resolved exactly when the slowest call settled, not at the first one.
          expect(resolvedAt).toBe(Math.max(...latencies));
          expect(gate.totals()).toMatchObject({ inFlight: 0, buffered: 0, accepted: latencies.length });
          gate.resume();
          expect(gate.pauses.summary().max).toBe(50 - start);
        },
      ),
      { numRuns: 100, ...shrink },
    );
  });
});
