import { describe, expect, it } from 'vitest';
import { CutoverError } from '../../src/errors';
import { Gate } from '../../src/host/gate';
import { clockedGate, heldTarget, outcome, promptly, settled } from './gateHarness';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const target = (hash: string, log: string[] = []) => ({
  hash,
  invoke: async (_op: string, payload: Uint8Array) => {
    log.push(`${hash}:${text(payload)}`);
    return bytes(`${hash}:${text(payload)}`);
  },
});

describe('gate', () => {
  it('refuses calls while nothing serves, with invoke.notFound', async () => {
    const gate = new Gate({ componentId: 'api' });
    await expect(promptly(gate.invoke('echo', bytes('x')))).rejects.toMatchObject({ code: 'invoke.notFound' });
    expect(gate.totals()).toMatchObject({ refused: 1, accepted: 0 });
  });

  it('buffers while paused and dispatches in arrival order to the new target on resume', async () => {
    const log: string[] = [];
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('old', log));
    await promptly(gate.pause());
    const calls = ['a', 'b', 'c'].map((s) => gate.invoke('echo', bytes(s)));
    expect(gate.stats()).toMatchObject({ open: false, buffered: 3 });
    gate.setTarget(target('new', log));
    gate.resume();
    expect((await promptly(Promise.all(calls))).map(text)).toEqual(['new:a', 'new:b', 'new:c']);
    expect(log).toEqual(['new:a', 'new:b', 'new:c']);
    expect(gate.pauses.count).toBe(1);
    expect(gate.stats().byHash.new).toMatchObject({ accepted: 3, answered: 3, errors: 0 });
  });

  it('holds a pause until every holder released it', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    await promptly(gate.pause());
    await promptly(gate.pause());
    const call = gate.invoke('echo', bytes('x'));
    gate.resume();
    expect(gate.open).toBe(false);
    gate.resume();
    expect(text(await promptly(call))).toBe('v1:x');
  });

  it('refuses with gate.overflow beyond its capacity and counts the refusal', async () => {
    const gate = new Gate({ componentId: 'api', capacity: 2 });
    gate.setTarget(target('v1'));
    await promptly(gate.pause());
    const held = [gate.invoke('echo', bytes('1')), gate.invoke('echo', bytes('2'))];
    await expect(promptly(gate.invoke('echo', bytes('3')))).rejects.toMatchObject({
      code: 'gate.overflow',
      retryable: true,
    });
    gate.resume();
    await promptly(Promise.all(held));
    expect(gate.totals()).toMatchObject({ accepted: 2, answered: 2, refused: 1, inFlight: 0, buffered: 0 });
  });

  it('waits for in-flight calls of one version before it may be disposed', async () => {
    let release: () => void = () => undefined;
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget({ hash: 'old', invoke: () => new Promise((r) => (release = () => r(bytes('late')))) });
    const call = gate.invoke('echo', bytes('x'));
    gate.setTarget(target('new'));
    let idle = false;
    const waiting = gate.idle('old').then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    release();
    await promptly(waiting);
    expect(text(await promptly(call))).toBe('late');
  });

  describe('preview calls beside the gate (track)', () => {
    const fails = () => Promise.reject(new Error('boom'));
    /** Per hash, every call opened is answered, failed or still in flight (buffered calls have no hash yet). */
    const balanced = (gate: Gate) => {
      const t = gate.totals();
      expect(t.accepted).toBe(t.answered + t.errors + t.inFlight + t.buffered);
    };

    it('counts them under their own hash, not in the serving totals', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      const green = target('green');
      const calls = Array.from({ length: 10 }, (_, i) =>
        gate
          .track('green', () => (i % 5 === 0 ? fails() : green.invoke('echo', bytes(`${i}`))))
          .then(text, () => 'error'),
      );
      await promptly(gate.invoke('echo', bytes('s')));
      const answers = await promptly(Promise.all(calls));
      expect(answers.filter((a) => a === 'error')).toHaveLength(2);
      expect(answers[1]).toBe('green:1');
      const stats = gate.stats();
      expect(stats.byHash.green).toMatchObject({ accepted: 10, answered: 8, errors: 2, latencyMs: { count: 10 } });
      expect(stats.byHash.blue).toMatchObject({ accepted: 1, answered: 1, errors: 0 });
      expect(gate.totals()).toMatchObject({ accepted: 1, answered: 1, errors: 0, inFlight: 0, refused: 0 });
      balanced(gate);
    });

    it('runs them while the gate is paused, without buffering', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      await promptly(gate.pause());
      const served = gate.invoke('echo', bytes('s'));
      expect(text(await promptly(gate.track('green', () => target('green').invoke('echo', bytes('p')))))).toBe(
        'green:p',
      );
      expect(gate.stats()).toMatchObject({ open: false, buffered: 1 });
      balanced(gate);
      gate.resume();
      expect(text(await promptly(served))).toBe('blue:s');
      balanced(gate);
    });

    it('keeps one set of counters per hash when the previewed hash starts serving', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      await promptly(gate.track('green', () => target('green').invoke('echo', bytes('p'))));
      await promptly(gate.track('green', fails).catch(() => undefined));
      gate.setTarget(target('green'));
      await promptly(gate.invoke('echo', bytes('s')));
      expect(gate.stats().byHash.green).toMatchObject({ accepted: 3, answered: 2, errors: 1, latencyMs: { count: 3 } });
      expect(gate.totals()).toMatchObject({ accepted: 1, answered: 1 });
    });

    it('makes idle(hash) wait for a preview call in flight', async () => {
      let release: () => void = () => undefined;
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      const call = gate.track('green', () => new Promise<Uint8Array>((r) => (release = () => r(bytes('late')))));
      let idle = false;
      const waiting = gate.idle('green').then(() => (idle = true));
      await promptly(gate.idle());
      await Promise.resolve();
      expect(idle).toBe(false);
      release();
      await promptly(waiting);
      expect(text(await promptly(call))).toBe('late');
      expect(gate.stats().byHash.green).toMatchObject({ accepted: 1, answered: 1 });
    });

    it('refuses them once the gate is closed, counting nothing', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      await promptly(gate.close(new CutoverError('gate.closed', 'component "api" is stopping')));
      await expect(
        promptly(gate.track('green', () => target('green').invoke('echo', bytes('p')))),
      ).rejects.toMatchObject({
        code: 'gate.closed',
      });
      expect(gate.stats().byHash.green).toBeUndefined();
    });
  });
});

