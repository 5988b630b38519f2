import { CutoverError, type TransportMessage, isCutoverError } from 'cutover';
import { createMemoryBus, createMemoryStore, createMemoryTransport } from 'cutover/adapters/memory';
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../adapters/memory/Deadlines';
import { SubjectIndex, patternTokens } from '../../adapters/memory/subjectIndex';
import { describeStoreContract } from './storeContract';
import { describeTransportContract } from './transportContract';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isCutoverError(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

describeTransportContract('memory', async () => {
  const bus = createMemoryBus();
  return { a: bus.connect('a'), b: bus.connect('b'), [Symbol.asyncDispose]: () => bus.close() };
});

describeStoreContract('memory', async () => {
  const store = createMemoryStore({ lattice: 'contract' });
  return { store, [Symbol.asyncDispose]: () => store.close() };
});

/** The NATS matching rule, written the slow obvious way, to check the trie against. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

describe('memory transport', () => {
  it('matches subjects exactly as NATS does, for any patterns and subjects', () => {
    const token = fc.constantFrom('a', 'b', 'c');
    const subject = fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join('.'));
    const pattern = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([t, gt]) => (gt ? [...t.slice(0, -1), '>'] : t).join('.'));
    fc.assert(
      fc.property(
        fc.uniqueArray(pattern, { maxLength: 12 }),
        fc.array(subject, { maxLength: 12 }),
        fc.integer({ min: 0, max: 11 }),
        (patterns, subjects, drop) => {
          const index = new SubjectIndex<string>();
          for (const p of patterns) index.add(patternTokens(p), p);
          const removed = patterns[drop];
          if (removed !== undefined) index.remove(patternTokens(removed), removed);
          const live = patterns.filter((p) => p !== removed);
          expect(index.size).toBe(live.length);
          for (const s of subjects) {
            expect(index.match(s.split('.')).sort()).toEqual(live.filter((p) => natsMatches(p, s)).sort());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('prunes the index back to empty when every subscription leaves', () => {
    const bus = createMemoryBus();
    const t = bus.connect();
    const subs = ['a.b.c', 'a.*.c', 'a.>', '>', 'a.b.*'].map((s) => t.subscribe(s, () => undefined));
    expect(bus.subscriptions).toBe(5);
    for (const s of subs) s.unsubscribe();
    expect(bus.subscriptions).toBe(0);
  });

  it('refuses malformed subjects with transport.invalidSubject', async () => {
    await using t = createMemoryTransport();
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.>.b']) {
      expect(() => t.subscribe(bad, () => undefined)).toThrowError(
        expect.objectContaining({ code: 'transport.invalidSubject' }),
      );
    }
    for (const bad of ['a.*', 'a.>', '', 'a..b']) {
      expect(() => t.publish(bad, bytes(''))).toThrowError(
        expect.objectContaining({ code: 'transport.invalidSubject' }),
      );
      expect(await codeOf(t.request(bad, bytes(''), { timeoutMs: 10 }))).toBe('transport.invalidSubject');
    }
  });

  it('copies published bytes, so a publisher reusing its buffer cannot change a delivered message', async () => {
    await using t = createMemoryTransport();
    const got: TransportMessage[] = [];
    t.subscribe('buf', (m) => {
      got.push(m);
    });
    const buffer = bytes('one');
    t.publish('buf', buffer);
    buffer.set(bytes('two'));
    await t.flush();
    expect(text(got[0]!.data)).toBe('one');
  });

  it('resolves flush only after every earlier message reached its subscribers', async () => {
    await using t = createMemoryTransport();
    let seen = 0;
    t.subscribe('count.*', () => {
      seen++;
    });
    for (let i = 0; i < 25_000; i++) t.publish(`count.${i % 7}`, bytes(''));
    await t.flush();
    expect(seen).toBe(25_000);
  });

  it('times requests out on the injected clock', async () => {
    const clock = new SimulatedClock();
    const bus = createMemoryBus({ clock });
    const t = bus.connect();
    t.subscribe('silent', () => undefined);
    let settled: string | undefined;
    const outcome = codeOf(t.request('silent', bytes(''), { timeoutMs: 1_000 })).then((c) => (settled = c));
    await t.flush();
    clock.increment(999);
    await t.flush();
    expect(settled).toBeUndefined();
    clock.increment(1);
    expect(await outcome).toBe('transport.timeout');
    await bus.close();
  });

  it('rejects an aborted request with aborted', async () => {
    await using t = createMemoryTransport();
    t.subscribe('slow', () => undefined);
    const controller = new AbortController();
    const pending = codeOf(t.request('slow', bytes(''), { timeoutMs: 60_000, signal: controller.signal }));
    controller.abort();
    expect(await pending).toBe('aborted');
    expect(await codeOf(t.request('slow', bytes(''), { timeoutMs: 60_000, signal: controller.signal }))).toBe(
      'aborted',
    );
  });

  it('reports handler bugs to onHandlerError but stays silent for CutoverErrors', async () => {
    const reported: unknown[] = [];
    const bus = createMemoryBus({ onHandlerError: (error) => reported.push(error) });
    const t = bus.connect();
    t.subscribe('bug', () => {
      throw new TypeError('oops');
    });
    t.subscribe('refusal', async () => {
      throw new CutoverError('gate.overflow', 'full');
    });
    t.publish('bug', bytes(''));
    t.publish('refusal', bytes(''));
    await t.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(TypeError);
    await bus.close();
  });

  it('drops messages to and from a partitioned connection until it heals', async () => {
    const bus = createMemoryBus();
    const host = bus.connect('host');
    const client = bus.connect('client');
    const got: string[] = [];
    host.subscribe('rpc', (m) => {
      got.push(text(m.data));
      return bytes('pong');
    });
    bus.partition(host);
    client.publish('rpc', bytes('lost'));
    expect(await codeOf(client.request('rpc', bytes('lost'), { timeoutMs: 20 }))).toBe('transport.noResponders');
    await client.flush();
    expect(got).toEqual([]);
    bus.heal(host);
    expect(text(await client.request('rpc', bytes('found'), { timeoutMs: 1_000 }))).toBe('pong');
    bus.partition(client);
    expect(await codeOf(client.request('rpc', bytes('out'), { timeoutMs: 20 }))).toBe('transport.timeout');
    expect(got).toEqual(['found']);
    expect(() => bus.partition(createMemoryTransport())).toThrow(TypeError);
    await bus.close();
    expect(host.closed && client.closed).toBe(true);
  });

  it('forgets the subscriptions of a closed connection', async () => {
    const bus = createMemoryBus();
    const a = bus.connect();
    const b = bus.connect();
    b.subscribe('svc', () => bytes('ok'));
    b.subscribe('svc.>', () => bytes('ok'));
    expect(bus.subscriptions).toBe(2);
    await b.close();
    expect(bus.subscriptions).toBe(0);
    expect(await codeOf(a.request('svc', bytes(''), { timeoutMs: 1_000 }))).toBe('transport.noResponders');
    await bus.close();
  });
});

describe('memory store', () => {
  it('fails the next operations with an injected fault, then recovers', async () => {
    const store = createMemoryStore();
    store.failNext(2);
    expect(await codeOf(store.put('cutover', 'a', 1))).toBe('store.unavailable');
    expect(await codeOf(store.get('cutover', 'a'))).toBe('store.unavailable');
    expect(await store.put('cutover', 'a', 1)).toBe(1);
    store.failNext(1, 'store.conflict');
    const error = await store.keys('cutover').catch((e: unknown) => e);
    expect(isCutoverError(error) && error.code === 'store.conflict' && error.retryable).toBe(true);
    expect(await store.keys('cutover')).toEqual(['a']);
  });

  it('ends its watches and refuses operations once closed', async () => {
    const store = createMemoryStore({ lattice: 'l1' });
    expect(store.lattice).toBe('l1');
    const w = store.watch('cutover');
    const next = w[Symbol.asyncIterator]().next();
    await store.close();
    await store.close();
    expect((await next).done).toBe(true);
    expect(await codeOf(store.get('cutover', 'a'))).toBe('store.unavailable');
    expect(() => store.watch('cutover')).toThrowError(expect.objectContaining({ code: 'store.unavailable' }));
  });

  it('keeps many watchers independent: each gets its own copy of every change', async () => {
    await using store = createMemoryStore();
    const one = store.watch<{ n: number }>('latticedata')[Symbol.asyncIterator]();
    const two = store.watch<{ n: number }>('latticedata')[Symbol.asyncIterator]();
    await store.put('latticedata', 'k', { n: 1 });
    const a = await one.next();
    const b = await two.next();
    if (a.done || b.done) throw new Error('watch ended');
    expect(a.value.value).toEqual(b.value.value);
    expect(a.value.value).not.toBe(b.value.value);
    await one.return?.();
    await two.return?.();
  });
});

describe('memory deadlines', () => {
  it('fires each live deadline once, in instant order, on one clock timer, also after many cancellations', () => {
    const clock = new SimulatedClock();
    const deadlines = new Deadlines(clock);
    const fired: number[] = [];
    const handles = Array.from({ length: 3_000 }, (_, i) => deadlines.after(3_000 - i, () => fired.push(3_000 - i)));
    for (const [i, h] of handles.entries()) if (i % 3 !== 0) h.cancel();
    handles[0]!.cancel();
    handles[0]!.cancel();
    deadlines.after(0, () => fired.push(0));
    clock.increment(0);
    expect(fired).toEqual([0]);
    clock.increment(1_500);
    const live = Array.from({ length: 3_000 }, (_, i) => i)
      .filter((i) => i % 3 === 0 && i !== 0)
      .map((i) => 3_000 - i)
      .sort((x, y) => x - y);
    expect(fired.slice(1)).toEqual(live.filter((at) => at <= 1_500));
    // A deadline added from a firing callback is honoured too.
    deadlines.after(10, () => deadlines.after(5, () => fired.push(-1)));
    clock.increment(1_600);
    expect(fired.slice(1)).toEqual(live);
    // SimulatedClock jumps: the nested deadline counts from the clock's new now.
    clock.increment(5);
    expect(fired.slice(1)).toEqual([...live, -1]);
  });
});
