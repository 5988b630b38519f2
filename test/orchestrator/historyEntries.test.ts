// History as a record of what happened to each rollout: on real hosts (memory adapter, simulated clock), an
// entry keeps the versions it went between, its strategy and times, every analysis it ran with the verdict
// (dry runs with what they observed), the promotions people gave and the time it spent held.
import { HistoryEntrySchema, type Orchestrator, type RolloutHandle, type StrategyInput } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, type TestLattice, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
const V1 = rev('1');
const V2 = rev('2');

/** A lattice whose v2 fails every fifth invocation (an error rate of 0.2). */
async function lattice(n: number): Promise<TestLattice> {
  const lat = await testLattice(n);
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  let calls = 0;
  lat.runtime.publish('mem://api:2', {
    version: '2',
    operations: {
      handle: (p) => {
        calls++;
        if (calls % 5 === 0) throw new Error('every fifth call fails');
        return p;
      },
    },
  });
  return lat;
}

async function onV1(lat: TestLattice): Promise<Orchestrator> {
  const orch = await lat.orchestrator();
  expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
  return orch;
}

/** Drives the clock until `handle` is done, sending invocations to every host while it analyses. */
async function driveWithTraffic(lat: TestLattice, handle: RolloutHandle) {
  let finished = false;
  void handle.done.then(() => {
    finished = true;
  });
  for (let i = 0; i < 4000 && !finished; i++) {
    await settle(3);
    if (handle.snapshot().state === 'progressing.analyzing') {
      for (const host of lat.hosts.values()) {
        for (let k = 0; k < 10; k++) await host.invoke('api', 'handle', new Uint8Array([k])).catch(() => undefined);
      }
    }
    if (!finished) lat.clock.increment(1000);
  }
  if (!finished) throw new Error('rollout did not finish');
  return handle.done;
}

/** The app's history, every entry parsed with the exported schema. */
async function history(orch: Orchestrator) {
  return (await orch.history('shop')).map((e) => HistoryEntrySchema.parse(e));
}

const errorRate = (dryRun: boolean) => ({
  name: 'canary errors',
  provider: 'errorRate' as const,
  intervalMs: 10_000,
  count: 2,
  dryRun,
  failureCondition: { max: 0.05 },
});

describe('history entries', () => {
  it('of a rolled-back rollout list its analysis executions, the promotion given and the time it was held', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const startedAt = lat.clock.now();
    const strategy: StrategyInput = {
      type: 'canary',
      steps: [{ setHosts: 1 }, { pause: {} }, { analysis: errorRate(false) }, { setHosts: '100%' }],
    };
    const handle = await orch.deploy(V2, { strategy });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    const pausedSince = handle.snapshot().pause?.since ?? -1;
    lat.clock.increment(7_000);
    const promotedAt = lat.clock.now();
    await orch.promote('shop');
    expect((await driveWithTraffic(lat, handle)).outcome).toBe('rolledBack');

    const [entry, first] = await history(orch);
    expect(first).toMatchObject({ version: '1', outcome: 'completed', stableVersion: null });
    expect(entry).toMatchObject({
      version: '2',
      rolloutId: handle.id,
      kind: 'deploy',
      outcome: 'rolledBack',
      stableVersion: '1',
      strategy: 'canary',
      startedAt,
      promotions: [{ at: promotedAt, full: false }],
      heldMs: promotedAt - pausedSince,
      holds: 1,
    });
    expect(entry?.finishedAt).toBe(entry?.at);
    expect(entry?.finishedAt).toBeGreaterThan(promotedAt);
    expect(entry?.analyses).toEqual([
      expect.objectContaining({
        run: 'after batch 2',
        name: 'canary errors',
        status: 'failed',
        verdict: 'failed',
        dryRun: false,
        observed: 'failed',
      }),
    ]);
    const values = entry?.analyses?.[0]?.values ?? [];
    expect(values.length).toBeGreaterThan(0);
    expect(values.at(-1)).toEqual({ value: 0.2, noData: false, error: null, verdict: 'failed' });
  });

  it('of a dry run keep what the analysis observed while the rollout went on', async () => {
    await using lat = await lattice(2);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'canary', steps: [{ setHosts: 1 }, { analysis: errorRate(true) }] },
    });
    expect((await driveWithTraffic(lat, handle)).outcome).toBe('completed');
    const [entry] = await history(orch);
    expect(entry?.outcome).toBe('completed');
    // Nobody promoted it and nothing held it.
    expect(entry?.promotions).toBeUndefined();
    expect(entry?.heldMs).toBeUndefined();
    expect(entry?.analyses).toEqual([
      expect.objectContaining({ dryRun: true, status: 'successful', verdict: 'successful', observed: 'failed' }),
    ]);
    expect(entry?.analyses?.[0]?.values.map((m) => m.verdict)).toEqual(['failed', 'failed']);
  });

  it('add up every hold a person made, from pause to resume', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, minReadyMs: 1_000 },
    });
    let held = 0;
    for (let i = 0; i < 2; i++) {
      await orch.pause('shop');
      await until(lat.clock, () => handle.snapshot().state === 'progressing.held');
      const since = handle.snapshot().pause?.since ?? 0;
      lat.clock.increment(3_000 + i * 1_000);
      held += lat.clock.now() - since;
      await orch.resume('shop');
    }
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const [entry] = await history(orch);
    expect(entry).toMatchObject({ outcome: 'completed', holds: 2, heldMs: held, strategy: 'rolling' });
    expect(entry?.analyses).toEqual([]);
  });

  it('count the hold of a rollout another orchestrator resumed, until a person resumed it there', async () => {
    await using lat = await lattice(3);
    const a = await lat.orchestrator({ holder: 'a' });
    expect((await drive(lat.clock, (await a.deploy(V1)).done)).outcome).toBe('completed');
    const handle = await a.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, minReadyMs: 1_000 },
    });
    await a.pause('shop');
    await until(lat.clock, () => handle.snapshot().state === 'progressing.held');
    const since = handle.snapshot().pause?.since ?? 0;
    await a.close();
    const b = await lat.orchestrator({ holder: 'b' });
    const resumed = b.rollout(handle.id);
    expect(resumed?.snapshot().state).toBe('progressing.held');
    lat.clock.increment(4_000);
    const resumedAt = lat.clock.now();
    await b.resume('shop');
    expect((await drive(lat.clock, resumed?.done ?? Promise.reject(new Error('not resumed')))).outcome).toBe(
      'completed',
    );
    const [entry] = await history(b);
    expect(entry).toMatchObject({ rolloutId: handle.id, outcome: 'completed', holds: 1, heldMs: resumedAt - since });
  });
});
