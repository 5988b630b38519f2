// Lost hosts (DESIGN §3 "Lost hosts"), on real memory hosts with a simulated clock: a host gone before its batch
// is not applied to and fails nothing (one lost after its apply is what onHostLost decides: semantics.test.ts);
// one that drops out during a rollback is named too.
import { specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string, image: string) => revision({ app: 'shop', version, components: [{ id: 'api', image }] });
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');
const V1 = rev('1', 'mem://api:1');
const V2 = rev('2', 'mem://api:2');

async function lattice(n: number, options: Parameters<typeof testLattice>[1] = {}) {
  const lat = await testLattice(n, options);
  for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  return lat;
}
type Lat = Awaited<ReturnType<typeof lattice>>;
const serving = (lat: Lat) =>
  Object.fromEntries(Object.entries(lat.serving('shop')).map(([h, w]) => [h, w.api === hashOf(V2) ? '2' : '1']));
const hostLost = <C extends { type: string }>(conditions: readonly C[]) =>
  conditions.find((c) => c.type === 'HostLost');

describe('lost hosts', () => {
  it('does not apply to a host gone before its batch: it uses up maxUnavailable, is named in HostLost and gets the target when it returns', async () => {
    await using lat = await lattice(6, { heartbeatMs: 1000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 2, maxUnavailable: 2, pauseAfterBatch: {} },
    });
    const pausedAfter = (batch: number) => () =>
      h.snapshot().state === 'progressing.stepPause' && h.snapshot().batch === batch;
    await until(lat.clock, pausedAfter(1));
    // h3 goes silent while h1 and h2 pause on v2; nothing else about the host set changes.
    await lat.removeHost('h3');
    await orch.resume('shop');
    await until(lat.clock, pausedAfter(2));
    expect(h.snapshot().outcome).toBeNull();
    expect(hostLost(h.snapshot().conditions)).toMatchObject({ status: true, reason: 'hostLost', hosts: ['h3'] });
    expect(serving(lat)).toEqual({ h1: '2', h2: '2', h4: '2', h5: '1', h6: '1' });
    // h3 still counts as unavailable: with maxUnavailable 2 only one more host moves at a time.
    await orch.resume('shop');
    await until(lat.clock, pausedAfter(3));
    expect(serving(lat)).toEqual({ h1: '2', h2: '2', h4: '2', h5: '2', h6: '1' });
    // h3 comes back (its heartbeat announces it) before the last batch: it is planned again and gets v2.
    await lat.addHost('h3');
    await settle();
    lat.clock.increment(1000);
    await settle();
    await orch.resume('shop');
    const out = await drive(lat.clock, h.done);
    expect(out).toMatchObject({ outcome: 'completed' });
    expect(serving(lat)).toEqual({ h1: '2', h2: '2', h3: '2', h4: '2', h5: '2', h6: '2' });
    const cleared = hostLost(h.snapshot().conditions);
    expect(cleared).toMatchObject({ status: false, hosts: ['h3'] });
    expect(cleared?.since).toBeGreaterThan(0);
  });

  it('names a host that drops out during a rollback in HostLost', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, { strategy: { type: 'rolling', maxParallel: 1, pauseAfterBatch: {} } });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    await lat.removeHost('h1');
    await orch.abort('shop', 'by hand');
    const out = await drive(lat.clock, h.done);
    expect(out).toMatchObject({ outcome: 'aborted' });
    expect(hostLost(h.snapshot().conditions)).toMatchObject({ status: true, reason: 'hostLost', hosts: ['h1'] });
    expect(hostLost(h.snapshot().conditions)).toMatchObject({
      message: expect.stringContaining('during the rollback'),
    });
  });
});