describe('gate: refusals', () => {
  it('names the component when nothing serves', async () => {
    const gate = new Gate({ componentId: 'api' });
    await expect(promptly(gate.invoke('echo', bytes('x')))).rejects.toMatchObject({
      code: 'invoke.notFound',
      message: 'component "api" is not serving',
      componentId: 'api',
    });
  });

  it('refuses every call on a closed gate with the reason it was closed with, counting each refusal', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    await promptly(gate.invoke('echo', bytes('before')));
    const reason = new CutoverError('gate.closed', 'component "api" is stopping');
    await promptly(gate.close(reason));
    await expect(promptly(gate.invoke('echo', bytes('a')))).rejects.toBe(reason);
    await expect(promptly(gate.invoke('echo', bytes('b')))).rejects.toBe(reason);
    expect(gate.totals()).toEqual({ accepted: 1, answered: 1, errors: 0, refused: 2, inFlight: 0, buffered: 0 });
  });

  it('keeps the first reason when closed twice', async () => {
    const gate = new Gate({ componentId: 'api' });
    const first = new CutoverError('gate.closed', 'first');
    await promptly(gate.close(first));
    await promptly(gate.close(new CutoverError('gate.closed', 'second')));
    await expect(promptly(gate.invoke('echo', bytes('x')))).rejects.toBe(first);
  });

  it('counts calls in flight and buffered alike against its capacity', async () => {
    const gate = new Gate({ componentId: 'api', capacity: 3 });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    const inFlight = [outcome(gate.invoke('echo', bytes('1'))), outcome(gate.invoke('echo', bytes('2')))];
    void gate.pause();
    const buffered = outcome(gate.invoke('echo', bytes('3')));
    await expect(promptly(gate.invoke('echo', bytes('4')))).rejects.toMatchObject({
      code: 'gate.overflow',
      message: 'gate of "api" is full (3 calls held)',
      componentId: 'api',
      retryable: true,
    });
    expect(gate.stats()).toMatchObject({ inFlight: 2, buffered: 1, capacity: 3, refused: 1 });
    // An answer makes room again.
    v1.answerNext();
    await settled();
    const fifth = outcome(gate.invoke('echo', bytes('5')));
    expect(gate.totals()).toMatchObject({ accepted: 4, refused: 1, inFlight: 1, buffered: 2 });
    gate.resume();
    v1.answerAll();
    await settled();
    expect([...inFlight, buffered, fifth].map((o) => o.state)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
  });

  it('holds 1024 calls by default', async () => {
    const gate = new Gate({ componentId: 'api' });
    expect(gate.capacity).toBe(1024);
    gate.setTarget(target('v1'));
    await promptly(gate.pause());
    const held = Array.from({ length: 1024 }, (_, i) => gate.invoke('echo', bytes(`${i}`)));
    await expect(promptly(gate.invoke('echo', bytes('one too many')))).rejects.toMatchObject({ code: 'gate.overflow' });
    gate.resume();
    expect(await promptly(Promise.all(held))).toHaveLength(1024);
  });
});

