// Over 400 lines on purpose: the canary strategy's behaviour end to end, one lattice fixture shared.
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

async function lattice(n: number, opts: { flakyV2?: boolean; heartbeatMs?: number } = {}): Promise<TestLattice> {
  const lat = await testLattice(n, opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs });
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

/** An orchestrator on `lat` once every host serves v1. */
async function onV1(lat: TestLattice) {
  const orch = await lat.orchestrator();
  expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
  return orch;
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
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, { strategy: canary });
    const { output, seen } = await driveWithTraffic(lat, handle);
    expect(output.outcome).toBe('completed');
    // 1 host, a batch of no hosts that carries the analysis after the pause, 1 more (50%), the last 2.
    expect(handle.snapshot().batches).toBe(4);
    expect(seen.has('progressing.analyzing')).toBe(true);
    expect(seen.has('progressing.stepPause')).toBe(true);
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2, v2]);
  });

  it('rolls back in the first step when v2 fails 20% of its invocations, with the figures in the reason', async () => {
    await using lat = await lattice(4, { flakyV2: true });
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, { strategy: canary });
    const { output, seen } = await driveWithTraffic(lat, handle);
    expect(output.outcome).toBe('rolledBack');
    expect(output.code).toBe('analysis.failed');
    expect(output.reason).toMatch(
      /^analysis "errorRate" failed: errorRate 0\.[0-9]+ > max 0\.05 in 1 of 1 measurements$/,
    );
    // Stopped at the analysis after the pause (its own batch of no hosts): only the canary host ever ran v2.
    expect(handle.snapshot().batch).toBe(1);
    expect(seen.has('progressing.stepPause')).toBe(true);
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
    const orch = await onV1(lat);
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

/**
 * Drives the clock until `handle` is done, invoking every host `perTick` times per second of clock;
 * returns the outcome and the most hosts that served v2 at once.
 */
async function driveUnderLoad(lat: TestLattice, handle: RolloutHandle, perTick = 10) {
  let finished = false;
  let maxV2 = 0;
  void handle.done.then(() => {
    finished = true;
  });
  for (let i = 0; i < 4000 && !finished; i++) {
    await settle(3);
    for (const host of lat.hosts.values())
      for (let k = 0; k < perTick; k++) await host.invoke('api', 'handle', new Uint8Array([k])).catch(() => undefined);
    maxV2 = Math.max(maxV2, servingV2(lat));
    if (!finished) lat.clock.increment(1000);
  }
  if (!finished) throw new Error('rollout did not finish');
  return { output: await handle.done, maxV2 };
}

const servingV2 = (lat: TestLattice) => Object.values(lat.serving('shop')).filter((w) => w.api === hashOf(V2)).length;

describe('rollout: canary steps against the current host set', () => {
  it("resolves a step's percentage against the hosts there are when the step begins", async () => {
    // Hosts announce themselves with a heartbeat when they start.
    await using lat = await lattice(4, { heartbeatMs: 600_000 });
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'canary', steps: [{ setHosts: 1 }, { pause: {} }, { setHosts: '50%' }, { pause: {} }] },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    expect(servingV2(lat)).toBe(1);
    // Four hosts join while the canary waits: "50%" is now 4 of 8 hosts, not the 2 of 4 planned.
    for (const id of ['h5', 'h6', 'h7', 'h8']) await lat.addHost(id);
    lat.clock.increment(1000);
    await settle(5);
    await orch.resume('shop');
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause' && handle.snapshot().batch > 0);
    expect(servingV2(lat)).toBe(4);
    await orch.resume('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    expect(servingV2(lat)).toBe(8);
  });

  it('splits a step by maxUnavailable as well as maxParallel', async () => {
    await using lat = await lattice(4);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'canary', steps: [{ setHosts: '100%' }], maxParallel: 3, maxUnavailable: 1 },
    });
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    expect(handle.snapshot().batches).toBe(4);
    expect(servingV2(lat)).toBe(4);
  });

  it('refuses a canary whose new version binds one address twice on a host, before touching any host', async () => {
    const withLinks = (version: string, names: string[]) =>
      revision({
        app: 'shop',
        version,
        components: [{ id: 'api', image: `mem://api:${version}` }],
        providers: [{ id: 'http', image: 'mem://http:1' }],
        links: names.map((name) => ({
          source: 'api',
          target: 'http',
          namespace: 'wasi',
          package: 'http',
          interfaces: ['incoming-handler'],
          name,
          sourceConfig: { address: '0.0.0.0:8080' },
        })),
      });
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    const v1 = withLinks('1', ['a']);
    expect((await drive(lat.clock, (await orch.deploy(v1)).done)).outcome).toBe('completed');
    const before = lat.serving('shop');
    for (const onConflict of ['fail', 'rolling'] as const) {
      const output = await drive(
        lat.clock,
        (
          await orch.deploy(withLinks('2', ['a', 'b']), {
            strategy: { type: 'canary', steps: [{ setHosts: 1 }], onConflict },
          })
        ).done,
      );
      expect(output.code).toBe('plan.conflict');
      expect(output.reason).toContain('address 0.0.0.0:8080');
      expect(output.reason).toContain('"h1", "h2"');
      if (onConflict === 'rolling') expect(output.reason).toContain('cannot avoid it');
      expect(lat.serving('shop')).toEqual(before);
    }
  });
});

