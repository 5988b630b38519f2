import { describe, expect, it } from 'vitest';
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
});
