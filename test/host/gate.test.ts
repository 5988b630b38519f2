import { describe, expect, it } from 'vitest';
import { CutoverError } from '../../src/errors';
import { Gate } from '../../src/host/gate';

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
    await expect(gate.invoke('echo', bytes('x'))).rejects.toMatchObject({ code: 'invoke.notFound' });
    expect(gate.totals()).toMatchObject({ refused: 1, accepted: 0 });
  });

  it('buffers while paused and dispatches in arrival order to the new target on resume', async () => {
    const log: string[] = [];
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('old', log));
    await gate.pause();
    const calls = ['a', 'b', 'c'].map((s) => gate.invoke('echo', bytes(s)));
    expect(gate.stats()).toMatchObject({ open: false, buffered: 3 });
    gate.setTarget(target('new', log));
    gate.resume();
    expect((await Promise.all(calls)).map(text)).toEqual(['new:a', 'new:b', 'new:c']);
    expect(log).toEqual(['new:a', 'new:b', 'new:c']);
    expect(gate.pauses.count).toBe(1);
    expect(gate.stats().byHash.new).toMatchObject({ accepted: 3, answered: 3, errors: 0 });
  });

  it('holds a pause until every holder released it', async () => {
    const gate = new Gate({ componentId: 'api' });
    gate.setTarget(target('v1'));
    await gate.pause();
    await gate.pause();
    const call = gate.invoke('echo', bytes('x'));
    gate.resume();
    expect(gate.open).toBe(false);
    gate.resume();
    expect(text(await call)).toBe('v1:x');
  });

  it('refuses with gate.overflow beyond its capacity and counts the refusal', async () => {
    const gate = new Gate({ componentId: 'api', capacity: 2 });
    gate.setTarget(target('v1'));
    await gate.pause();
    const held = [gate.invoke('echo', bytes('1')), gate.invoke('echo', bytes('2'))];
    await expect(gate.invoke('echo', bytes('3'))).rejects.toMatchObject({ code: 'gate.overflow', retryable: true });
    gate.resume();
    await Promise.all(held);
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
    await waiting;
    expect(text(await call)).toBe('late');
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
      await gate.invoke('echo', bytes('s'));
      const answers = await Promise.all(calls);
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
      await gate.pause();
      const served = gate.invoke('echo', bytes('s'));
      expect(text(await gate.track('green', () => target('green').invoke('echo', bytes('p'))))).toBe('green:p');
      expect(gate.stats()).toMatchObject({ open: false, buffered: 1 });
      balanced(gate);
      gate.resume();
      expect(text(await served)).toBe('blue:s');
      balanced(gate);
    });

    it('keeps one set of counters per hash when the previewed hash starts serving', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      await gate.track('green', () => target('green').invoke('echo', bytes('p')));
      await gate.track('green', fails).catch(() => undefined);
      gate.setTarget(target('green'));
      await gate.invoke('echo', bytes('s'));
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
      await gate.idle();
      await Promise.resolve();
      expect(idle).toBe(false);
      release();
      await waiting;
      expect(text(await call)).toBe('late');
      expect(gate.stats().byHash.green).toMatchObject({ accepted: 1, answered: 1 });
    });

    it('refuses them once the gate is closed, counting nothing', async () => {
      const gate = new Gate({ componentId: 'api' });
      gate.setTarget(target('blue'));
      await gate.close(new CutoverError('gate.closed', 'component "api" is stopping'));
      await expect(gate.track('green', () => target('green').invoke('echo', bytes('p')))).rejects.toMatchObject({
        code: 'gate.closed',
      });
      expect(gate.stats().byHash.green).toBeUndefined();
    });
  });
});