describe('gate: open, paused and serving', () => {
  it.each([
    [
      'serving and not paused',
      (g: Gate) => g.setTarget(target('v1')),
      { open: true, paused: false, servingHash: 'v1' },
    ],
    ['nothing serving', () => undefined, { open: false, paused: false, servingHash: undefined }],
    [
      'paused',
      (g: Gate) => {
        g.setTarget(target('v1'));
        void g.pause();
      },
      { open: false, paused: true, servingHash: 'v1' },
    ],
    [
      'closed',
      (g: Gate) => {
        g.setTarget(target('v1'));
        void g.close(new CutoverError('gate.closed', 'stopping'));
      },
      { open: false, paused: false, servingHash: 'v1' },
    ],
    [
      'reopened',
      (g: Gate) => {
        g.setTarget(target('v1'));
        void g.close(new CutoverError('gate.closed', 'stopping'));
        g.reopen();
      },
      { open: true, paused: false, servingHash: 'v1' },
    ],
    [
      'set to nothing',
      (g: Gate) => {
        g.setTarget(target('v1'));
        g.setTarget(undefined);
      },
      { open: false, paused: false, servingHash: undefined },
    ],
  ] as const)('is %s', (_name, arrange, want) => {
    const gate = new Gate({ componentId: 'api' });
    arrange(gate);
    expect({ open: gate.open, paused: gate.paused, servingHash: gate.servingHash }).toEqual(want);
    expect(gate.stats().open).toBe(want.open);
  });

  it('answers calls again once reopened', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    await promptly(gate.close(new CutoverError('gate.closed', 'stopping')));
    gate.reopen();
    expect(text(await promptly(gate.invoke('echo', bytes('x'))))).toBe('v1:x');
  });
});

