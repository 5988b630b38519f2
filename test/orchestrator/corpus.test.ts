// The wadm e2e upgrade fixtures (outdatedapp → upgradedapp → upgradedapp2) on 5 real memory hosts.
import { parseManifest, specHash } from 'cutover';
import { createMemoryRuntime, type MemoryRuntime } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { corpus, drive, testLattice } from '../fixtures/orchestrator';

const V1 = 'wadm__tests__fixtures__manifests__outdatedapp.yaml';
const V2 = 'wadm__tests__fixtures__manifests__upgradedapp.yaml';
const V3 = 'wadm__tests__fixtures__manifests__upgradedapp2.yaml';
const IMAGES = [
  'ghcr.io/wasmcloud/components/dog-fetcher-rust:0.1.0',
  'ghcr.io/wasmcloud/components/dog-fetcher-rust:0.1.1',
  'ghcr.io/wasmcloud/components/echo-messaging-rust:0.1.0',
  'ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0',
  'ghcr.io/wasmcloud/components/http-keyvalue-counter-rust:0.1.0',
];
const STRATEGY = { type: 'rolling', maxParallel: 2, maxUnavailable: 2 } as const;

function publishAll(runtime: MemoryRuntime, broken?: string) {
  for (const ref of IMAGES) {
    runtime.publish(ref, {
      version: ref,
      operations: { handle: (p) => p },
      ...(ref === broken ? { validateError: 'bad magic number' } : {}),
    });
  }
}

/** What each host must serve for a revision (by spec hash), as placement puts it with 5 hosts. */
function hashesOf(text: string): Map<string, string> {
  const { revision } = parseManifest(text);
  return new Map([
    ...revision.components.map((c) => [c.spec.id, specHash(c.spec, 'component')] as const),
    ...revision.providers.map((p) => [p.spec.id, specHash(p.spec, 'provider')] as const),
  ]);
}

describe('orchestrator on the wadm upgrade corpus', () => {
  it('upgrades outdatedapp → upgradedapp → upgradedapp2 on 5 hosts, removing what each revision dropped', async () => {
    await using lat = await testLattice(5);
    publishAll(lat.runtime);
    const orch = await lat.orchestrator();

    const first = await orch.deploy(corpus(V1), { strategy: STRATEGY });
    expect((await drive(lat.clock, first.done)).outcome).toBe('completed');
    const v1 = hashesOf(corpus(V1));
    const after1 = lat.serving('updateapp');
    // dog-fetcher on 5, hello-world and kvcounter on 3, http_server with its linked components, redis with kvcounter.
    const count = (id: string) => Object.values(after1).filter((w) => w[id] !== undefined).length;
    const ids = [...new Set(Object.values(after1).flatMap((w) => Object.keys(w)))];
    const dog = ids.find((i) => i.includes('dog')) ?? '';
    const kv = ids.find((i) => i.includes('kvcounter')) ?? '';
    const redis = ids.find((i) => i.includes('redis')) ?? '';
    expect(count(dog)).toBe(5);
    expect(count(kv)).toBe(3);
    expect(count(redis)).toBe(3);
    for (const w of Object.values(after1)) for (const [id, hash] of Object.entries(w)) expect(hash).toBe(v1.get(id));

    const second = await orch.deploy(corpus(V2), { strategy: STRATEGY });
    expect((await drive(lat.clock, second.done)).outcome).toBe('completed');
    const v2 = hashesOf(corpus(V2));
    const after2 = lat.serving('updateapp');
    for (const w of Object.values(after2)) {
      for (const [id, hash] of Object.entries(w)) expect(hash).toBe(v2.get(id));
      expect(w[kv]).toBeUndefined();
      expect(w[redis]).toBeUndefined();
    }
    expect(Object.values(after2).filter((w) => Object.keys(w).some((id) => id.includes('echo')))).toHaveLength(1);

    const third = await orch.deploy(corpus(V3), { strategy: STRATEGY });
    expect((await drive(lat.clock, third.done)).outcome).toBe('completed');
    const v3 = hashesOf(corpus(V3));
    for (const w of Object.values(lat.serving('updateapp'))) {
      for (const [id, hash] of Object.entries(w)) expect(hash).toBe(v3.get(id));
    }
    const status = await orch.status('updateapp');
    expect(status).toMatchObject({
      phase: 'deployed',
      stableVersion: parseManifest(corpus(V3)).revision.version,
      scalerHolders: [],
    });
    expect((await orch.history('updateapp')).map((h) => h.outcome)).toEqual(['completed', 'completed', 'completed']);
  });

  it('rolls every host back to the exact stable specs when a host fails validation in the second batch', async () => {
    // h4 gets a runtime whose dog-fetcher 0.1.1 does not validate; every other host's does.
    const broken = createMemoryRuntime();
    publishAll(broken, 'ghcr.io/wasmcloud/components/dog-fetcher-rust:0.1.1');
    await using lat = await testLattice(5, { runtimes: { h4: broken } });
    publishAll(lat.runtime);
    const orch = await lat.orchestrator();
    const first = await orch.deploy(corpus(V1), { strategy: STRATEGY });
    expect((await drive(lat.clock, first.done)).outcome).toBe('completed');
    const stable = lat.serving('updateapp');

    const second = await orch.deploy(corpus(V2), { strategy: STRATEGY });
    let duringBatch2: Record<string, Record<string, string | undefined>> = {};
    second.subscribe((v) => {
      if (v.state === 'progressing.verifying' && v.batch === 1) duringBatch2 = lat.serving('updateapp');
    });
    const out = await drive(lat.clock, second.done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'validate.failed' });
    // The first batch really was upgraded before the failure.
    const dog = Object.keys(stable.h1 ?? {}).find((id) => id.includes('dog')) ?? '';
    expect(duringBatch2.h1?.[dog]).toBe(hashesOf(corpus(V2)).get(dog));
    expect(out.reason).toContain('h4');
    expect(lat.serving('updateapp')).toEqual(stable);
    const status = await orch.status('updateapp');
    expect(status.phase).toBe('rolledBack');
    expect(status.hosts.every((h) => h.workloads.every((w) => w.on === 'stable'))).toBe(true);
    expect(status.scalerHolders).toEqual([]);
  });
});
