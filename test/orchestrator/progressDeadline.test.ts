// DESIGN §3 progress deadline and percentage semantics on real memory hosts with a simulated clock.
// Already covered in semantics.test.ts: counted from the last progress, rollback with reason progressDeadline;
// in canary.test.ts: an untimed pause waits for a person past the deadline.
import { encode, PROTOCOL_VERSION, specHash, subjects } from 'cutover';
import { createMemoryRuntime, type MemoryRuntime } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { LatticeClient } from '../../src/orchestrator/latticeClient';
import { Inflight } from '../../src/orchestrator/inflight';
import { Outages } from '../../src/orchestrator/outages';
import { Persister } from '../../src/orchestrator/persister';
import { RevisionRecord, RolloutRecord, keys } from '../../src/orchestrator/records';
import { rolloutEffectFunctions } from '../../src/orchestrator/effects';
import { ScalerHolds } from '../../src/orchestrator/scalers';
import { analysisProvidersOf } from '../../src/orchestrator/effects/analysis';
import { drive, revision, settle, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }] });
const V1 = rev('1');
const V2 = rev('2');
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');
const oneByOne = { type: 'rolling', maxParallel: 1, maxUnavailable: 1 } as const;

function publish(runtime: MemoryRuntime, v2FetchDelayMs = 0) {
  runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  runtime.publish('mem://api:2', {
    version: '2',
    operations: { handle: (p) => p },
    ...(v2FetchDelayMs > 0 ? { fetchDelayMs: v2FetchDelayMs } : {}),
  });
}

/** `n` hosts serving v1; h2 (when `slowMs` is set) takes `slowMs` of simulated time to download v2. */
async function lattice(n: number, opts: { slowMs?: number; heartbeatMs?: number } = {}) {
  // Runtimes are looked up when a host is added, so h2's can use the lattice's simulated clock.
  const runtimes: Record<string, MemoryRuntime> = {};
  const slow = opts.slowMs !== undefined;
  const lat = await testLattice(slow ? 1 : n, {
    runtimes,
    ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }),
  });
  publish(lat.runtime);
  if (slow) {
    const h2 = createMemoryRuntime({ clock: lat.clock });
    publish(h2, opts.slowMs);
    runtimes.h2 = h2;
    for (let i = 2; i <= n; i++) await lat.addHost(`h${i}`);
  }
  return lat;
}
const apis = (lat: Awaited<ReturnType<typeof lattice>>) => Object.values(lat.serving('shop')).map((w) => w.api);

describe('rollout: apply deadline per host', () => {
  const together = { type: 'rolling', maxParallel: 3, maxUnavailable: 3 } as const;

  it('fails a host that is not verified within applyDeadlineMs of its apply, naming it and where it stands', async () => {
    await using lat = await lattice(3, { slowMs: 50_000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const start = lat.clock.now();
    const h = await orch.deploy(V2, { strategy: { ...together, applyDeadlineMs: 20_000 } });
    let failedAt = Number.NaN;
    h.subscribe((v) => {
      if (v.state.startsWith('rollingBack') && Number.isNaN(failedAt)) failedAt = lat.clock.now();
    });
    const out = await drive(lat.clock, h.done);
    expect(out.outcome).toBe('rolledBack');
    expect(out.code).toBe('timeout');
    expect(out.reason).toBe('host "h2": not verified within applyDeadlineMs 20000 of its apply ("api" downloading)');
    expect(h.snapshot().conditions).toContainEqual(
      expect.objectContaining({ type: 'ApplyDeadlineExceeded', status: true, hosts: ['h2'] }),
    );
    // Long before the rollout's own 10-minute deadline, and before h2's download would have finished.
    expect(failedAt - start).toBeGreaterThanOrEqual(20_000);
    expect(failedAt - start).toBeLessThan(25_000);
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1), hashOf(V1)]);
  });

  it('counts from the first apply of the batch across an orchestrator restart', async () => {
    await using lat = await lattice(3, { slowMs: 50_000 });
    const first = await lat.orchestrator({ holder: 'first' });
    await drive(lat.clock, (await first.deploy(V1)).done);
    const start = lat.clock.now();
    const h = await first.deploy(V2, { strategy: { ...together, applyDeadlineMs: 20_000 } });
    await until(lat.clock, () => lat.clock.now() - start >= 15_000, 500);
    expect(h.snapshot().state).toBe('progressing.verifying');
    await first.close();

    const second = await lat.orchestrator({ holder: 'second' });
    const resumed = second.rollout(h.id);
    if (!resumed) throw new Error('rollout was not resumed');
    let failedAt = Number.NaN;
    resumed.subscribe((v) => {
      if (v.state.startsWith('rollingBack') && Number.isNaN(failedAt)) failedAt = lat.clock.now();
    });
    const out = await drive(lat.clock, resumed.done);
    expect(out.code).toBe('timeout');
    // At 20 s from the first apply, not a fresh 20 s window from the restart at 15 s.
    expect(failedAt - start).toBeGreaterThanOrEqual(20_000);
    expect(failedAt - start).toBeLessThan(25_000);
  });
});