describe('gate: pause and resume', () => {
  it('resolves a pause at once when nothing is in flight', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    const paused = outcome(gate.pause());
    await settled();
    expect(paused.state).toBe('fulfilled');
  });

  it('resolves a pause only once every call in flight has settled, failed ones included', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    const calls = ['a', 'b', 'c'].map((s) => outcome(gate.invoke('echo', bytes(s))));
    const paused = outcome(gate.pause());
    const states: string[] = [];
    for (const settle of [() => v1.answerNext(), () => v1.failNext(), () => v1.answerNext()]) {
      await settled();
      states.push(paused.state);
      settle();
    }
    await settled();
    states.push(paused.state);
    expect(states).toEqual(['pending', 'pending', 'pending', 'fulfilled']);
    expect(calls.map((c) => c.state)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('keeps calls accepted while paused from the instance until the last resume', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    await promptly(gate.pause());
    await promptly(gate.pause());
    const call = outcome(gate.invoke('echo', bytes('x')));
    gate.setTarget(v1);
    gate.resume();
    await settled();
    expect(v1.received).toEqual([]);
    expect(gate.stats()).toMatchObject({ buffered: 1, inFlight: 0 });
    gate.resume();
    expect(v1.received).toEqual(['x']);
    expect(gate.stats()).toMatchObject({ buffered: 0, inFlight: 1 });
    v1.answerAll();
    await settled();
    expect(call).toMatchObject({ state: 'fulfilled' });
  });

  it('ignores a resume without a pause: the next pause still holds', async () => {
    const { gate, clock } = clockedGate();
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    gate.resume();
    gate.resume();
    expect({ open: gate.open, paused: gate.paused, pauses: gate.pauses.count }).toEqual({
      open: true,
      paused: false,
      pauses: 0,
    });
    clock.set(100);
    await promptly(gate.pause());
    expect({ open: gate.open, paused: gate.paused }).toEqual({ open: false, paused: true });
    const call = outcome(gate.invoke('echo', bytes('x')));
    expect(v1.received).toEqual([]);
    clock.set(150);
    gate.resume();
    gate.resume();
    expect(gate.pauses.summary()).toMatchObject({ count: 1, max: 50 });
    expect(v1.received).toEqual(['x']);
    v1.answerAll();
    await settled();
    expect(call.state).toBe('fulfilled');
  });

  it('accepts calls while paused before any instance serves, and dispatches them to the first one on resume', async () => {
    const gate = new Gate({ componentId: 'api' });
    await promptly(gate.pause());
    const calls = ['a', 'b'].map((s) => gate.invoke('echo', bytes(s)));
    expect(gate.totals()).toMatchObject({ accepted: 2, buffered: 2, refused: 0 });
    gate.setTarget(target('v1'));
    expect(gate.stats().buffered).toBe(2);
    gate.resume();
    expect((await promptly(Promise.all(calls))).map(text)).toEqual(['v1:a', 'v1:b']);
  });

  it('keeps buffering on resume while nothing serves', async () => {
    const gate = new Gate({ componentId: 'api' });
    await promptly(gate.pause());
    const call = outcome(gate.invoke('echo', bytes('a')));
    gate.resume();
    await settled();
    expect(call.state).toBe('pending');
    expect(gate.totals()).toMatchObject({ accepted: 1, buffered: 1 });
    gate.setTarget(target('v1'));
    await settled();
    expect(call).toMatchObject({ state: 'fulfilled' });
    expect(text(call.value as Uint8Array)).toBe('v1:a');
  });
});

