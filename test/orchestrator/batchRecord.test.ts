import { specHash } from 'cutover';
import { createMemoryStore } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { StoredBatchRecord, keys, packBatch, unpackBatch } from '../../src/orchestrator/records';

const ref = (id: string, image: string) => ({
  kind: 'component' as const,
  id,
  hash: specHash({ id, app: 'shop', imageRef: image }),
});

describe('batch record', () => {
  it('stores a 10,000-host batch as one value under the store bound and reads back every host and its applies', async () => {
    const api = ref('api', 'mem://api:2');
    const web = ref('web', 'mem://web:2');
    const hosts = Array.from({ length: 10_000 }, (_, i) => ({
      hostId: `host-${i}`,
      apply: i % 3 === 0 ? [api] : [api, web],
    }));
    const store = createMemoryStore({ lattice: 'bench' });
    await store.put('cutover', keys.batch('r1', 0), packBatch(hosts));
    const entry = await store.get('cutover', keys.batch('r1', 0));
    const read = unpackBatch(StoredBatchRecord.parse(entry?.value));
    expect(read.hosts).toHaveLength(10_000);
    expect(new Map(read.hosts.map((h) => [h.hostId, h.apply]))).toEqual(new Map(hosts.map((h) => [h.hostId, h.apply])));
  });

  it('reads a batch written with one apply list per host (schema 1), so an older plan still resumes', () => {
    const api = ref('api', 'mem://api:1');
    const stored = { schema: 1, hosts: [{ hostId: 'h1', apply: [api] }] };
    expect(unpackBatch(StoredBatchRecord.parse(stored))).toEqual(stored);
  });

  it('rejects a batch with an unknown schema', () => {
    expect(StoredBatchRecord.safeParse({ schema: 3, groups: [] }).success).toBe(false);
  });
});