describe('rollout: canary steps against the hosts there are', () => {
  it('refuses, when it plans, a percentage step that would move fewer hosts than an earlier count, touching no host', async () => {
    await using lat = await lattice(4);
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    const before = lat.serving('shop');
    const strategy: StrategyInput = { type: 'canary', steps: [{ setHosts: 2 }, { setHosts: '25%' }] };
    const output = await drive(lat.clock, (await orch.deploy(V2, { strategy })).done);
    expect(output).toMatchObject({ code: 'strategy.invalid' });
    expect(output.reason).toContain('steps.1.setHosts: setHosts never shrinks: "25%" (1 of 4 hosts) after 2');
    expect(lat.serving('shop')).toEqual(before);
  });
});

describe('rollout: canary background analysis', () => {
  const background = (over: Record<string, unknown> = {}) =>
    ({
      provider: 'errorRate',
      intervalMs: 10_000,
      failureCondition: { metric: 'errorRate', max: 0.05 },
      ...over,
    }) as const;

  it('measures beside the steps and rolls back during a pause when v2 fails 20% of its calls', async () => {
    await using lat = await lattice(4, { flakyV2: true });
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: { durationMs: 120_000 } }, { setHosts: '100%' }],
        backgroundAnalysis: background(),
      },
    });
    const { output, maxV2 } = await driveUnderLoad(lat, handle);
    expect(output.outcome).toBe('rolledBack');
    expect(output.code).toBe('analysis.failed');
    expect(output.reason).toMatch(
      /^background analysis "errorRate" failed: errorRate 0\.2 > max 0\.05 in 1 of 1 measurements$/,
    );
    // Caught during the first pause: the canary host was the only one ever to run v2.
    expect(maxV2).toBe(1);
    expect(servingV2(lat)).toBe(0);
  });

  it('lets a healthy canary finish while it measures, and keeps every measurement in the store', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: { durationMs: 35_000 } }, { setHosts: '100%' }],
        backgroundAnalysis: background(),
      },
    });
    expect((await driveUnderLoad(lat, handle)).output.outcome).toBe('completed');
    const run = (await lat.store.get('cutover', `plan.${handle.id}.a.background`))?.value as {
      measurements: unknown[];
    };
    expect(run.measurements.length).toBeGreaterThanOrEqual(3);
    expect(run.measurements.every((m) => typeof m === 'object' && m !== null && 'value' in m)).toBe(true);
    expect(servingV2(lat)).toBe(3);
  });

  it('starts at startingStep: the pause before it is not measured', async () => {
    await using lat = await lattice(4, { flakyV2: true });
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: { durationMs: 60_000 } }, { setHosts: 2 }, { pause: { durationMs: 60_000 } }],
        backgroundAnalysis: background({ startingStep: 2 }),
      },
    });
    const { output, maxV2 } = await driveUnderLoad(lat, handle);
    expect(output.code).toBe('analysis.failed');
    // The flaky canary served through the first pause unmeasured; the analysis began with the second step.
    expect(maxV2).toBe(2);
    expect(servingV2(lat)).toBe(0);
  });

  it('holds the rollout for a person when background analysis is inconclusive', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: { durationMs: 30_000 } }, { setHosts: 2 }],
        // No traffic: no data, which this analysis calls inconclusive.
        backgroundAnalysis: background({ noData: 'inconclusive' }),
      },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.held', 1000);
    expect(handle.snapshot().conditions).toContainEqual(
      expect.objectContaining({ type: 'AnalysisInconclusive', status: true }),
    );
    expect(servingV2(lat)).toBe(1);
    await orch.resume('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
  });
});