describe('gate: figures on an injected clock', () => {
  it('measures one pause from the first pause to the last resume', async () => {
    const { gate, clock } = clockedGate();
    gate.setTarget(target('v1'));
    clock.set(100);
    await promptly(gate.pause());
    clock.set(150);
    await promptly(gate.pause());
    clock.set(200);
    gate.resume();
    expect(gate.pauses.count).toBe(0);
    clock.set(400);
    gate.resume();
    expect(gate.pauses.summary()).toEqual({ count: 1, p50: 300, p99: 300, max: 300 });
    expect(gate.stats().longestPauseMs).toBe(300);
  });

  it('reports the longest pause, an ongoing one included', async () => {
    const { gate, clock } = clockedGate();
    gate.setTarget(target('v1'));
    expect(gate.stats().longestPauseMs).toBe(0);
    await promptly(gate.pause());
    clock.set(250);
    gate.resume();
    clock.set(1000);
    await promptly(gate.pause());
    clock.set(1050);
    expect(gate.stats().longestPauseMs).toBe(250);
    gate.resume();
    expect(gate.stats().longestPauseMs).toBe(250);
    clock.set(2000);
    await promptly(gate.pause());
    clock.set(2400);
    expect(gate.stats().longestPauseMs).toBe(400);
    gate.resume();
    clock.set(9000);
    expect(gate.stats().longestPauseMs).toBe(400);
    expect(gate.pauses.summary()).toMatchObject({ count: 3, max: 400 });
  });

  it('times the wait of buffered calls from arrival to dispatch', async () => {
    const { gate, clock } = clockedGate();
    gate.setTarget(target('v1'));
    await promptly(gate.pause());
    clock.set(10);
    const a = gate.invoke('echo', bytes('a'));
    clock.set(30);
    const b = gate.invoke('echo', bytes('b'));
    clock.set(100);
    gate.resume();
    await promptly(Promise.all([a, b]));
    expect(gate.bufferedWait.summary()).toMatchObject({ count: 2, max: 90 });
    // Calls through the open gate do not wait.
    await promptly(gate.invoke('echo', bytes('c')));
    expect(gate.bufferedWait.count).toBe(2);
  });

  it('measures latency from acceptance, so a buffered call includes its wait', async () => {
    const { gate, clock } = clockedGate();
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    await promptly(gate.pause());
    clock.set(10);
    const call = gate.invoke('echo', bytes('a'));
    clock.set(100);
    gate.resume();
    clock.set(130);
    v1.answerNext();
    await promptly(call);
    expect(gate.stats().byHash.v1?.latencyMs).toEqual({ count: 1, p50: 120, p99: 120, max: 120 });
  });

  it('measures the latency of failed calls and previews alike', async () => {
    const { gate, clock } = clockedGate();
    const v1 = heldTarget('v1');
    const v2 = heldTarget('v2');
    gate.setTarget(v1);
    clock.set(1000);
    const failing = outcome(gate.invoke('echo', bytes('a')));
    const preview = outcome(gate.track('v2', () => v2.invoke('echo', bytes('p'))));
    clock.set(1040);
    v1.failNext();
    await settled();
    clock.set(1075);
    v2.answerNext();
    await settled();
    expect([failing.state, preview.state]).toEqual(['rejected', 'fulfilled']);
    expect(gate.stats().byHash).toEqual({
      v1: { accepted: 1, answered: 0, errors: 1, latencyMs: { count: 1, p50: 40, p99: 40, max: 40 } },
      v2: { accepted: 1, answered: 1, errors: 0, latencyMs: { count: 1, p50: 75, p99: 75, max: 75 } },
    });
  });

  it('uses the monotonic clock when none is injected', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    await promptly(gate.pause());
    const call = gate.invoke('echo', bytes('a'));
    // An ongoing pause counts as the longest so far.
    expect(Number.isFinite(gate.stats().longestPauseMs)).toBe(true);
    gate.resume();
    await promptly(call);
    for (const figure of [gate.pauses.summary().max, gate.stats().longestPauseMs, gate.bufferedWait.summary().max]) {
      expect(Number.isFinite(figure) && figure >= 0).toBe(true);
    }
    expect(gate.pauses.count).toBe(1);
  });
});

