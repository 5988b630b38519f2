import {
  BUCKET_NAMES,
  MAX_VALUE_BYTES,
  type StateStore,
  type StoreChange,
  type StoreWatch,
  createLeases,
  isCutoverError,
  leaseKey,
} from 'cutover';
import { SimulatedClock } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejection } from '../helpers/rejection';

/** A store on a fresh, empty lattice (new buckets); disposing it removes what it made. */
export type StoreHarness = { store: StateStore } & AsyncDisposable;

/** Reads the next `n` changes of a watch (bounded by the test timeout: a real change must arrive). */
async function take<T>(iterator: AsyncIterator<StoreChange<T>>, n: number): Promise<StoreChange<T>[]> {
  const out: StoreChange<T>[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) throw new Error(`watch ended after ${out.length} of ${n} changes`);
    out.push(next.value);
  }
  return out;
}

const brief = (changes: StoreChange[]) => changes.map((c) => [c.key, c.value] as const);

/**
 * The StateStore contract of DESIGN §6 (JetStream KV semantics) and the lease built on it, run unchanged
 * against every adapter.
 */
export function describeStoreContract(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: StateStore;
    const watches: StoreWatch[] = [];

    beforeEach(async () => {
      harness = await factory();
      store = harness.store;
    });
    afterEach(async () => {
      for (const w of watches.splice(0)) w.stop();
      await harness[Symbol.asyncDispose]();
    });

    const watch = <T>(...args: Parameters<StateStore['watch']>) => {
      const w = store.watch<T>(...args);
      watches.push(w as StoreWatch);
      return w;
    };

    it('returns null for a key never written', async () => {
      for (const bucket of BUCKET_NAMES) expect(await store.get(bucket, 'nothing.here')).toBeNull();
      expect(await store.keys('cutover')).toEqual([]);
    });

    it('numbers revisions per bucket from 1, on every put and delete', async () => {
      expect(await store.put('latticedata', 'a', 1)).toBe(1);
      expect(await store.put('latticedata', 'b', 2)).toBe(2);
      expect(await store.put('latticedata', 'a', 3)).toBe(3);
      await store.delete('latticedata', 'b');
      expect(await store.put('latticedata', 'c', 4)).toBe(5);
      expect(await store.put('configdata', 'a', 1)).toBe(1);
      expect(await store.put('cutover', 'a', 1)).toBe(1);
      expect(await store.get('latticedata', 'a')).toEqual({ key: 'a', value: 3, revision: 3 });
    });

    it('round-trips JSON values and never shares objects with the caller', async () => {
      const value = { name: 'shop', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null }, text: 'é ✓' };
      await store.put('latticedata', 'app.shop', value);
      value.tags.push('mutated');
      const first = await store.get<typeof value>('latticedata', 'app.shop');
      expect(first?.value).toEqual({
        name: 'shop',
        tags: ['a', 'b'],
        nested: { n: 1.5, ok: true, none: null },
        text: 'é ✓',
      });
      first?.value.tags.push('mutated again');
      expect((await store.get<typeof value>('latticedata', 'app.shop'))?.value.tags).toEqual(['a', 'b']);
      for (const v of ['text', 42, false, null, [1, [2]]]) {
        await store.put('configdata', 'scalar', v);
        expect((await store.get('configdata', 'scalar'))?.value).toEqual(v);
      }
    });

    it('compares and sets: a stale expected revision fails with a retryable store.conflict and changes nothing', async () => {
      const r1 = await store.put('cutover', 'rollout.r1', { step: 1 });
      const r2 = await store.put('cutover', 'rollout.r1', { step: 2 }, { expectedRevision: r1 });
      expect(r2).toBeGreaterThan(r1);
      const error = await rejection(store.put('cutover', 'rollout.r1', { step: 3 }, { expectedRevision: r1 }));
      expect(error.code).toBe('store.conflict');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('rollout.r1');
      expect(error.message).toContain(String(r1));
      expect(await store.get('cutover', 'rollout.r1')).toEqual({ key: 'rollout.r1', value: { step: 2 }, revision: r2 });
      expect((await rejection(store.put('cutover', 'rollout.new', 1, { expectedRevision: 7 }))).code).toBe(
        'store.conflict',
      );
      expect(await store.get('cutover', 'rollout.new')).toBeNull();
    });

    it('treats expected revision 0 as "must not exist", a deleted key counting as not existing', async () => {
      const r1 = await store.put('cutover', 'lock', 'first', { expectedRevision: 0 });
      expect((await rejection(store.put('cutover', 'lock', 'second', { expectedRevision: 0 }))).code).toBe(
        'store.conflict',
      );
      expect((await store.get('cutover', 'lock'))?.value).toBe('first');
      await store.delete('cutover', 'lock', { expectedRevision: r1 });
      const r3 = await store.put('cutover', 'lock', 'third', { expectedRevision: 0 });
      expect(await store.get('cutover', 'lock')).toEqual({ key: 'lock', value: 'third', revision: r3 });
    });

    it('deletes with a tombstone: get is null, keys leave it out, a stale delete conflicts', async () => {
      const r1 = await store.put('latticedata', 'link.a', { a: 1 });
      await store.put('latticedata', 'link.b', { b: 1 });
      const r2 = await store.put('latticedata', 'link.a', { a: 2 });
      expect((await rejection(store.delete('latticedata', 'link.a', { expectedRevision: r1 }))).code).toBe(
        'store.conflict',
      );
      expect((await store.get('latticedata', 'link.a'))?.value).toEqual({ a: 2 });
      await store.delete('latticedata', 'link.a', { expectedRevision: r2 });
      expect(await store.get('latticedata', 'link.a')).toBeNull();
      expect(await store.keys('latticedata')).toEqual(['link.b']);
      expect(await store.put('latticedata', 'link.c', 1)).toBe(r2 + 2);
      await store.delete('latticedata', 'never.written');
      expect(await store.get('latticedata', 'never.written')).toBeNull();
    });

    it('lists present keys sorted, optionally under a prefix, per bucket', async () => {
      for (const key of ['rollout.b', 'lease.shop', 'rollout.a', 'rollout.a.batch.1', 'history.shop', 'rollouts']) {
        await store.put('cutover', key, key);
      }
      await store.put('latticedata', 'rollout.other', 1);
      expect(await store.keys('cutover')).toEqual([
        'history.shop',
        'lease.shop',
        'rollout.a',
        'rollout.a.batch.1',
        'rollout.b',
        'rollouts',
      ]);
      expect(await store.keys('cutover', 'rollout.')).toEqual(['rollout.a', 'rollout.a.batch.1', 'rollout.b']);
      expect(await store.keys('cutover', 'rollout')).toEqual([
        'rollout.a',
        'rollout.a.batch.1',
        'rollout.b',
        'rollouts',
      ]);
      expect(await store.keys('cutover', 'none.')).toEqual([]);
    });

    it('watches current values first, then changes in order, deletes as null', async () => {
      await store.put('cutover', 'rollout.a', { v: 1 });
      await store.put('cutover', 'rollout.b', { v: 1 });
      await store.put('cutover', 'rollout.gone', { v: 1 });
      await store.delete('cutover', 'rollout.gone');
      const w = watch<{ v: number }>('cutover');
      const it = w[Symbol.asyncIterator]();
      const initial = await take(it, 2);
      expect(brief(initial)).toEqual([
        ['rollout.a', { v: 1 }],
        ['rollout.b', { v: 1 }],
      ]);
      expect(initial[0]!.revision).toBeLessThan(initial[1]!.revision);
      const r4 = await store.put('cutover', 'rollout.a', { v: 2 });
      await store.delete('cutover', 'rollout.b');
      await store.put('cutover', 'rollout.c', { v: 1 });
      const changes = await take(it, 3);
      expect(brief(changes)).toEqual([
        ['rollout.a', { v: 2 }],
        ['rollout.b', null],
        ['rollout.c', { v: 1 }],
      ]);
      expect(changes.map((c) => c.revision)).toEqual([r4, r4 + 1, r4 + 2]);
    });

    it('watches only keys under a prefix, in one bucket', async () => {
      await store.put('cutover', 'lease.shop', 1);
      await store.put('cutover', 'rollout.a', 1);
      const w = watch('cutover', { prefix: 'lease.' });
      const it = w[Symbol.asyncIterator]();
      expect(brief(await take(it, 1))).toEqual([['lease.shop', 1]]);
      await store.put('cutover', 'rollout.b', 2);
      await store.put('latticedata', 'lease.elsewhere', 2);
      await store.put('cutover', 'lease.bank', 2);
      expect(brief(await take(it, 1))).toEqual([['lease.bank', 2]]);
    });

    it('ends a watch on stop(), also one waiting for a change', async () => {
      const w = watch('configdata');
      const it = w[Symbol.asyncIterator]();
      const pending = it.next();
      w.stop();
      expect((await pending).done).toBe(true);
      const again = watch('configdata');
      await store.put('configdata', 'x', 1);
      const seen: StoreChange[] = [];
      for await (const change of again) {
        seen.push(change);
        again.stop();
      }
      expect(brief(seen)).toEqual([['x', 1]]);
    });

    it(`refuses values over ${MAX_VALUE_BYTES} bytes of JSON with store.tooLarge, storing nothing`, async () => {
      const big = 'x'.repeat(MAX_VALUE_BYTES);
      const error = await rejection(store.put('latticedata', 'big', big));
      expect(error.code).toBe('store.tooLarge');
      expect(error.message).toContain('big');
      expect(await store.get('latticedata', 'big')).toBeNull();
      const fits = 'y'.repeat(512 * 1024);
      await store.put('latticedata', 'fits', fits);
      expect((await store.get('latticedata', 'fits'))?.value).toBe(fits);
    });

    it('refuses invalid keys with store.invalidKey and values that are not JSON with store.invalidValue', async () => {
      for (const key of ['', '.lead', 'trail.', 'dou..ble', 'wild.*', 'wild.>', 'sp ace', 'colon:x', 'ünï']) {
        const error = await rejection(store.put('latticedata', key, 1));
        expect(error.code, key).toBe('store.invalidKey');
        expect(error.message).toContain(`"${key}"`);
        expect((await rejection(store.get('latticedata', key))).code).toBe('store.invalidKey');
        expect((await rejection(store.delete('latticedata', key))).code).toBe('store.invalidKey');
      }
      for (const key of ['a', 'A-b_c=d/e.f.0']) await store.put('latticedata', key, 1);
      expect((await rejection(store.put('latticedata', 'v', undefined))).code).toBe('store.invalidValue');
      expect((await rejection(store.put('latticedata', 'v', 10n))).code).toBe('store.invalidValue');
      expect(await store.keys('latticedata')).toEqual(['A-b_c=d/e.f.0', 'a']);
    });

    describe('lease', () => {
      const options = (holder: string, clock: SimulatedClock) => ({ holder, ttlMs: 10_000, clock });

      it('gives a new lease token 1 and refuses another holder while it lives, naming holder and expiry', async () => {
        const clock = new SimulatedClock();
        const one = createLeases(store, options('orch-1', clock));
        const two = createLeases(store, options('orch-2', clock));
        const lease = await one.acquire('shop');
        expect(lease).toMatchObject({ app: 'shop', holder: 'orch-1', token: 1, expiresAt: 10_000 });
        const error = await rejection(two.acquire('shop'));
        expect(error.code).toBe('lease.held');
        expect(error.message).toContain('orch-1');
        expect(error.message).toContain(new Date(10_000).toISOString());
        expect(await one.current('shop')).toMatchObject({ holder: 'orch-1', token: 1 });
        expect((await store.get('cutover', leaseKey('shop')))?.value).toEqual({
          schema: 1,
          app: 'shop',
          holder: 'orch-1',
          token: 1,
          expiresAt: 10_000,
        });
      });

      it('renews its own lease with the same token, and re-acquiring renews too', async () => {
        const clock = new SimulatedClock();
        const leases = createLeases(store, options('orch-1', clock));
        const lease = await leases.acquire('shop');
        clock.increment(6_000);
        const renewed = await leases.renew(lease);
        expect(renewed).toMatchObject({ token: 1, expiresAt: 16_000 });
        clock.increment(6_000);
        expect(await leases.acquire('shop')).toMatchObject({ token: 1, expiresAt: 22_000 });
      });

      it('lets another holder take an expired lease with a higher token; the old holder is stale', async () => {
        const clock = new SimulatedClock();
        const one = createLeases(store, options('orch-1', clock));
        const two = createLeases(store, options('orch-2', clock));
        const old = await one.acquire('shop');
        clock.increment(10_001);
        const taken = await two.acquire('shop');
        expect(taken).toMatchObject({ holder: 'orch-2', token: 2 });
        const error = await rejection(one.renew(old));
        expect(error.code).toBe('lease.stale');
        expect(error.message).toContain('shop');
        expect((await rejection(one.acquire('shop'))).code).toBe('lease.held');
        await one.release(old);
        expect(await two.current('shop')).toMatchObject({ holder: 'orch-2', token: 2, expiresAt: taken.expiresAt });
      });

      it('never reuses a token: a released lease is taken again with the next one', async () => {
        const clock = new SimulatedClock();
        const one = createLeases(store, options('orch-1', clock));
        const two = createLeases(store, options('orch-2', clock));
        await one.release(await one.acquire('shop'));
        expect(await one.current('shop')).toMatchObject({ token: 1, expiresAt: 0 });
        const second = await two.acquire('shop');
        expect(second.token).toBe(2);
        await two.release(second);
        expect((await one.acquire('shop')).token).toBe(3);
        expect((await createLeases(store, options('orch-3', clock)).acquire('bank')).token).toBe(1);
      });

      it('lets exactly one of several racing acquirers win', async () => {
        const clock = new SimulatedClock();
        const racers = ['orch-1', 'orch-2', 'orch-3', 'orch-4'].map((h) => createLeases(store, options(h, clock)));
        const results = await Promise.allSettled(racers.map((l) => l.acquire('shop')));
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(isCutoverError(r.reason) && r.reason.code).toBe('lease.held');
        }
        const winner = won[0]?.status === 'fulfilled' ? won[0].value : undefined;
        expect(await racers[0]!.current('shop')).toMatchObject({ holder: winner?.holder, token: 1 });
      });
    });
  });
}