describe('rollout: analysis across a restart', () => {
  it('keeps its measurements and its schedule when the orchestrator restarts mid-analysis', async () => {
    await using lat = await lattice(3);
    const first = await lat.orchestrator({ holder: 'first' });
    expect((await drive(lat.clock, (await first.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await first.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [
          { setHosts: 1 },
          {
            analysis: {
              provider: 'errorRate',
              intervalMs: 10_000,
              count: 3,
              noData: 'pass',
              failureCondition: { max: 0.5 },
            },
          },
        ],
      },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.analyzing');
    const key = `plan.${handle.id}.a.b0.a0`;
    const measured = async () =>
      (await lat.store.get('cutover', key))?.value as { measurements: unknown[]; startedAt: number } | undefined;
    const startedAt = (await measured())?.startedAt ?? Number.NaN;
    // Two of three measurements, then the orchestrator goes away.
    for (let i = 0; i < 250 && ((await measured())?.measurements.length ?? 0) < 2; i++) {
      await settle(3);
      lat.clock.increment(100);
    }
    expect((await measured())?.measurements.length).toBe(2);
    await first.close();
    lat.clock.increment(4_000);

    const second = await lat.orchestrator({ holder: 'second' });
    const resumed = second.rollout(handle.id);
    if (!resumed) throw new Error('rollout was not resumed');
    await until(lat.clock, () => resumed.snapshot().state !== 'progressing.analyzing', 100);
    // The third measurement came when it was due (startedAt + 30 s, plus the new orchestrator's start-up),
    // not three intervals after the restart (startedAt + 54 s and more).
    expect(lat.clock.now() - startedAt).toBeLessThan(40_000);
    expect((await measured())?.measurements.length).toBe(3);
    expect((await measured())?.startedAt).toBe(startedAt);
    expect((await drive(lat.clock, resumed.done)).outcome).toBe('completed');
  });
});

describe('rollout: analysis in status', () => {
  it('reports every analysis with its figures so far, and the failed one with the reason', async () => {
    await using lat = await lattice(3, { flakyV2: true });
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [
          { setHosts: 1 },
          {
            analysis: {
              name: 'canary errors',
              provider: 'errorRate',
              intervalMs: 10_000,
              count: 3,
              failureLimit: 1,
              failureCondition: { max: 0.05 },
            },
          },
        ],
      },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.analyzing');
    const running = await orch.status('shop');
    expect(running.batches).toBe(2);
    expect(running.analyses).toMatchObject([
      { run: 'after batch 1', name: 'canary errors', provider: 'errorRate', measurements: 0, status: 'running' },
    ]);
    const { output } = await driveWithTraffic(lat, handle);
    expect(output.code).toBe('analysis.failed');
    const after = await orch.status('shop');
    expect(after.analyses).toHaveLength(1);
    expect(after.analyses[0]).toMatchObject({ measurements: 2, status: 'failed' });
    expect(after.analyses[0]?.reason).toBe('errorRate 0.2 > max 0.05 in 2 of 2 measurements (failure limit 1)');
  });
});