describe('gate: totals', () => {
  it('keeps accepted = answered + errors + in flight + buffered through answers and failures', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    const calls = ['a', 'b', 'c'].map((s) => outcome(gate.invoke('echo', bytes(s))));
    void gate.pause();
    const late = outcome(gate.invoke('echo', bytes('d')));
    expect(gate.totals()).toEqual({ accepted: 4, answered: 0, errors: 0, refused: 0, inFlight: 3, buffered: 1 });
    v1.answerNext();
    v1.failNext();
    await settled();
    expect(gate.totals()).toEqual({ accepted: 4, answered: 1, errors: 1, refused: 0, inFlight: 1, buffered: 1 });
    gate.resume();
    v1.answerAll();
    await settled();
    expect(gate.totals()).toEqual({ accepted: 4, answered: 3, errors: 1, refused: 0, inFlight: 0, buffered: 0 });
    expect(gate.stats().byHash.v1).toMatchObject({ accepted: 4, answered: 3, errors: 1 });
    expect([...calls, late].map((c) => c.state)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('gives a copy of its totals', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    const totals = gate.totals() as { accepted: number };
    totals.accepted = 99;
    expect(gate.totals().accepted).toBe(0);
  });

  it('answers a call whose instance throws at once with that error, counted as an error', async () => {
    const gate = new Gate({ componentId: 'api' });
    const boom = new Error('boom');
    gate.setTarget({
      hash: 'v1',
      invoke: () => {
        throw boom;
      },
    });
    await expect(promptly(gate.invoke('echo', bytes('a')))).rejects.toBe(boom);
    expect(gate.totals()).toMatchObject({ accepted: 1, errors: 1, inFlight: 0 });
    expect(gate.stats().byHash.v1).toMatchObject({ accepted: 1, errors: 1, answered: 0 });
    await promptly(gate.pause());
  });

  it('answers the rest of a drain with invoke.notFound when the instance goes away during it', async () => {
    const gate = new Gate({ componentId: 'api' });
    await promptly(gate.pause());
    const calls = ['a', 'b', 'c'].map((s) => outcome(gate.invoke('echo', bytes(s))));
    gate.setTarget({
      hash: 'v1',
      invoke: async (_op, payload) => {
        // The first dispatched call takes the instance down with it.
        gate.setTarget(undefined);
        return bytes(`v1:${text(payload)}`);
      },
    });
    gate.resume();
    await settled();
    expect(calls.map((c) => c.state)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(calls[1]?.error).toMatchObject({
      code: 'invoke.notFound',
      message: 'component "api" is not serving',
      componentId: 'api',
    });
    expect(gate.totals()).toEqual({ accepted: 3, answered: 1, errors: 2, refused: 0, inFlight: 0, buffered: 0 });
  });
});

describe('gate: close', () => {
  it('answers buffered calls with the reason when nothing serves', async () => {
    const gate = new Gate({ componentId: 'api' });
    await promptly(gate.pause());
    const calls = ['a', 'b'].map((s) => outcome(gate.invoke('echo', bytes(s))));
    const reason = new CutoverError('gate.closed', 'component "api" is stopping');
    await promptly(gate.close(reason));
    await settled();
    expect(calls.map((c) => [c.state, c.error])).toEqual([
      ['rejected', reason],
      ['rejected', reason],
    ]);
    expect(gate.totals()).toEqual({ accepted: 2, answered: 0, errors: 2, refused: 0, inFlight: 0, buffered: 0 });
    expect(gate.paused).toBe(false);
  });

  it('dispatches buffered calls to the serving instance, even while paused, and resolves once they settle', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    await promptly(gate.pause());
    await promptly(gate.pause());
    const calls = ['a', 'b'].map((s) => outcome(gate.invoke('echo', bytes(s))));
    const closed = outcome(gate.close(new CutoverError('gate.closed', 'stopping')));
    expect(v1.received).toEqual(['a', 'b']);
    expect(gate.stats()).toMatchObject({ open: false, inFlight: 2, buffered: 0 });
    expect(gate.paused).toBe(false);
    v1.answerNext();
    await settled();
    expect(closed.state).toBe('pending');
    v1.answerNext();
    await settled();
    expect(closed.state).toBe('fulfilled');
    expect(calls.map((c) => c.state)).toEqual(['fulfilled', 'fulfilled']);
  });
});

describe('gate: idle', () => {
  it('resolves at once for a version with nothing in flight while another one is busy', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    const call = outcome(gate.invoke('echo', bytes('a')));
    const idleV2 = outcome(gate.idle('v2'));
    const idleAll = outcome(gate.idle());
    await settled();
    expect([idleV2.state, idleAll.state]).toEqual(['fulfilled', 'pending']);
    v1.answerAll();
    await settled();
    expect([idleAll.state, call.state]).toEqual(['fulfilled', 'fulfilled']);
  });

  it('waits for the last of several calls of one version, served or previewed', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    const green = heldTarget('green');
    gate.setTarget(v1);
    const calls = [
      outcome(gate.invoke('echo', bytes('a'))),
      outcome(gate.invoke('echo', bytes('b'))),
      outcome(gate.track('green', () => green.invoke('echo', bytes('p')))),
      outcome(gate.track('green', () => green.invoke('echo', bytes('q')))),
    ];
    const idleV1 = outcome(gate.idle('v1'));
    const idleGreen = outcome(gate.idle('green'));
    v1.answerNext();
    green.failNext();
    await settled();
    expect([idleV1.state, idleGreen.state]).toEqual(['pending', 'pending']);
    v1.failNext();
    green.answerNext();
    await settled();
    expect([idleV1.state, idleGreen.state]).toEqual(['fulfilled', 'fulfilled']);
    expect(calls.map((c) => c.state)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    await promptly(gate.idle('v1'));
  });

  it('wakes each waiter when its own version settles, and every waiter of it', async () => {
    const gate = new Gate({ componentId: 'api' });
    const v1 = heldTarget('v1');
    const v2 = heldTarget('v2');
    gate.setTarget(v1);
    const old = outcome(gate.invoke('echo', bytes('a')));
    gate.setTarget(v2);
    const fresh = outcome(gate.invoke('echo', bytes('b')));
    const waiters = {
      v1: [outcome(gate.idle('v1')), outcome(gate.idle('v1'))],
      v2: [outcome(gate.idle('v2'))],
      all: [outcome(gate.idle()), outcome(gate.idle())],
    };
    const states = () => Object.fromEntries(Object.entries(waiters).map(([k, ws]) => [k, ws.map((w) => w.state)]));
    v2.answerNext();
    await settled();
    expect(states()).toEqual({
      v1: ['pending', 'pending'],
      v2: ['fulfilled'],
      all: ['pending', 'pending'],
    });
    v1.answerNext();
    await settled();
    expect(states()).toEqual({
      v1: ['fulfilled', 'fulfilled'],
      v2: ['fulfilled'],
      all: ['fulfilled', 'fulfilled'],
    });
    expect([old.state, fresh.state]).toEqual(['fulfilled', 'fulfilled']);
  });
});

