import { hasCode } from 'cutover';
import { createMemoryStore } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { Persister } from '../../src/orchestrator/persister';

describe('persister', () => {
  it('coalesces writes: one in flight, the latest value wins, flush waits for it', async () => {
    await using store = createMemoryStore();
    const p = new Persister(store, 'rollout.r1', 0, () => undefined);
    for (let i = 0; i < 100; i++) p.schedule({ i });
    await p.flush();
    expect((await store.get('cutover', 'rollout.r1'))?.value).toEqual({ i: 99 });
    expect(p.writes).toBeLessThan(100);
    expect(p.writes).toBeGreaterThanOrEqual(1);
  });

  it('stops writing when another writer took the key over (compare-and-set)', async () => {
    await using store = createMemoryStore();
    const lost: unknown[] = [];
    const p = new Persister(store, 'rollout.r1', 0, (e) => lost.push(e));
    p.schedule({ i: 1 });
    await p.flush();
    await store.put('cutover', 'rollout.r1', { by: 'someone else' });
    p.schedule({ i: 2 });
    await expect(p.flush()).rejects.toSatisfy((e) => hasCode(e, 'store.conflict'));
    expect(lost).toHaveLength(1);
    expect((await store.get('cutover', 'rollout.r1'))?.value).toEqual({ by: 'someone else' });
  });

  it('retries a transient store failure until the value is durable', async () => {
    await using store = createMemoryStore();
    const p = new Persister(store, 'rollout.r1', 0, () => undefined);
    store.failNext(2, 'store.unavailable');
    p.schedule({ i: 1 });
    await p.flush();
    expect((await store.get('cutover', 'rollout.r1'))?.value).toEqual({ i: 1 });
  });
});
