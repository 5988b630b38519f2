import { createLeases, isCutoverError, leaseKey } from 'cutover';
import { createMemoryStore } from 'cutover/adapters/memory';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isCutoverError(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

describe('lease', () => {
  it('keys any app id as a valid store key and keeps the id in the record', async () => {
    await using store = createMemoryStore();
    const leases = createLeases(store, { holder: 'orch-1', ttlMs: 1_000, clock: new SimulatedClock() });
    expect(leaseKey('shop')).toBe('lease.shop');
    const lease = await leases.acquire('acme:shop.v2');
    expect(lease.app).toBe('acme:shop.v2');
    const [key] = await store.keys('cutover', 'lease.');
    expect(key).toBe(leaseKey('acme:shop.v2'));
    expect(key).not.toContain(':');
    expect(await leases.current('acme:shop.v2')).toMatchObject({ app: 'acme:shop.v2', token: 1 });
    expect(await leases.current('other')).toBeNull();
  });

  it('hands tokens out in strictly increasing order over many handovers', async () => {
    await using store = createMemoryStore();
    const clock = new SimulatedClock();
    const holders = ['a', 'b', 'c'].map((h) => createLeases(store, { holder: h, ttlMs: 100, clock }));
    const tokens: number[] = [];
    for (let i = 0; i < 12; i++) {
      const lease = await holders[i % 3]!.acquire('shop');
      tokens.push(lease.token);
      if (i % 2 === 0) await holders[i % 3]!.release(lease);
      else clock.increment(101);
    }
    expect(tokens).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('renews an expired lease nobody took, keeping its token', async () => {
    await using store = createMemoryStore();
    const clock = new SimulatedClock();
    const leases = createLeases(store, { holder: 'orch-1', ttlMs: 100, clock });
    const lease = await leases.acquire('shop');
    clock.increment(500);
    expect(await leases.renew(lease)).toMatchObject({ token: 1, expiresAt: 600 });
  });

  it('refuses to renew a lease that was released', async () => {
    await using store = createMemoryStore();
    const clock = new SimulatedClock();
    const one = createLeases(store, { holder: 'orch-1', ttlMs: 100, clock });
    const lease = await one.acquire('shop');
    await one.release(lease);
    await createLeases(store, { holder: 'orch-2', ttlMs: 100, clock }).acquire('shop');
    expect(await codeOf(one.renew(lease))).toBe('lease.stale');
  });

  it('retries after a lost compare-and-set and gives up with store.conflict when it keeps losing', async () => {
    await using store = createMemoryStore();
    const leases = createLeases(store, { holder: 'orch-1', ttlMs: 100, clock: new SimulatedClock() });
    store.failNext(3, 'store.conflict');
    expect((await leases.acquire('shop')).token).toBe(1);
    store.failNext(1_000, 'store.conflict');
    expect(await codeOf(leases.acquire('bank'))).toBe('store.conflict');
    store.failNext(0);
    store.failNext(1, 'store.unavailable');
    expect(await codeOf(leases.acquire('bank'))).toBe('store.unavailable');
    expect((await leases.acquire('bank')).token).toBe(1);
  });

  it('refuses a corrupt lease record with snapshot.invalid and leaves it as it is', async () => {
    await using store = createMemoryStore();
    await store.put('cutover', leaseKey('shop'), { holder: 'someone' });
    const leases = createLeases(store, { holder: 'orch-1', ttlMs: 100 });
    const error = await leases.acquire('shop').catch((e: unknown) => e);
    expect(isCutoverError(error) && error.code).toBe('snapshot.invalid');
    expect(isCutoverError(error) && error.message).toContain(leaseKey('shop'));
    expect((await store.get('cutover', leaseKey('shop')))?.value).toEqual({ holder: 'someone' });
  });

  it('uses the system clock by default', async () => {
    await using store = createMemoryStore();
    const before = Date.now();
    const lease = await createLeases(store, { holder: 'orch-1', ttlMs: 60_000 }).acquire('shop');
    expect(lease.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
  });
});
