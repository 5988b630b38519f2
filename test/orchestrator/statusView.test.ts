// Status as the source of truth for people and scripts: on real hosts (memory adapter, simulated clock), what
// `status`, `lookup` and a rollout's snapshot say about versions, the strategy's step, pauses and holds, a
// pending blue-green promotion, each host's verification and the rollout's times and analyses. Every view
// read here is parsed with the schema the package exports for it.
import {
  type AppStatus,
  AppStatusSchema,
  type Orchestrator,
  type RolloutHandle,
  RolloutViewSchema,
  type StrategyInput,
  formatStatus,
  specHash,
} from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, type TestLattice, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
const V1 = rev('1');
const V2 = rev('2');
const hashOf = (r: typeof V1) => specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

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

async function onV1(lat: TestLattice): Promise<Orchestrator> {
  const orch = await lat.orchestrator();
  expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
  return orch;
}

/**
 * The app's status, parsed with the exported schema (a status that does not parse fails the test). It is read
 * without moving the clock (hosts are known once a rollout gathered them), so instants in it are exact.
 */
async function status(_lat: TestLattice, orch: Orchestrator): Promise<AppStatus> {
  let read: { value: unknown } | undefined;
  const pending = orch.status('shop').then((value) => {
    read = { value };
  });
  for (let i = 0; i < 100 && read === undefined; i++) await settle(2);
  await pending;
  return AppStatusSchema.parse(read?.value);
}

/** The rollout's live snapshot and its stored view, both parsed with the exported schema. */
async function views(lat: TestLattice, orch: Orchestrator, handle: RolloutHandle) {
  const live = RolloutViewSchema.parse(handle.snapshot());
  const stored = await drive(lat.clock, orch.lookup(handle.id), 1);
  return { live, stored: RolloutViewSchema.parse(stored?.rollout) };
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

describe('status: a canary in a timed pause', () => {
  it('shows the strategy, the step with its kind and total, the pause window and the versions by name', async () => {
    await using lat = await lattice(4);
    const orch = await onV1(lat);
    const strategy: StrategyInput = {
      type: 'canary',
      steps: [{ setHosts: 1 }, { setHosts: 2 }, { pause: { durationMs: 60_000 } }, { setHosts: 4 }],
    };
    const handle = await orch.deploy(V2, { strategy });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    const s = await status(lat, orch);

    expect(s.strategy).toBe('canary');
    expect(s.step).toEqual({ index: 2, kind: 'pause', total: 4 });
    expect(s.pause?.kind).toBe('step');
    expect(s.pause?.until).toBe((s.pause?.since ?? 0) + 60_000);
    expect(s.pause?.since).toBeLessThanOrEqual(lat.clock.now());
    // A timed pause ends by itself: nothing holds the rollout.
    expect(s.held).toBeNull();
    expect(s.versions).toEqual({
      target: { version: '2', hashes: { 'component:api': hashOf(V2) } },
      stable: { version: '1', hashes: { 'component:api': hashOf(V1) } },
      previous: null,
    });
    expect(s.plannedBatches.map((b) => [b.index, b.hosts.length, b.state])).toEqual([
      [0, 1, 'done'],
      [1, 1, 'done'],
      // The pause comes before the third batch: it has not started (2 of 4 hosts serve v2).
      [2, 2, 'pending'],
    ]);
    const serving = s.hosts.flatMap((h) => h.workloads.map((w) => w.serving?.version)).sort();
    expect(serving).toEqual(['1', '1', '2', '2']);
    expect(s.startedAt).not.toBeNull();
    expect(s.finishedAt).toBeNull();

    const { live, stored } = await views(lat, orch, handle);
    expect(stored).toMatchObject({ strategy: 'canary', step: s.step, pause: s.pause, finishedAt: null });
    // The live snapshot knows the pause without the store; the step needs the plan.
    expect(live.pause).toEqual(s.pause);
    expect(live.versions.target).toEqual({ version: '2', hashes: null });

    const text = formatStatus(s);
    expect(text).toContain('versions  target 2');
    expect(text).toContain('stable 1');
    expect(text).toContain('step 3/4 pause');
    expect(text).toContain(`paused    step since t+${s.pause?.since}ms until t+${s.pause?.until}ms`);
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    expect((await status(lat, orch)).versions.previous).toEqual({
      version: '1',
      hashes: { 'component:api': hashOf(V1) },
    });
  });
});

describe('status: a held app', () => {
  it('shows who holds it, since when and why, and the manual pause', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, minReadyMs: 1_000 },
    });
    // A pause is a flag checked between batches: the batch in flight finishes first.
    await orch.pause('shop');
    const requested = await status(lat, orch);
    expect(requested.paused).toBe(true);
    await until(lat.clock, () => handle.snapshot().state === 'progressing.held');
    const heldAt = lat.clock.now();
    lat.clock.increment(5_000);
    const s = await status(lat, orch);

    expect(s.held?.by).toBe('person');
    expect(s.held?.since).toBeLessThanOrEqual(heldAt);
    expect(s.held?.reason).toContain('paused by a person');
    expect(s.pause).toEqual({ kind: 'manual', since: s.held?.since, until: null });
    // A rolling rollout's step is the batch it is at, of all its batches.
    expect(s.step).toEqual({ index: s.batch, kind: 'batch', total: 3 });
    expect(s.batch).toBeLessThan(3);
    expect(formatStatus(s)).toContain(`held      by person since t+${s.held?.since}ms`);
    const { stored } = await views(lat, orch, handle);
    expect(stored.held).toEqual(s.held);

    await orch.resume('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const after = await status(lat, orch);
    expect(after.held).toBeNull();
    expect(after.pause).toBeNull();
    expect(after.step).toBeNull();
  });
});