describe('rollout: progress deadline', () => {
  it('is an absolute instant in the snapshot: a restarted orchestrator does not re-arm a full window', async () => {
    await using lat = await lattice(2, { slowMs: 120_000 });
    const first = await lat.orchestrator({ holder: 'first' });
    await drive(lat.clock, (await first.deploy(V1)).done);
    const h = await first.deploy(V2, { strategy: { ...oneByOne, progressDeadlineMs: 10_000 } });
    // Batch 1 verified: the deadline is re-armed from that progress and h2 starts its slow download.
    await until(lat.clock, () => h.snapshot().batch === 1);
    const deadline = h.snapshot().progressDeadlineAt;
    expect(deadline).not.toBeNull();
    // Most of the window passes, then the orchestrator stops.
    await until(lat.clock, () => lat.clock.now() >= (deadline ?? 0) - 3000, 500);
    await first.close();

    const second = await lat.orchestrator({ holder: 'second' });
    const resumed = second.rollout(h.id);
    if (!resumed) throw new Error('rollout was not resumed');
    expect(resumed.snapshot().progressDeadlineAt).toBe(deadline);
    let rollingBackAt: number | null = null;
    resumed.subscribe((v) => {
      if (rollingBackAt === null && v.state.startsWith('rollingBack')) rollingBackAt = lat.clock.now();
    });
    const out = await drive(lat.clock, resumed.done, 250);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'progressDeadline' });
    expect(out.reason).toContain('progressDeadline');
    // Expired at the stored instant, not a full window after the restart.
    expect(rollingBackAt).not.toBeNull();
    expect(rollingBackAt ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual((deadline ?? 0) + 250);
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
  });

  it('does not run while the rollout is held, and the held time is not counted after resume', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, { strategy: { ...oneByOne, progressDeadlineMs: 5000 } });
    await orch.pause('shop');
    await until(lat.clock, () => h.snapshot().state === 'progressing.held');
    const before = h.snapshot().progressDeadlineAt;
    expect(before).not.toBeNull();
    // Twelve deadline windows pass while held.
    for (let i = 0; i < 120; i++) {
      await settle(2);
      lat.clock.increment(500);
    }
    expect(h.snapshot()).toMatchObject({ state: 'progressing.held', outcome: null });
    expect(h.snapshot().conditions).not.toContain('ProgressDeadlineExceeded');
    await orch.resume('shop');
    await until(lat.clock, () => h.snapshot().state !== 'progressing.held');
    const after = h.snapshot().progressDeadlineAt;
    // Shifted by the time spent held (or re-armed by progress since), never already past.
    expect(after ?? 0).toBeGreaterThan(lat.clock.now());
    const out = await drive(lat.clock, h.done);
    expect(out.outcome).toBe('completed');
    expect(h.snapshot().conditions).not.toContain('ProgressDeadlineExceeded');
    expect(apis(lat)).toEqual([hashOf(V2), hashOf(V2), hashOf(V2)]);
  });

  it('is not extended by host heartbeats or duplicate reports: only progress moves it', async () => {
    await using lat = await lattice(2, { slowMs: 120_000, heartbeatMs: 500 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    // minReadyMs puts the verification of batch 1 a second after planning, so the two arms differ.
    const h = await orch.deploy(V2, { strategy: { ...oneByOne, progressDeadlineMs: 5000, minReadyMs: 1000 } });
    const deadlines: number[] = [];
    let rollingBackAt: number | null = null;
    h.subscribe((v) => {
      const at = v.progressDeadlineAt;
      if (at !== null && deadlines.at(-1) !== at) deadlines.push(at);
      if (rollingBackAt === null && v.state.startsWith('rollingBack')) rollingBackAt = lat.clock.now();
    });
    // Once h1 is verified, its `component.applied` report arrives again and again, as a retried one would.
    const wire = lat.bus.connect('h1-duplicate');
    const duplicate = () =>
      wire.publish(
        subjects.hostEvents(lat.lattice, 'h1'),
        encode({
          type: 'component.applied',
          version: PROTOCOL_VERSION,
          hostId: 'h1',
          at: lat.clock.now(),
          app: 'shop',
          componentId: 'api',
          kind: 'component',
          hash: hashOf(V2),
        }),
      );
    let finished = false;
    let duplicates = 0;
    void h.done.then(() => {
      finished = true;
    });
    for (let i = 0; i < 400 && !finished; i++) {
      if (h.snapshot().batch === 1 && rollingBackAt === null) {
        duplicate();
        duplicates++;
      }
      await settle();
      lat.clock.increment(250);
    }
    const out = await h.done;
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'progressDeadline' });
    expect(duplicates).toBeGreaterThan(10);
    const last = deadlines.at(-1) ?? Number.NaN;
    // Armed at planning and re-armed when batch 1 was verified; ten heartbeats and every duplicate
    // report before expiry left it where it was.
    expect(deadlines.length).toBe(2);
    expect(rollingBackAt ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(last + 250);
    expect(apis(lat)).toEqual([hashOf(V1), hashOf(V1)]);
  });

  it('without progressDeadlineAbort reports a ProgressDeadlineExceeded condition, goes on, and clears it once progress resumes', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    // A 20 s measurement with nothing in between: the 5 s window passes, then the measurement is progress.
    const slowAnalysis = {
      provider: 'errorRate',
      intervalMs: 20_000,
      noData: 'pass',
      failureCondition: { max: 1 },
    } as const;
    const h = await orch.deploy(V2, {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { analysis: slowAnalysis }],
        progressDeadlineMs: 5000,
        progressDeadlineAbort: false,
      },
    });
    let held = false;
    h.subscribe((v) => {
      if (v.conditions.some((c) => c.type === 'ProgressDeadlineExceeded' && c.status)) held = true;
    });
    const out = await drive(lat.clock, h.done, 250);
    expect(out.outcome).toBe('completed');
    expect(held).toBe(true);
    expect(h.snapshot().conditions).toContainEqual(
      expect.objectContaining({ type: 'ProgressDeadlineExceeded', status: false, reason: 'progressDeadline' }),
    );
    expect(apis(lat)).toEqual([hashOf(V2), hashOf(V2)]);
  });
});

