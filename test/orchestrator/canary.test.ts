// Canary rollouts on real hosts (memory adapter, simulated clock): steps, timed pauses, analysis from
// the hosts' gate counters, first deploys and restarts.
import { type RolloutHandle, type StrategyInput, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice, type TestLattice, until } from '../fixtures/orchestrator';

const rev = (version: string, image: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image }], providers: [] });
const V1 = rev('1', 'mem://api:1');
const V2 = rev('2', 'mem://api:2');
const hashOf = (r: typeof V1) => specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

const canary: StrategyInput = {
  type: 'canary',
  steps: [
    { setHosts: 1 },
    { pause: { durationMs: 60_000 } },
    {
      analysis: {
        provider: 'errorRate',
        intervalMs: 10_000,
        count: 3,
        failureCondition: { metric: 'errorRate', max: 0.05 },
      },
    },
    { setHosts: '50%' },
    { setHosts: '100%' },
  ],
};

async function lattice(n: number, opts: { flakyV2?: boolean } = {}): Promise<TestLattice> {
  const lat = await testLattice(n);
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  let calls = 0;
  lat.runtime.publish('mem://api:2', {
    version: '2',
    operations: {
      handle: (p) => {
        calls++;
        if (opts.flakyV2 && calls % 5 === 0) throw new Error('every fifth call fails');
        return p;
      },
    },
  });
  return lat;
}

/** Drives the clock until `handle` is done; while it analyses, sends `perTick` invocations to every host. */
async function driveWithTraffic(lat: TestLattice, handle: RolloutHandle, perTick = 10) {
  const seen = new Set<string>();
  const unsubscribe = handle.subscribe((v) => seen.add(v.state));
  let finished = false;
  void handle.done.then(() => {
    finished = true;
  });
  for (let i = 0; i < 4000 && !finished; i++) {
    await settle(3);
    if (handle.snapshot().state === 'progressing.analyzing') {
      for (const host of lat.hosts.values()) {
        for (let k = 0; k < perTick; k++)
          await host.invoke('api', 'handle', new Uint8Array([k])).catch(() => undefined);
      }
    }
    if (!finished) lat.clock.increment(1000);
  }
  unsubscribe();
  if (!finished) throw new Error('rollout did not finish');
  return { output: await handle.done, seen };
}

describe('rollout: canary', () => {
  it('moves 1 host, then 50%, then 100% after a timed pause and a passing error-rate analysis', async () => {
    await using lat = await lattice(4);
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await orch.deploy(V2, { strategy: canary });
    const { output, seen } = await driveWithTraffic(lat, handle);
    expect(output.outcome).toBe('completed');
    expect(handle.snapshot().batches).toBe(3);
    expect(seen.has('progressing.analyzing')).toBe(true);
    expect(seen.has('progressing.stepPause')).toBe(true);
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2, v2]);
  });

  it('rolls back in the first step when v2 fails 20% of its invocations, with the figures in the reason', async () => {
    await using lat = await lattice(4, { flakyV2: true });
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await orch.deploy(V2, { strategy: canary });
    const { output } = await driveWithTraffic(lat, handle);
    expect(output.outcome).toBe('rolledBack');
    expect(output.code).toBe('analysis.failed');
    expect(output.reason).toMatch(
      /^analysis "errorRate" failed: errorRate 0\.[0-9]+ > max 0\.05 in 1 of 1 measurements$/,
    );
    // Only the canary host ever ran v2.
    expect(handle.snapshot().batch).toBe(0);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1, v1, v1]);
  });

  it('skips steps, pauses and analysis on a first deploy but keeps maxParallel', async () => {
    await using lat = await lattice(4);
    const orch = await lat.orchestrator();
    const handle = await orch.deploy(V1, { strategy: { ...canary, maxParallel: 2 } });
    const { output, seen } = await driveWithTraffic(lat, handle);
    expect(output.outcome).toBe('completed');
    expect(handle.snapshot().batches).toBe(2);
    expect(seen.has('progressing.stepPause')).toBe(false);
    expect(seen.has('progressing.analyzing')).toBe(false);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1, v1, v1]);
  });

  it('keeps the absolute end of a timed pause across an orchestrator restart', async () => {
    await using lat = await lattice(3);
    const first = await lat.orchestrator({ holder: 'first' });
    expect((await drive(lat.clock, (await first.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await first.deploy(V2, {
      strategy: { type: 'canary', steps: [{ setHosts: 1 }, { pause: { durationMs: 60_000 } }] },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    const pausedAt = lat.clock.now();
    await first.close();
    lat.clock.increment(30_000);

    const second = await lat.orchestrator({ holder: 'second' });
    expect(second.problems).toEqual([]);
    const resumed = second.rollout(handle.id);
    if (!resumed) throw new Error('rollout was not resumed');
    await until(lat.clock, () => resumed.snapshot().state !== 'progressing.stepPause', 1000);
    // The pause ends when it was due, not a full window after the restart.
    expect(lat.clock.now() - pausedAt).toBeLessThanOrEqual(61_000);
    expect(lat.clock.now() - pausedAt).toBeGreaterThanOrEqual(60_000);
    expect((await drive(lat.clock, resumed.done)).outcome).toBe('completed');
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2]);
  });

  it('waits at an untimed pause until rollout.promote, past the progress deadline', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await orch.deploy(V2, {
      strategy: { type: 'canary', progressDeadlineMs: 60_000, steps: [{ setHosts: 1 }, { pause: {} }] },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    for (let i = 0; i < 20; i++) {
      await settle(3);
      lat.clock.increment(10_000);
    }
    expect(handle.snapshot().state).toBe('progressing.stepPause');
    const v1 = hashOf(V1);
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v1, v1]);
    await orch.promote('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2]);
  });
});