describe('status: blue-green', () => {
  it('shows the standby version on each host and a pending promotion, then the retained version', async () => {
    await using lat = await lattice(2);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'blueGreen', autoPromote: false, keepOldForMs: 60_000 },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    const s = await status(lat, orch);

    expect(s.strategy).toBe('blueGreen');
    expect(s.promotion).toEqual({ pending: true, requested: 'no' });
    expect(s.held?.by).toBe('strategy');
    expect(s.step?.kind).toBe('pause');
    for (const h of s.hosts) {
      expect(h.workloads).toEqual([
        expect.objectContaining({
          status: 'standby',
          serving: { hash: hashOf(V1), version: '1' },
          standby: { hash: hashOf(V2), version: '2' },
          retained: null,
          verified: false,
        }),
      ]);
    }
    expect(s.plannedBatches.map((b) => b.mode)).toEqual(['standby', 'promote']);
    expect(formatStatus(s)).toContain('promotion pending');

    await orch.promote('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const after = await status(lat, orch);
    expect(after.promotion.pending).toBe(false);
    for (const h of after.hosts) {
      const [api] = h.workloads;
      expect(api?.serving).toEqual({ hash: hashOf(V2), version: '2' });
      expect(api?.retained).toMatchObject({ hash: hashOf(V1), version: '1' });
      expect(api?.retained?.until).toBeGreaterThan(lat.clock.now());
      expect(api?.verified).toBe(true);
    }
  });
});

describe('status: per-host verification', () => {
  it('shows verified hosts, and what is left of minReadyMs on the others, on the simulated clock', async () => {
    await using lat = await lattice(2);
    const orch = await onV1(lat);
    const handle = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, minReadyMs: 30_000 },
    });
    const v2 = hashOf(V2);
    const servesV2 = () => Object.values(lat.serving('shop')).filter((w) => w.api === v2).length;
    await until(lat.clock, () => servesV2() === 1, 10);
    const first = await status(lat, orch);
    const waiting = first.hosts.flatMap((h) => h.workloads.map((w) => ({ host: h.hostId, ...w })));
    const moved = waiting.find((w) => w.serving?.version === '2');
    const [hostId] = Object.entries(lat.serving('shop')).find(([, w]) => w.api === v2) ?? [];
    const appliedAt = lat.hosts.get(hostId ?? '')?.inventory().components[0]?.lastApply?.at ?? 0;
    expect(moved).toMatchObject({ host: hostId, verified: false });
    expect(moved?.minReadyRemainingMs).toBe(30_000 - (lat.clock.now() - appliedAt));
    // The host still on the old version is not verified for the target and has nothing to wait for.
    const other = waiting.find((w) => w.serving?.version === '1');
    expect(other).toMatchObject({ verified: false, minReadyRemainingMs: null });

    lat.clock.increment(10_000);
    const later = await status(lat, orch);
    const again = later.hosts.find((h) => h.hostId === hostId)?.workloads[0];
    expect(again?.minReadyRemainingMs).toBe(30_000 - (lat.clock.now() - appliedAt));
    expect(again?.minReadyRemainingMs).toBe((moved?.minReadyRemainingMs ?? 0) - 10_000);
    expect(formatStatus(later)).toContain(`ready in ${Math.round((again?.minReadyRemainingMs ?? 0) / 1000)}s`);

    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const done = await status(lat, orch);
    expect(done.hosts.flatMap((h) => h.workloads.map((w) => [w.verified, w.minReadyRemainingMs]))).toEqual([
      [true, 0],
      [true, 0],
    ]);
  });
});