describe('rollout: percentages', () => {
  it('resolve against the current host set when the rollout is planned', async () => {
    await using lat = await lattice(4, { heartbeatMs: 1000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    await lat.addHost('h5');
    // A host that joined is known to the orchestrator from its first heartbeat.
    for (let i = 0; i < 3; i++) {
      await settle();
      lat.clock.increment(1000);
    }
    // 25% of 5 hosts rounds up to 2: three batches (of the 4 earlier hosts it would be 1 host a batch).
    const h = await orch.deploy(V2, { strategy: { type: 'rolling', maxParallel: '25%', maxUnavailable: '100%' } });
    const out = await drive(lat.clock, h.done);
    expect(out.outcome).toBe('completed');
    expect(h.snapshot().batches).toBe(3);
    expect(apis(lat)).toEqual(Array(5).fill(hashOf(V2)));
  });

  it('resolve again at each batch: hosts that joined mid-rollout widen the next batch and are included', async () => {
    await using lat = await lattice(4, { heartbeatMs: 600_000 });
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: '50%', maxUnavailable: '50%', pauseAfterBatch: {} },
    });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    expect(apis(lat).filter((a) => a === hashOf(V2))).toHaveLength(2);
    for (const id of ['h5', 'h6', 'h7', 'h8']) await lat.addHost(id);
    lat.clock.increment(1000);
    await settle();
    await orch.resume('shop');
    // 50% of 8 hosts: the next batch moves 4 at once (h3, h4 and two of the new hosts), not 50% of 4.
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause' && h.snapshot().batch === 2);
    expect(apis(lat).filter((a) => a === hashOf(V2))).toHaveLength(6);
    expect(h.snapshot().batches).toBe(3);
    await orch.resume('shop');
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect(apis(lat)).toEqual(Array(8).fill(hashOf(V2)));
  });

  it('keeps a re-plan across a restart: the same batch applied again reports the re-planned total', async () => {
    await using lat = await lattice(4, { heartbeatMs: 600_000 });
    const orch = await lat.orchestrator({ holder: 'a' });
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const h = await orch.deploy(V2, {
      strategy: { type: 'rolling', maxParallel: '50%', maxUnavailable: '50%', pauseAfterBatch: {} },
    });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    for (const id of ['h5', 'h6', 'h7', 'h8']) await lat.addHost(id);
    await orch.close();
    // The batch-1 apply as a restored rollout runs it: once (it re-plans), then again (as after a crash).
    const record = RolloutRecord.parse((await lat.store.get('cutover', keys.rollout(h.id)))?.value);
    const c = record.snapshot.context;
    const client = new LatticeClient({
      transport: lat.bus.connect('effects'),
      lattice: 'test',
      clock: lat.clock,
      requestTimeoutMs: 2000,
    });
    lat.clock.increment(1);
    await settle();
    const effects = rolloutEffectFunctions(
      {
        store: lat.store,
        client,
        clock: lat.clock,
        scalers: new ScalerHolds(lat.store),
        pollMs: 500,
        analysisProviders: analysisProvidersOf(undefined, lat.clock),
        sendToken: async () => 99,
        inflight: new Inflight(),
        outages: new Outages(lat.clock),
        loadRevision: async (_app, version) =>
          RevisionRecord.parse((await lat.store.get('cutover', keys.revision('shop', version)))?.value).revision,
        recordHistory: async () => undefined,
        publish: () => undefined,
      },
      (() => {
        const persister = new Persister(lat.store, 'scratch', 0, () => undefined);
        return { supersedes: null, persister, durable: (signal: AbortSignal) => persister.flush({ signal }) };
      })(),
    );
    const input = { ...c, rolloutId: c.rolloutId, batch: 1, firstDeploy: false };
    // Planning gathers host inventories: a scatter/gather window on the lattice's simulated clock.
    const first = await drive(lat.clock, effects.applyBatch(input, new AbortController().signal), 50);
    const again = await drive(lat.clock, effects.applyBatch(input, new AbortController().signal), 50);
    // 50% of 8 hosts: the two old hosts left and the four new ones go in two batches of 4 and 2, after batch 0.
    expect(first.batches).toBe(3);
    expect(again.batches).toBe(first.batches);
    client.close();
  });

  it('round maxUnavailable down and maxParallel up, with at least one host per batch', async () => {
    await using lat = await lattice(5);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(V1)).done);
    const cases = [
      // 10% of 5 is 0.5: maxParallel rounds up to 1 → five batches.
      { strategy: { type: 'rolling', maxParallel: '10%', maxUnavailable: '100%' }, batches: 5, to: V2 },
      // 30% of 5 is 1.5: maxUnavailable rounds down to 1 → five batches although maxParallel allows all.
      { strategy: { type: 'rolling', maxParallel: 5, maxUnavailable: '30%' }, batches: 5, to: V1 },
      // 10% of 5 rounds down to 0: still one host at a time, never stuck.
      { strategy: { type: 'rolling', maxParallel: 5, maxUnavailable: '10%' }, batches: 5, to: V2 },
      // 50% of 5 is 2.5: maxParallel rounds up to 3 → two batches.
      { strategy: { type: 'rolling', maxParallel: '50%', maxUnavailable: '100%' }, batches: 2, to: V1 },
    ] as const;
    for (const c of cases) {
      const h = await orch.deploy(c.to, { strategy: c.strategy });
      expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
      expect(h.snapshot().batches).toBe(c.batches);
      expect(apis(lat)).toEqual(Array(5).fill(hashOf(c.to)));
    }
  });
});
