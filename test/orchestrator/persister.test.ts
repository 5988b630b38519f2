import { CutoverError, type StateStore, hasCode } from 'cutover';
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

  it('carries on when a write landed but its answer was lost (a server restart), yet still yields to another writer', async () => {
    await using store = createMemoryStore();
    let dropAnswers = 0;
    // The write is applied, then the reply is lost: what a KV put in flight when nats-server dies looks like.
    const flaky: StateStore = {
      get: store.get.bind(store),
      delete: store.delete.bind(store),
      keys: store.keys.bind(store),
      watch: store.watch.bind(store),
      close: store.close.bind(store),
      put: async (...args) => {
        const revision = await store.put(...args);
        if (dropAnswers > 0) {
          dropAnswers--;
          throw new CutoverError('store.unavailable', 'jetstream unavailable: timeout');
        }
        return revision;
      },
    };
    const lost: unknown[] = [];
    const p = new Persister(flaky, 'rollout.r1', 0, (e) => lost.push(e));
    p.schedule({ i: 1 });
    await p.flush();
    dropAnswers = 1;
    p.schedule({ i: 2 });
    await p.flush();
    p.schedule({ i: 3 });
    await p.flush();
    expect(lost).toEqual([]);
    expect((await store.get('cutover', 'rollout.r1'))?.value).toEqual({ i: 3 });
    await store.put('cutover', 'rollout.r1', { by: 'someone else' });
    p.schedule({ i: 4 });
    await expect(p.flush()).rejects.toSatisfy((e) => hasCode(e, 'store.conflict'));
    expect(lost).toHaveLength(1);
  });
});