describe('status: a finished rollout', () => {
  it('shows when it started and finished, and the final verdict of each analysis with its figures', async () => {
    await using lat = await lattice(3);
    const orch = await onV1(lat);
    const startedAt = lat.clock.now();
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
              count: 2,
              failureCondition: { max: 0.05 },
            },
          },
        ],
      },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.analyzing');
    const analyzing = await status(lat, orch);
    expect(analyzing.step).toEqual({ index: 1, kind: 'analysis', total: 2 });
    expect(analyzing.analyses).toEqual([expect.objectContaining({ status: 'running', verdict: null, values: [] })]);
    expect((await driveWithTraffic(lat, handle)).outcome).toBe('completed');
    const s = await status(lat, orch);
    expect(s.startedAt).toBe(startedAt);
    expect(s.finishedAt).not.toBeNull();
    expect(s.finishedAt).toBeGreaterThan(startedAt);
    expect(s.finishedAt).toBeLessThanOrEqual(lat.clock.now());
    expect(s.analyses).toEqual([
      expect.objectContaining({
        run: 'after batch 1',
        name: 'canary errors',
        measurements: 2,
        status: 'successful',
        verdict: 'successful',
        dryRun: false,
        values: [
          { value: 0, noData: false, error: null, verdict: 'successful' },
          { value: 0, noData: false, error: null, verdict: 'successful' },
        ],
      }),
    ]);
    const { stored } = await views(lat, orch, handle);
    expect(stored).toMatchObject({ done: true, outcome: 'completed', startedAt, finishedAt: s.finishedAt });
    expect(stored.analyses).toEqual(s.analyses);
    const text = formatStatus(s);
    expect(text).toContain(`started   t+${startedAt}ms  finished t+${s.finishedAt}ms`);
    expect(text).toContain(
      'after batch 1  canary errors (errorRate)  successful  2 measured: 0 successful, 0 successful',
    );
  });
});

describe('status: every phase', () => {
  it('parses with the exported schema in each phase an app goes through, and formats as text', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    const read = async () => AppStatusSchema.parse(await drive(lat.clock, orch.status('shop'), 10));
    const phases: string[] = [(await read()).phase];
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    phases.push((await read()).phase);
    const held = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, minReadyMs: 1_000 },
    });
    await orch.pause('shop');
    await until(lat.clock, () => held.snapshot().state === 'progressing.held');
    phases.push((await read()).phase);
    await orch.abort('shop', 'wrong numbers');
    expect((await drive(lat.clock, held.done)).outcome).toBe('aborted');
    const aborted = await read();
    phases.push(aborted.phase);
    expect(aborted).toMatchObject({ reason: 'wrong numbers', finishedAt: expect.any(Number), held: null });
    // A version whose image does not exist fails on the hosts and rolls back.
    const missing = await orch.deploy(rev('3'));
    expect((await drive(lat.clock, missing.done)).outcome).toBe('rolledBack');
    const rolledBack = await read();
    phases.push(rolledBack.phase);
    expect(rolledBack.versions.target?.version).toBe('3');
    expect(rolledBack.hosts.flatMap((h) => h.workloads.map((w) => [w.serving?.version, w.verified]))).toEqual([
      ['1', true],
      ['1', true],
    ]);
    expect(phases).toEqual(['unknown', 'deployed', 'upgrading', 'aborted', 'rolledBack']);
    const lookedUp = await drive(lat.clock, orch.lookup(missing.id), 10);
    expect(RolloutViewSchema.parse(lookedUp?.rollout)).toMatchObject({ outcome: 'rolledBack', done: true });
    expect(formatStatus(rolledBack)).toContain('app shop  phase rolledBack');
  });
});
