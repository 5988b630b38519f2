import { type CutoverError, type Transport, type TransportMessage, hasCode, isCutoverError } from 'cutover';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection } from '../helpers/rejection';

/** Two connections to one bus or server, so delivery is tested across connections. */
export type TransportHarness = { a: Transport; b: Transport } & AsyncDisposable;

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

/** Resolves with the first `n` messages a subscription receives (bounded by the test timeout). */
function collector(transport: Transport, subject: string, queue?: string) {
  const received: TransportMessage[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const sub = transport.subscribe(
    subject,
    (msg) => {
      received.push(msg);
      for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
    },
    queue === undefined ? {} : { queue },
  );
  return {
    sub,
    received,
    texts: () => received.map((m) => text(m.data)),
    subjects: () => received.map((m) => m.subject),
    atLeast: (n: number) =>
      received.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

function thrown(fn: () => unknown): CutoverError {
  try {
    fn();
  } catch (error) {
    if (isCutoverError(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

let unique = 0;

/**
 * The Transport contract of DESIGN §6, run unchanged against every adapter. Each test gets a fresh
 * harness and its own subject namespace, so a shared server is fine. Subscriptions are flushed before
 * anything is published to them (a real server learns of a subscription asynchronously).
 */
export function describeTransportContract(name: string, factory: () => Promise<TransportHarness>): void {
  describe(`transport contract: ${name}`, () => {
    let harness: TransportHarness;
    let a: Transport;
    let b: Transport;
    let ns: string;
    const ready = () => Promise.all([a.flush(), b.flush()]);

    beforeEach(async () => {
      harness = await factory();
      ({ a, b } = harness);
      ns = `contract.t${process.pid}x${++unique}x${Date.now().toString(36)}`;
    });
    afterEach(async () => {
      await harness[Symbol.asyncDispose]();
    });

    it('delivers a publish to a subscriber on another connection, bytes intact', async () => {
      const got = collector(b, `${ns}.hello`);
      await ready();
      const payload = new Uint8Array([0, 1, 2, 250, 255]);
      a.publish(`${ns}.hello`, payload);
      a.publish(`${ns}.hello`, new Uint8Array(0));
      await got.atLeast(2);
      expect(got.received[0]?.subject).toBe(`${ns}.hello`);
      expect([...(got.received[0]?.data ?? [])]).toEqual([0, 1, 2, 250, 255]);
      expect(got.received[1]?.data.length).toBe(0);
      expect(got.received[0]?.reply).toBeUndefined();
    });

    it('delivers to subscribers on the publishing connection too', async () => {
      const got = collector(a, `${ns}.self`);
      await ready();
      a.publish(`${ns}.self`, bytes('echo'));
      await got.atLeast(1);
      expect(got.texts()).toEqual(['echo']);
    });

    it('never calls a subscriber synchronously inside publish', async () => {
      let publishing = false;
      let reentered: boolean | undefined;
      const seen = new Promise<void>((resolve) => {
        a.subscribe(`${ns}.async`, () => {
          reentered = publishing;
          resolve();
        });
      });
      await ready();
      publishing = true;
      a.publish(`${ns}.async`, bytes('x'));
      publishing = false;
      await seen;
      expect(reentered).toBe(false);
    });

    it('matches "*" to exactly one token', async () => {
      const got = collector(b, `${ns}.star.*.end`);
      const sentinel = collector(b, `${ns}.star.>`);
      await ready();
      for (const s of ['star.one.end', 'star.end', 'star.one.two.end', 'star.two.end', 'star.one.end.more']) {
        a.publish(`${ns}.${s}`, bytes(s));
      }
      await sentinel.atLeast(5);
      await ready();
      expect(got.texts().sort()).toEqual(['star.one.end', 'star.two.end']);
    });

    it('matches ">" to one or more trailing tokens, never zero', async () => {
      const got = collector(b, `${ns}.gt.>`);
      const sentinel = collector(b, `${ns}.>`);
      await ready();
      for (const s of ['gt', 'gt.a', 'gt.a.b.c', 'other.a']) a.publish(`${ns}.${s}`, bytes(s));
      await sentinel.atLeast(4);
      await ready();
      expect(got.texts().sort()).toEqual(['gt.a', 'gt.a.b.c']);
      expect(got.subjects().sort()).toEqual([`${ns}.gt.a`, `${ns}.gt.a.b.c`]);
    });

    it('gives every plain subscriber every message', async () => {
      const one = collector(a, `${ns}.fan`);
      const two = collector(b, `${ns}.fan`);
      const three = collector(b, `${ns}.*`);
      await ready();
      for (let i = 0; i < 10; i++) a.publish(`${ns}.fan`, bytes(String(i)));
      await Promise.all([one.atLeast(10), two.atLeast(10), three.atLeast(10)]);
      expect(one.received).toHaveLength(10);
      expect(two.received).toHaveLength(10);
      expect(three.received).toHaveLength(10);
    });

    it('gives each message to exactly one member of a queue group, spread over members, while plain subscribers get all', async () => {
      const m1 = collector(a, `${ns}.work`, 'workers');
      const m2 = collector(b, `${ns}.work`, 'workers');
      const m3 = collector(b, `${ns}.*`, 'workers');
      const other = collector(b, `${ns}.work`, 'auditors');
      const plain = collector(a, `${ns}.work`);
      await ready();
      const total = 120;
      for (let i = 0; i < total; i++) a.publish(`${ns}.work`, bytes(String(i)));
      await Promise.all([plain.atLeast(total), other.atLeast(total)]);
      // A member's share is unknown, so wait for the sum over all three.
      await new Promise<void>((resolve) => {
        const check = () => {
          if (m1.received.length + m2.received.length + m3.received.length >= total) resolve();
          else setTimeout(check, 5);
        };
        check();
      });
      await ready();
      const all = [...m1.texts(), ...m2.texts(), ...m3.texts()].map(Number).sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(m1.received.length).toBeGreaterThan(0);
      expect(m2.received.length).toBeGreaterThan(0);
      expect(m3.received.length).toBeGreaterThan(0);
      expect(other.received).toHaveLength(total);
      expect(plain.received).toHaveLength(total);
    });

    it('keeps publish order per subscription', async () => {
      const got = collector(b, `${ns}.order`);
      const wild = collector(b, `${ns}.>`);
      await ready();
      const n = 500;
      for (let i = 0; i < n; i++) a.publish(`${ns}.order`, bytes(String(i)));
      await Promise.all([got.atLeast(n), wild.atLeast(n)]);
      const expected = Array.from({ length: n }, (_, i) => String(i));
      expect(got.texts()).toEqual(expected);
      expect(wild.texts()).toEqual(expected);
    });

    it('stops delivering after unsubscribe, and unsubscribe is idempotent', async () => {
      const gone = collector(b, `${ns}.unsub`);
      const stays = collector(b, `${ns}.unsub`);
      await ready();
      a.publish(`${ns}.unsub`, bytes('before'));
      await Promise.all([gone.atLeast(1), stays.atLeast(1)]);
      gone.sub.unsubscribe();
      gone.sub.unsubscribe();
      await ready();
      a.publish(`${ns}.unsub`, bytes('after'));
      await stays.atLeast(2);
      await ready();
      expect(gone.texts()).toEqual(['before']);
      expect(stays.texts()).toEqual(['before', 'after']);
      expect(gone.sub.subject).toBe(`${ns}.unsub`);
    });

    it('answers a request with the value the handler returns', async () => {
      b.subscribe(`${ns}.echo.*`, (msg) => {
        expect(msg.reply).toBeTypeOf('string');
        return bytes(`${msg.subject.split('.').at(-1)}:${text(msg.data)}`);
      });
      b.subscribe(`${ns}.async`, async (msg) => {
        await Promise.resolve();
        return bytes(text(msg.data).toUpperCase());
      });
      await ready();
      expect(text(await a.request(`${ns}.echo.ping`, bytes('hi'), { timeoutMs: 5_000 }))).toBe('ping:hi');
      expect(text(await a.request(`${ns}.async`, bytes('hi'), { timeoutMs: 5_000 }))).toBe('HI');
    });

    it('answers a request published to its reply subject by hand', async () => {
      b.subscribe(`${ns}.manual`, (msg) => {
        if (msg.reply !== undefined) b.publish(msg.reply, bytes('manual'));
      });
      await ready();
      expect(text(await a.request(`${ns}.manual`, bytes(''), { timeoutMs: 5_000 }))).toBe('manual');
    });

    it('lets one queue-group member answer each request', async () => {
      let calls = 0;
      for (const t of [a, b, b]) {
        t.subscribe(
          `${ns}.svc`,
          () => {
            calls++;
            return bytes('ok');
          },
          { queue: 'svc' },
        );
      }
      await ready();
      for (let i = 0; i < 6; i++)
        expect(text(await a.request(`${ns}.svc`, bytes(''), { timeoutMs: 5_000 }))).toBe('ok');
      expect(calls).toBe(6);
    });

    it('rejects a request at once with a retryable transport.noResponders when nobody subscribes', async () => {
      const error = await rejection(a.request(`${ns}.nobody`, bytes('?'), { timeoutMs: 20_000 }));
      expect(error.code).toBe('transport.noResponders');
      expect(error.retryable).toBe(true);
      expect(error.subject).toBe(`${ns}.nobody`);
      expect(error.message).toContain(`${ns}.nobody`);
    });

    it('rejects with transport.noResponders once the only responder unsubscribed', async () => {
      const sub = b.subscribe(`${ns}.leaving`, () => bytes('here'));
      await ready();
      expect(text(await a.request(`${ns}.leaving`, bytes(''), { timeoutMs: 5_000 }))).toBe('here');
      sub.unsubscribe();
      await ready();
      const error = await rejection(a.request(`${ns}.leaving`, bytes(''), { timeoutMs: 20_000 }));
      expect(error.code).toBe('transport.noResponders');
    });

    it('rejects with a retryable transport.timeout when the responder stays silent', async () => {
      b.subscribe(`${ns}.silent`, () => undefined);
      await ready();
      const error = await rejection(a.request(`${ns}.silent`, bytes(''), { timeoutMs: 50 }));
      expect(error.code).toBe('transport.timeout');
      expect(error.retryable).toBe(true);
      expect(error.subject).toBe(`${ns}.silent`);
    });

    it('sends no reply when a handler throws a CutoverError (the requester times out)', async () => {
      const { CutoverError } = await import('cutover');
      b.subscribe(`${ns}.refuse`, () => {
        throw new CutoverError('gate.overflow', 'gate full');
      });
      b.subscribe(`${ns}.refuseAsync`, async () => {
        throw new CutoverError('gate.overflow', 'gate full');
      });
      await ready();
      for (const s of ['refuse', 'refuseAsync']) {
        const error = await rejection(a.request(`${ns}.${s}`, bytes(''), { timeoutMs: 50 }));
        expect(error.code).toBe('transport.timeout');
      }
    });

    it('gathers one reply per responder with requestMany and stops at the expected count', async () => {
      for (const [i, t] of [a, b, b].entries()) t.subscribe(`${ns}.ping`, () => bytes(`host${i}`));
      await ready();
      const replies = await a.requestMany(`${ns}.ping`, bytes(''), { maxWaitMs: 20_000, expected: 3 });
      expect(replies.map(text).sort()).toEqual(['host0', 'host1', 'host2']);
    });

    it('ends requestMany when the window closes or replies stall', async () => {
      b.subscribe(`${ns}.some`, () => bytes('fast'));
      b.subscribe(`${ns}.some`, () => undefined);
      await ready();
      const windowed = await a.requestMany(`${ns}.some`, bytes(''), { maxWaitMs: 100 });
      expect(windowed.map(text)).toEqual(['fast']);
      const stalled = await a.requestMany(`${ns}.some`, bytes(''), { maxWaitMs: 20_000, stallMs: 50 });
      expect(stalled.map(text)).toEqual(['fast']);
    });

    it('resolves requestMany with no replies when nobody subscribes', async () => {
      expect(await a.requestMany(`${ns}.empty`, bytes(''), { maxWaitMs: 200 })).toEqual([]);
    });

    it('refuses every operation after close with transport.closed, and close is idempotent', async () => {
      const pendingSub = collector(b, `${ns}.slow`);
      await ready();
      const pending = a.request(`${ns}.slow`, bytes(''), { timeoutMs: 20_000 });
      await pendingSub.atLeast(1);
      await a.close();
      await a.close();
      expect(a.closed).toBe(true);
      expect(b.closed).toBe(false);
      expect((await rejection(pending)).code).toBe('transport.closed');
      expect(thrown(() => a.publish(`${ns}.x`, bytes(''))).code).toBe('transport.closed');
      expect(thrown(() => a.subscribe(`${ns}.x`, () => undefined)).code).toBe('transport.closed');
      expect((await rejection(a.request(`${ns}.x`, bytes(''), { timeoutMs: 50 }))).code).toBe('transport.closed');
      expect((await rejection(a.requestMany(`${ns}.x`, bytes(''), { maxWaitMs: 50 }))).code).toBe('transport.closed');
      expect(hasCode(await rejection(a.flush()), 'transport.closed')).toBe(true);
    });
  });
}
