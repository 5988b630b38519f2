// The test kit's lattice and its fault handles, written as an embedder would: against the public export.
import { CutoverError, type Orchestrator, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import {
  type TestLattice,
  createLoadGenerator,
  createSimulatedClock,
  createTestLattice,
  testRevision,
} from '../../src/testing/index.js';

const app = (version: string) => testRevision({ version, components: [{ id: 'api', image: `mem://api:${version}` }] });
const hashOf = (version: string) => specHash(app(version).components[0]!.spec, 'component');
const oneByOne = { type: 'rolling', maxParallel: 1, maxUnavailable: 1 } as const;

/** A lattice of `hosts` serving v1 of `shop`, with v2 and v3 published. */
async function onV1(hosts: number, heartbeatMs = 0): Promise<{ lat: TestLattice; orch: Orchestrator }> {
  const lat = await createTestLattice({ hosts, heartbeatMs });
  for (const v of ['1', '2', '3']) lat.publish(`mem://api:${v}`);
  const orch = await lat.orchestrator();
  expect((await lat.drive((await orch.deploy(app('1'))).done)).outcome).toBe('completed');
  return { lat, orch };
}
const apis = (lat: TestLattice) => Object.values(lat.serving('shop')).map((w) => w.api);

describe('test lattice', () => {
  it('runs real hosts on the clock it is given, bus timeouts included', async () => {
    const clock = createSimulatedClock(1_000_000);
    await using lat = await createTestLattice({ hosts: ['a', { hostId: 'b', labels: { zone: 'z1' } }], clock });
    expect(lat.clock).toBe(clock);
    expect([...lat.hosts.keys()]).toEqual(['a', 'b']);
    expect(lat.host('b').inventory()).toMatchObject({ hostId: 'b', labels: { zone: 'z1' } });
    expect(() => lat.host('c')).toThrow('no host "c"');
    // A responder that never answers: the request times out on the lattice's clock.
    lat.bus.connect('silent').subscribe('svc.silent', () => {
      throw new CutoverError('invoke.failed', 'not answering');
    });
    let outcome: unknown;
    void lat.bus
      .connect('probe')
      .request('svc.silent', new Uint8Array(), { timeoutMs: 1_000 })
      .catch((e: unknown) => (outcome = e));
    await clock.advance(999);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    expect(outcome).toMatchObject({ code: 'transport.timeout' });
  });

  it('rolls back when a host fails validation, and completes once the fault is cleared', async () => {
    const { lat, orch } = await onV1(3);
    await using _lattice = lat;
    const fault = lat.faults.failValidation('h3', { image: 'mem://api:2' });
    const out = await lat.drive((await orch.deploy(app('2'), { strategy: oneByOne })).done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'validate.failed' });
    expect(out.reason).toContain('h3');
    expect(apis(lat)).toEqual([hashOf('1'), hashOf('1'), hashOf('1')]);
    fault.clear();
    expect(fault.active).toBe(false);
    expect((await lat.drive((await orch.deploy(app('3'), { strategy: oneByOne })).done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('3'), hashOf('3'), hashOf('3')]);
  });

  it('rolls back when a host never gets ready within applyDeadlineMs, naming it and where it stands', async () => {
    const { lat, orch } = await onV1(2);
    await using _lattice = lat;
    using _stuck = lat.faults.neverReady('h2');
    const start = lat.clock.now();
    const out = await lat.drive(
      (await orch.deploy(app('2'), { strategy: { ...oneByOne, applyDeadlineMs: 20_000 } })).done,
    );
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'timeout' });
    expect(out.reason).toContain('host "h2"');
    expect(out.reason).toContain('downloading');
    expect(lat.clock.now() - start).toBeGreaterThanOrEqual(20_000);
    expect(apis(lat)).toEqual([hashOf('1'), hashOf('1')]);
  });

  it('waits for a slow download and completes once it has taken its time', async () => {
    const { lat, orch } = await onV1(2);
    await using _lattice = lat;
    lat.faults.slowDownload('h2', 30_000, { image: 'mem://api:2' });
    const start = lat.clock.now();
    const out = await lat.drive((await orch.deploy(app('2'), { strategy: oneByOne })).done);
    expect(out.outcome).toBe('completed');
    expect(lat.clock.now() - start).toBeGreaterThanOrEqual(30_000);
    expect(apis(lat)).toEqual([hashOf('2'), hashOf('2')]);
  });

  it('rolls back when a provider refuses a link, with link.failed and the reason', async () => {
    const linked = (version: string) =>
      testRevision({
        version,
        components: [{ id: 'api', image: `mem://api:${version}` }],
        providers: [{ id: 'kv', image: 'mem://kv:1' }],
        links: [
          {
            source: 'api',
            target: 'kv',
            namespace: 'wasi',
            package: 'keyvalue',
            interfaces: ['store'],
            sourceConfig: { bucket: `v${version}` },
          },
        ],
      });
    await using lat = await createTestLattice({ hosts: 2 });
    for (const v of ['1', '2']) lat.publish(`mem://api:${v}`);
    const orch = await lat.orchestrator();
    expect((await lat.drive((await orch.deploy(linked('1'))).done)).outcome).toBe('completed');
    const before = lat.serving('shop');
    lat.faults.refuseLinks('h2', { reason: 'tls certificate missing', match: (l) => l.sourceConfig.bucket === 'v2' });
    const out = await lat.drive((await orch.deploy(linked('2'), { strategy: oneByOne })).done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'link.failed' });
    expect(out.reason).toContain('tls certificate missing');
    expect(lat.serving('shop')).toEqual(before);
  });

  it('leaves a crashed host out of a rollout, and gives it the next one when it returns empty', async () => {
    const { lat, orch } = await onV1(3, 1_000);
    await using _lattice = lat;
    const lost = await lat.faults.loseHost('h3');
    expect(lat.hosts.has('h3')).toBe(false);
    expect((await lat.drive((await orch.deploy(app('2'), { strategy: oneByOne })).done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('2'), hashOf('2')]);
    // It comes back empty, as after a crash; its first heartbeat announces it.
    const back = await lost.returned();
    expect(back.inventory().components).toEqual([]);
    await lat.clock.advance(1_000);
    expect((await lat.drive((await orch.deploy(app('3'), { strategy: oneByOne })).done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('3'), hashOf('3'), hashOf('3')]);
  });

  it('leaves a host cut off by a partition out of a rollout, and it returns with what it served', async () => {
    const { lat, orch } = await onV1(3, 1_000);
    await using _lattice = lat;
    const cut = await lat.faults.loseHost('h3', { mode: 'partition' });
    expect((await lat.drive((await orch.deploy(app('2'), { strategy: oneByOne })).done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('2'), hashOf('2'), hashOf('1')]);
    expect(await cut.returned()).toBe(lat.host('h3'));
    expect(cut.active).toBe(false);
    // Its next heartbeat announces it again.
    await lat.clock.advance(1_000);
    expect((await lat.drive((await orch.deploy(app('3'), { strategy: oneByOne })).done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('3'), hashOf('3'), hashOf('3')]);
  });

  it('waits out a store outage and completes once the store is back', async () => {
    const { lat, orch } = await onV1(2);
    await using _lattice = lat;
    const h = await orch.deploy(app('2'), { strategy: { ...oneByOne, pauseAfterBatch: { durationMs: 1_000 } } });
    await lat.until(() => h.snapshot().state === 'progressing.stepPause');
    const outage = lat.faults.storeOutage();
    await expect(lat.store.get('cutover', 'anything')).resolves.toBeNull();
    const cut = lat.clock.now();
    await lat.until(() => lat.clock.now() - cut >= 20_000, { stepMs: 500 });
    expect(h.snapshot().done).toBe(false);
    outage.clear();
    expect((await lat.drive(h.done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual([hashOf('2'), hashOf('2')]);
  });

  it('rolls back on the error rate of the new version under load', async () => {
    const { lat, orch } = await onV1(2);
    await using _lattice = lat;
    lat.faults.errorRate('mem://api:2', 0.5);
    const load = createLoadGenerator({
      clock: lat.clock,
      rate: 50,
      invoke: (seq) => lat.host(seq % 2 === 0 ? 'h1' : 'h2').invoke('api', 'echo', new TextEncoder().encode(`#${seq}`)),
    });
    const out = await lat.drive(
      (await orch.deploy(app('2'), { strategy: { ...oneByOne, maxErrorRate: 0.1, minReadyMs: 5_000 } })).done,
    );
    const figures = await load.stop();
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'gate.errorRate' });
    expect(figures.errorsByCode['invoke.failed']).toBeGreaterThan(0);
    expect(figures.sent).toBe(figures.answered + figures.errors);
    expect(figures.dropped).toBe(0);
    expect(apis(lat)).toEqual([hashOf('1'), hashOf('1')]);
  });

  it('answers calls to a version late by its latency, on simulated time', async () => {
    const { lat } = await onV1(1);
    await using _lattice = lat;
    using _slow = lat.faults.latency('mem://api:1', 250);
    let reply: string | undefined;
    void lat
      .host('h1')
      .invoke('api', 'echo', new TextEncoder().encode('hi'))
      .then((r) => (reply = new TextDecoder().decode(r)));
    await lat.clock.advance(249);
    expect(reply).toBeUndefined();
    await lat.clock.advance(1);
    expect(reply).toBe('1:hi');
  });

  it('refuses an error rate outside 0..1 and a negative latency, and injects nothing', async () => {
    const { lat } = await onV1(1);
    await using _lattice = lat;
    expect(() => lat.faults.errorRate('mem://api:1', 1.5)).toThrow(RangeError);
    expect(() => lat.faults.latency('mem://api:1', -1)).toThrow(RangeError);
    const reply = lat.host('h1').invoke('api', 'echo', new TextEncoder().encode('x'));
    expect(new TextDecoder().decode(await lat.drive(reply))).toBe('1:x');
  });
});
