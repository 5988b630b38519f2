import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { MAX_VALUE_BYTES, type StateStore, type StoreChange, type StoreWatch } from 'cutover';
import { createNatsStore } from 'cutover/adapters/nats';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { rejection } from '../helpers/rejection';

/** Reads up to `n` changes from one iterator of a watch, without ending it (bounded by the test timeout). */
async function take<T>(iterator: AsyncIterator<StoreChange<T>>, n: number): Promise<StoreChange<T>[]> {
  const out: StoreChange<T>[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done === true) break;
    out.push(next.value);
  }
  return out;
}

const iterate = <T>(watch: StoreWatch<T>) => watch[Symbol.asyncIterator]();

let server: NatsServerHandle;
let nc: NatsConnection;
let unique = 0;
let lattice: string;
let store: StateStore;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await server.connect();
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});
beforeEach(() => {
  lattice = `s${++unique}`;
  store = createNatsStore(nc, { lattice });
});

describe('nats store', () => {
  it('creates the three buckets of DESIGN §6 on first use', async () => {
    await store.put('latticedata', 'spec.a', { v: 1 });
    await store.put('configdata', 'cfg.a', { v: 1 });
    await store.put('cutover', 'lease.a', { v: 1 });
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const si of jsm.streams.list()) names.push(si.config.name);
    expect(names).toEqual(
      expect.arrayContaining([`KV_LATTICEDATA_${lattice}`, `KV_CONFIGDATA_${lattice}`, `KV_CUTOVER_${lattice}`]),
    );
  });

  it('numbers revisions per bucket, as the bucket stream sequence', async () => {
    expect(await store.put('cutover', 'a', 1)).toBe(1);
    expect(await store.put('cutover', 'b', 2)).toBe(2);
    expect(await store.put('latticedata', 'a', 3)).toBe(1);
    const raw = await new Kvm(nc).open(`CUTOVER_${lattice}`);
    expect((await raw.get('b'))?.revision).toBe(2);
  });

  it('shares state between stores on different connections, opening existing buckets', async () => {
    const other = await server.connect();
    const second = createNatsStore(other, { lattice });
    const rev = await store.put('cutover', 'shared', { n: 1 });
    expect(await second.get('cutover', 'shared')).toEqual({ key: 'shared', value: { n: 1 }, revision: rev });
    await expect(second.put('cutover', 'shared', { n: 2 }, { expectedRevision: rev })).resolves.toBe(rev + 1);
    await other.close();
  });

  it('creates a key with expected revision 0 again after it was deleted or purged (tombstones do not exist)', async () => {
    const first = await store.put('cutover', 'k', 'one', { expectedRevision: 0 });
    expect((await rejection(store.put('cutover', 'k', 'two', { expectedRevision: 0 }))).code).toBe('store.conflict');
    await store.delete('cutover', 'k');
    const second = await store.put('cutover', 'k', 'three', { expectedRevision: 0 });
    expect(second).toBeGreaterThan(first);
    const raw = await new Kvm(nc).open(`CUTOVER_${lattice}`);
    await raw.purge('k');
    expect(await store.get('cutover', 'k')).toBeNull();
    await store.put('cutover', 'k', 'four', { expectedRevision: 0 });
    expect((await store.get('cutover', 'k'))?.value).toBe('four');
  });

  it('maps a stale expected revision to a retryable store.conflict and keeps the value', async () => {
    const r1 = await store.put('cutover', 'cas', 'a');
    const r2 = await store.put('cutover', 'cas', 'b', { expectedRevision: r1 });
    const error = await rejection(store.put('cutover', 'cas', 'c', { expectedRevision: r1 }));
    expect(error.code).toBe('store.conflict');
    expect(error.retryable).toBe(true);
    expect(await store.get('cutover', 'cas')).toEqual({ key: 'cas', value: 'b', revision: r2 });
  });

  it('deletes with compare-and-set, refusing a stale revision', async () => {
    const r1 = await store.put('cutover', 'del', 'a');
    const r2 = await store.put('cutover', 'del', 'b');
    expect((await rejection(store.delete('cutover', 'del', { expectedRevision: r1 }))).code).toBe('store.conflict');
    expect((await rejection(store.delete('cutover', 'del', { expectedRevision: 0 }))).code).toBe('store.conflict');
    await store.delete('cutover', 'del', { expectedRevision: r2 });
    expect(await store.get('cutover', 'del')).toBeNull();
    // Like JetStream KV, every delete writes a marker; expected revision 0 holds for absent and deleted keys.
    await store.delete('cutover', 'del', { expectedRevision: 0 });
    await store.delete('cutover', 'never', { expectedRevision: 0 });
    await store.delete('cutover', 'never');
    expect(await store.put('cutover', 'next', 1)).toBe(r2 + 5);
    const marker = await (await new Kvm(nc).open(`CUTOVER_${lattice}`)).get('never');
    expect(marker?.operation).toBe('DEL');
  });

  it('lists live keys under a prefix, sorted, including prefixes that end inside a token', async () => {
    for (const k of ['rollout.b', 'rollout.a', 'rollout.ab.x', 'rolloutx', 'lease.app', 'rollout.c'])
      await store.put('cutover', k, k);
    await store.delete('cutover', 'rollout.c');
    expect(await store.keys('cutover')).toEqual(['lease.app', 'rollout.a', 'rollout.ab.x', 'rollout.b', 'rolloutx']);
    expect(await store.keys('cutover', 'rollout.')).toEqual(['rollout.a', 'rollout.ab.x', 'rollout.b']);
    expect(await store.keys('cutover', 'rollout.a')).toEqual(['rollout.a', 'rollout.ab.x']);
    expect(await store.keys('cutover', 'rollout')).toEqual(['rollout.a', 'rollout.ab.x', 'rollout.b', 'rolloutx']);
    expect(await store.keys('configdata')).toEqual([]);
  });

  it('watches current values under a prefix, then changes, with deletes and purges as null', async () => {
    await store.put('latticedata', 'app.one', { n: 1 });
    await store.put('latticedata', 'app.gone', { n: 0 });
    await store.delete('latticedata', 'app.gone');
    await store.put('latticedata', 'other.x', { n: 9 });
    const watch = store.watch<{ n: number }>('latticedata', { prefix: 'app.' });
    const changesOf = iterate(watch);
    const initial = await take(changesOf, 1);
    expect(initial.map((c) => [c.key, c.value])).toEqual([['app.one', { n: 1 }]]);
    await store.put('latticedata', 'other.y', { n: 8 });
    const r2 = await store.put('latticedata', 'app.two', { n: 2 });
    await store.delete('latticedata', 'app.one');
    await (await new Kvm(nc).open(`LATTICEDATA_${lattice}`)).purge('app.two');
    const changes = await take(changesOf, 3);
    expect(changes.map((c) => [c.key, c.value])).toEqual([
      ['app.two', { n: 2 }],
      ['app.one', null],
      ['app.two', null],
    ]);
    expect(changes[0]?.revision).toBe(r2);
    watch.stop();
    expect(await take(changesOf, 1)).toEqual([]);
  });

  it('refuses a value over MAX_VALUE_BYTES with store.tooLarge and writes nothing', async () => {
    const big = 'x'.repeat(MAX_VALUE_BYTES);
    const error = await rejection(store.put('cutover', 'big', big));
    expect(error.code).toBe('store.tooLarge');
    expect(error.message).toContain(`"CUTOVER_${lattice}/big"`);
    expect(await store.get('cutover', 'big')).toBeNull();
    const fits = 'y'.repeat(512 * 1024);
    await store.put('cutover', 'fits', fits);
    expect((await store.get<string>('cutover', 'fits'))?.value).toHaveLength(fits.length);
  });

  it('refuses invalid keys and non-json values before touching the server', async () => {
    for (const key of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>', 'ü']) {
      await expect(store.get('cutover', key)).rejects.toMatchObject({ code: 'store.invalidKey' });
      await expect(store.put('cutover', key, 1)).rejects.toMatchObject({ code: 'store.invalidKey' });
      await expect(store.delete('cutover', key)).rejects.toMatchObject({ code: 'store.invalidKey' });
    }
    await expect(store.put('cutover', 'fn', () => 1)).rejects.toMatchObject({ code: 'store.invalidValue' });
    await expect(store.put('cutover', 'big', 10n)).rejects.toMatchObject({ code: 'store.invalidValue' });
    await store.put('cutover', 'with/slash.and=eq', 1);
    expect(await store.keys('cutover', 'a..')).toEqual([]);
    expect(await store.keys('cutover')).toEqual(['with/slash.and=eq']);
  });

  it('refuses a lattice name that cannot name a bucket', () => {
    expect(() => createNatsStore(nc, { lattice: 'a.b' })).toThrow(
      expect.objectContaining({ code: 'store.invalidKey' }),
    );
  });

  it('reports a server without JetStream as a retryable store.unavailable', async () => {
    await using plain = await startNatsServer({ jetstream: false });
    const conn = await plain.connect();
    const error = await rejection(createNatsStore(conn, { lattice, timeoutMs: 1_000 }).get('cutover', 'x'));
    expect(error.code).toBe('store.unavailable');
    expect(error.retryable).toBe(true);
  });

  it('refuses every call after close, and after the connection closed', async () => {
    const conn = await server.connect();
    const own = createNatsStore(conn, { lattice });
    await own.put('cutover', 'a', 1);
    const watch = own.watch('cutover');
    await own.close();
    expect(await take(iterate(watch), 1)).toEqual([]);
    expect(() => own.watch('cutover')).toThrow(expect.objectContaining({ code: 'store.unavailable' }));
    await expect(own.get('cutover', 'a')).rejects.toMatchObject({ code: 'store.unavailable' });
    const other = createNatsStore(conn, { lattice });
    await conn.close();
    await expect(other.put('cutover', 'a', 2)).rejects.toMatchObject({ code: 'store.unavailable', retryable: false });
    expect((await store.get('cutover', 'a'))?.value).toBe(1);
  });
});