describe('gate: previews beside the gate (track), more', () => {
  it('answers a preview whose call throws at once with that error, counted as an error', async () => {
    const gate = new Gate({ componentId: 'api' });
    const boom = new Error('boom');
    await expect(
      promptly(
        gate.track('green', () => {
          throw boom;
        }),
      ),
    ).rejects.toBe(boom);
    expect(gate.stats().byHash.green).toMatchObject({ accepted: 1, answered: 0, errors: 1 });
    await promptly(gate.idle('green'));
  });

  it('refuses them on a closed gate with its reason', async () => {
    const gate = new Gate({ componentId: 'api' });
    const reason = new CutoverError('gate.closed', 'stopping');
    await promptly(gate.close(reason));
    let called = false;
    await expect(promptly(gate.track('green', async () => (called = true)))).rejects.toBe(reason);
    expect(called).toBe(false);
  });

  it('wakes idle(hash) when a failed preview settles', async () => {
    const gate = new Gate({ componentId: 'api' });
    const green = heldTarget('green');
    const call = outcome(gate.track('green', () => green.invoke('echo', bytes('p'))));
    const idle = outcome(gate.idle('green'));
    await settled();
    expect(idle.state).toBe('pending');
    green.failNext();
    await settled();
    expect([call.state, idle.state]).toEqual(['rejected', 'fulfilled']);
  });
});

describe('gate: counters of many versions', () => {
  const keys = (gate: Gate) => Object.keys(gate.stats().byHash);
  const preview = (gate: Gate, hash: string) => gate.track(hash, async () => hash);

  it('keeps the counters of the 8 most recent versions, the serving one and those with calls in flight', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('serving'));
    const busy = heldTarget('busy');
    const held = outcome(gate.track('busy', () => busy.invoke('echo', bytes('x'))));
    for (const hash of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) await promptly(preview(gate, hash));
    expect(keys(gate)).toEqual(['serving', 'busy', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    await promptly(preview(gate, 'p7'));
    expect(keys(gate)).toEqual(['serving', 'busy', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    await promptly(preview(gate, 'p8'));
    expect(keys(gate)).toEqual(['serving', 'busy', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8']);
    busy.answerAll();
    await settled();
    expect(held.state).toBe('fulfilled');
    expect(gate.stats().byHash.busy).toMatchObject({ accepted: 1, answered: 1 });
    await promptly(preview(gate, 'p9'));
    expect(keys(gate)).toEqual(['serving', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
  });

  it('drops the counters of old previews when nothing serves', async () => {
    const gate = new Gate({ componentId: 'api' });
    for (const hash of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']) await promptly(preview(gate, hash));
    expect(keys(gate)).toEqual(['p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
  });

  it('never drops the counters of the version it is counting', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('serving'));
    const busy = Array.from({ length: 7 }, (_, i) => heldTarget(`b${i}`));
    for (const b of busy) void gate.track(b.hash, () => b.invoke('echo', bytes('x')));
    await promptly(preview(gate, 'new'));
    expect(keys(gate)).toEqual(['serving', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'new']);
    expect(gate.stats().byHash.new).toMatchObject({ accepted: 1, answered: 1 });
    for (const b of busy) b.answerAll();
    await promptly(gate.idle());
  });
});
