import type { NatsConnection } from '@nats-io/transport-node';
import { CutoverError as CutoverErrorClass, isCutoverError, type Transport } from 'cutover';
import { createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { rejection } from '../helpers/rejection';

const enc = new TextEncoder();
const dec = new TextDecoder();

let server: NatsServerHandle;
let unique = 0;
const subject = (s: string) => `nt${++unique}.${s}`;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});

async function pair(): Promise<{ nc: NatsConnection; a: Transport; b: Transport }> {
  const nc = await server.connect();
  return { nc, a: createNatsTransport(nc), b: createNatsTransport(nc) };
}

describe('nats transport', () => {
  it("leaves the caller's connection open on close, so transports can share it", async () => {
    const { nc, a, b } = await pair();
    const s = subject('shared');
    b.subscribe(s, () => enc.encode('still here'));
    await b.flush();
    await a.close();
    expect(a.closed).toBe(true);
    expect(nc.isClosed()).toBe(false);
    expect(dec.decode(await b.request(s, enc.encode(''), { timeoutMs: 5_000 }))).toBe('still here');
    await nc.close();
  });

  it('drains and closes the connection on close when asked', async () => {
    const nc = await server.connect();
    const t = createNatsTransport(nc, { closeConnection: true });
    await t.close();
    expect(nc.isClosed()).toBe(true);
  });

  it('reports a closed connection as transport.closed', async () => {
    const { nc, a } = await pair();
    await nc.close();
    expect(a.closed).toBe(true);
    expect(() => a.publish(subject('x'), enc.encode(''))).toThrow(
      expect.objectContaining({ code: 'transport.closed' }),
    );
    expect((await rejection(a.request(subject('x'), enc.encode(''), { timeoutMs: 100 }))).code).toBe(
      'transport.closed',
    );
  });

  it('keeps serving after a handler throws or rejects, and reports each failure', async () => {
    const nc = await server.connect();
    const errors: Array<[string, string]> = [];
    const t = createNatsTransport(nc, { onError: (e, s) => errors.push([e.code, s]) });
    const s = subject('flaky.*');
    let calls = 0;
    t.subscribe(s, async (msg): Promise<Uint8Array | undefined> => {
      calls++;
      const mode = msg.subject.split('.').at(-1);
      if (mode === 'throw') throw new CutoverErrorClass('invoke.failed', 'boom');
      if (mode === 'reject') await Promise.reject(new Error('async boom'));
      return enc.encode('ok');
    });
    t.subscribe(subject('sync'), () => {
      throw new Error('sync boom');
    });
    await t.flush();
    const base = s.slice(0, -2);
    for (const mode of ['throw', 'reject']) {
      expect((await rejection(t.request(`${base}.${mode}`, enc.encode(''), { timeoutMs: 50 }))).code).toBe(
        'transport.timeout',
      );
    }
    expect(dec.decode(await t.request(`${base}.fine`, enc.encode(''), { timeoutMs: 5_000 }))).toBe('ok');
    expect(calls).toBe(3);
    expect(errors).toEqual([
      ['invoke.failed', s],
      ['invoke.failed', s],
    ]);
    await nc.close();
  });

  it('rejects a request whose signal aborts, with the abort reason', async () => {
    const { nc, a, b } = await pair();
    const s = subject('slow');
    b.subscribe(s, () => undefined);
    await b.flush();
    const controller = new AbortController();
    const pending = a.request(s, enc.encode(''), { timeoutMs: 20_000, signal: controller.signal });
    controller.abort(new CutoverErrorClass('aborted', 'rollout aborted'));
    expect((await rejection(pending)).code).toBe('aborted');
    expect((await rejection(a.request(s, enc.encode(''), { timeoutMs: 20_000, signal: controller.signal }))).code).toBe(
      'aborted',
    );
    await nc.close();
  });

  it('gathers until the first of expected, stall and the window', async () => {
    const { nc, a, b } = await pair();
    const s = subject('gather');
    for (let i = 0; i < 4; i++) b.subscribe(s, () => enc.encode(String(i)));
    await b.flush();
    expect(await a.requestMany(s, enc.encode(''), { maxWaitMs: 20_000, expected: 2 })).toHaveLength(2);
    expect(await a.requestMany(s, enc.encode(''), { maxWaitMs: 20_000, stallMs: 100 })).toHaveLength(4);
    expect(await a.requestMany(s, enc.encode(''), { maxWaitMs: 20_000, expected: 0 })).toEqual([]);
    await nc.close();
  });

  it('comes back after the server restarts: subscriptions resume on the same port', async () => {
    const nc = await server.connect({ reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    const t = createNatsTransport(nc);
    const s = subject('survivor');
    t.subscribe(s, () => enc.encode('back'));
    await t.flush();
    const port = server.port;
    await server.kill();
    expect(server.running).toBe(false);
    const during = await rejection(t.request(s, enc.encode(''), { timeoutMs: 100 }));
    expect(during.retryable).toBe(true);
    await server.restart();
    expect(server.port).toBe(port);
    let answer: Uint8Array | undefined;
    while (answer === undefined) {
      try {
        answer = await t.request(s, enc.encode(''), { timeoutMs: 1_000 });
      } catch (err) {
        if (!isCutoverError(err) || !err.retryable) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(dec.decode(answer)).toBe('back');
    await nc.close();
  });
});
