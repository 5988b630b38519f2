// The rollout semantics of DESIGN §3, each on real memory hosts with a simulated clock.
import { specHash } from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { drive, revision, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string, image: string) => revision({ app: 'shop', version, components: [{ id: 'api', image }] });
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');
const V1 = rev('1', 'mem://api:1');
const V2 = rev('2', 'mem://api:2');
const V3 = rev('3', 'mem://api:3');
const BAD = (v: string) => rev(v, 'mem://api:bad');

async function lattice(n: number, runtimes: Parameters<typeof testLattice>[1] = {}) {
  const lat = await testLattice(n, runtimes);
  for (const v of ['1', '2', '3'])
    lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  lat.runtime.publish('mem://api:bad', { version: 'bad', operations: {}, validateError: 'bad magic number' });
  return lat;
}
const apis = (lat: Awaited<ReturnType<typeof lattice>>) => Object.values(lat.serving('shop')).map((w) => w.api);
const oneByOne = { type: 'rolling', maxParallel: 1, maxUnavailable: 1 } as const;

describe('rollout semantics', () => {
  it('rolls back to stable (the last completed revision), never to a previous revision that itself failed', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    expect((await drive(lat.clock, (await orch.deploy(BAD('2'))).done)).outcome).toBe('rolledBack');
    expect((await drive(lat.clock, (await orch.deploy(BAD('3'))).done)).outcome).toBe('rolledBack');
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
    expect((await orch.status('shop')).stableVersion).toBe('1');
  });

  it('restores every host of the app from what hosts serve, including hosts a superseded rollout touched', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const first = await orch.deploy(V2, { strategy: { ...oneByOne, pauseAfterBatch: {} } });
    await until(lat.clock, () => first.snapshot().state === 'progressing.stepPause');
    expect(apis(lat)).toEqual([hashOf(V2), hashOf(V1), hashOf(V1)]);
    const second = await orch.deploy(BAD('3'), { strategy: oneByOne });
    expect((await first.done).outcome).toBe('superseded');
    expect((await drive(lat.clock, second.done)).outcome).toBe('rolledBack');
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1), hashOf(V1)]);
    expect((await orch.status('shop')).scalerHolders).toEqual([]);
  });

  it('counts the progress deadline from the last progress and rolls back with reason progressDeadline', async () => {
    // h2 downloads v2 for a minute; the deadline is five seconds from the last verified batch.
    const slow = createMemoryRuntime();
    await using lat = await lattice(2, { runtimes: { h2: slow } });
    slow.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    slow.publish('mem://api:2', { version: '2', operations: { handle: (p) => p }, fetchDelayMs: 60_000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, { strategy: { ...oneByOne, progressDeadlineMs: 5000, minReadyMs: 1000 } });
    const deadlines = new Set<number | null>();
    h.subscribe((v) => deadlines.add(v.progressDeadlineAt));
    const out = await drive(lat.clock, h.done, 250);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'progressDeadline' });
    // Armed at planning, re-armed when batch 1 was verified: two distinct instants.
    expect([...deadlines].filter((d) => d !== null).length).toBeGreaterThanOrEqual(2);
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
  });

  it('rolls back a failed first deploy by removing what it installed', async () => {
    const broken = createMemoryRuntime();
    broken.publish('mem://api:1', { version: '1', operations: {}, validateError: 'bad magic number' });
    await using lat = await lattice(2, { runtimes: { h2: broken } });
    const orch = await lat.orchestrator();
    const h = await orch.deploy(V1, { strategy: oneByOne });
    expect(await drive(lat.clock, h.done)).toMatchObject({ outcome: 'rolledBack', stableVersion: null });
    expect(apis(lat)).toEqual([undefined, undefined]);
  });

  it('treats a deploy of the stable revision during a rollout as an undo touching only hosts not on stable', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const forward = await orch.deploy(V2, { strategy: { ...oneByOne, pauseAfterBatch: {} } });
    await until(lat.clock, () => forward.snapshot().state === 'progressing.stepPause');
    const fetchesBefore = lat.runtime.fetchesOf('mem://api:1');
    const undo = await orch.deploy(V1);
    expect(undo.snapshot().kind).toBe('undo');
    expect((await drive(lat.clock, undo.done)).outcome).toBe('completed');
    expect((await forward.done).outcome).toBe('superseded');
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1), hashOf(V1)]);
    expect(lat.runtime.fetchesOf('mem://api:1') - fetchesBefore).toBeLessThanOrEqual(1);
  });

  it('keeps a held app held: a deploy that supersedes a held rollout starts held', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const held = await orch.deploy(V2, { strategy: oneByOne });
    await orch.pause('shop');
    await until(lat.clock, () => held.snapshot().state === 'progressing.held');
    const next = await orch.deploy(V3, { strategy: oneByOne });
    await until(lat.clock, () => next.snapshot().state === 'progressing.held');
    expect(next.snapshot().paused).toBe(true);
    await orch.resume('shop');
    expect((await drive(lat.clock, next.done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf(V3), hashOf(V3)]);
  });

  it('never skips the verification of applied hosts on promote, even with full', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(BAD('2'), {
      strategy: { ...oneByOne, pauseAfterBatch: {}, analysis: { maxErrorRate: 0 } },
    });
    await orch.promote('shop', { full: true });
    expect((await drive(lat.clock, h.done)).outcome).toBe('rolledBack');
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
  });

  it('counts a host lost in a forward batch as failed (onHostLost rollback) and skips it in the rollback', async () => {
    // h2 takes a minute to download v2: it is lost after its apply, before it is verified.
    const slow = createMemoryRuntime();
    await using lat = await lattice(3, { runtimes: { h2: slow } });
    slow.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    slow.publish('mem://api:2', { version: '2', operations: { handle: (p) => p }, fetchDelayMs: 60_000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, { strategy: oneByOne });
    await until(lat.clock, () => h.snapshot().state === 'progressing.verifying' && h.snapshot().batch === 1);
    await lat.removeHost('h2');
    const out = await drive(lat.clock, h.done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'host.lost' });
    expect(h.snapshot().conditions).toContainEqual(
      expect.objectContaining({ type: 'HostLost', status: true, hosts: ['h2'] }),
    );
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
  });

  it('skips a host lost after its apply with a HostLost condition when onHostLost is skip', async () => {
    const slow = createMemoryRuntime();
    await using lat = await lattice(3, { runtimes: { h2: slow } });
    slow.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    slow.publish('mem://api:2', { version: '2', operations: { handle: (p) => p }, fetchDelayMs: 60_000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, { strategy: { ...oneByOne, onHostLost: 'skip' } });
    await until(lat.clock, () => h.snapshot().state === 'progressing.verifying' && h.snapshot().batch === 1);
    await lat.removeHost('h2');
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect(h.snapshot().conditions).toContainEqual(
      expect.objectContaining({ type: 'HostLost', status: true, hosts: ['h2'] }),
    );
    expect(apis(lat)).toEqual([hashOf(V2), hashOf(V2)]);
  });

  it('completes a placement of zero hosts at once', async () => {
    await using lat = await lattice(0);
    const orch = await lat.orchestrator();
    const h = await orch.deploy(V1);
    expect(await drive(lat.clock, h.done)).toMatchObject({ outcome: 'completed' });
    expect(h.snapshot().batches).toBe(0);
  });
});
