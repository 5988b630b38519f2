// Generated path tests for the rollout machine: a covering set of paths (100% of states and transitions)
// replayed against real hosts on the memory adapter, with invariants checked after every step.
//
// Effects run for real (scalers, planning, applies, verification, completion, rollback, scaler resume);
// what a path decides by fiat is scripted: timers firing, analysis verdicts, a failed rollback verification
// and effect errors. A verification the path wants to fail fails for real: that batch's host gets a runtime
// whose target image does not validate.
import { type AppRevision, CutoverError, specHash } from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { rolloutMachine } from 'cutover/machines';
import { describe, expect, it } from 'vitest';
import { type EventObject, createActor, fromPromise } from 'xstate';
import { LatticeClient } from '../../src/orchestrator/latticeClient';
import { createLeases } from '../../src/orchestrator/lease';
import { Inflight } from '../../src/orchestrator/inflight';
import { Outages } from '../../src/orchestrator/outages';
import { Persister } from '../../src/orchestrator/persister';
import { RevisionRecord, keys } from '../../src/orchestrator/records';
import { type EffectContext, rolloutEffectFunctions } from '../../src/orchestrator/effects';
import { type RolloutPath, selectRolloutPaths } from '../../src/testing/rolloutModel';
import { ScalerHolds } from '../../src/orchestrator/scalers';
import { analysisProvidersOf } from '../../src/orchestrator/effects/analysis';
import { formatCoverage, isFullyCovered, walkCoverage } from '../../src/testing/coverage';
import { drive, revision, settle, testLattice } from '../fixtures/orchestrator';

const selection = selectRolloutPaths();
/** Real effects run across all replays, by effect: the replays must exercise the real runtime. */
const realRuns = new Map<string, number>();

type Pending = { src: string; input: unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Done = EventObject & { output?: { status?: string; batches?: number } };

const V1 = revision({ app: 'shop', version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
const V2 = revision({ app: 'shop', version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
// A target with the stable spec under a new version: nothing to change, a plan of zero batches.
const SAME = revision({ app: 'shop', version: '2', components: [{ id: 'api', image: 'mem://api:1' }] });
const hashOf = (r: AppRevision) => specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

async function replay(path: RolloutPath): Promise<void> {
  const events = path.steps.map((s) => s.event as Done);
  const fresh = path.input.stableVersion === null;
  const planned = events.find((e) => e.type === 'xstate.done.actor.planRollout')?.output?.batches ?? 1;
  const hostCount = planned === 0 ? (fresh ? 0 : 1) : planned;
  const target = planned === 0 ? SAME : V2;
  // Hosts whose batch must fail verification get a runtime where the target image does not validate.
  const broken = createMemoryRuntime();
  broken.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  broken.publish('mem://api:2', { version: '2', operations: {}, validateError: 'bad magic number' });
  const runtimes: Record<string, typeof broken> = {};
  path.steps.forEach((step, i) => {
    const e = step.event as Done;
    if (e.type === 'xstate.done.actor.verifyBatch' && e.output?.status === 'failed') {
      const before = i === 0 ? 0 : (path.steps[i - 1]?.state.context.batch ?? 0);
      runtimes[`h${before + 1}`] = broken;
    }
  });
  await using lat = await testLattice(hostCount, { runtimes });
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  lat.runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
  if (!fresh) {
    const orch = await lat.orchestrator({ holder: 'setup' });
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    await orch.close();
  }
  const record: RevisionRecord = { schema: 1, revision: target, pinned: true, storedAt: 0 };
  await lat.store.put('cutover', keys.revision('shop', '2'), record);
  const stableHash = fresh ? undefined : hashOf(V1);
  const targetHash = hashOf(target);

  const client = new LatticeClient({
    transport: lat.bus.connect('paths'),
    lattice: 'test',
    clock: lat.clock,
    requestTimeoutMs: 2000,
  });
  const leases = createLeases(lat.store, { holder: 'paths', ttlMs: 600_000, clock: lat.clock });
  const lease = await leases.acquire('shop');
  const o: EffectContext = {
    store: lat.store,
    client,
    clock: lat.clock,
    scalers: new ScalerHolds(lat.store),
    pollMs: 500,
    analysisProviders: analysisProvidersOf(undefined, lat.clock),
    sendToken: async () => lease.token,
    inflight: new Inflight(),
    outages: new Outages(lat.clock),
    loadRevision: async (_app, version) => {
      const e = await lat.store.get('cutover', keys.revision('shop', version));
      return RevisionRecord.parse(e?.value).revision;
    },
    recordHistory: async () => undefined,
    publish: () => undefined,
  };
  const persister = new Persister(lat.store, keys.rollout(path.input.rolloutId), 0, () => undefined);
  const real = rolloutEffectFunctions(o, {
    supersedes: null,
    persister,
    durable: (signal) => persister.flush({ signal }),
  });

  const pending = new Map<string, Pending>();
  const controlled = <O, I>(src: string) =>
    fromPromise<O, I>(
      ({ input, self, signal }) =>
        new Promise<O>((resolve, reject) => {
          pending.set(self.id, { src, input, resolve: resolve as (v: unknown) => void, reject });
          signal.addEventListener('abort', () => pending.delete(self.id), { once: true });
        }),
    );
  const machine = rolloutMachine.provide({
    actors: {
      suspendScalers: controlled('suspendScalers'),
      markUpgrading: controlled('markUpgrading'),
      planRollout: controlled('planRollout'),
      applyBatch: controlled('applyBatch'),
      verifyBatch: controlled('verifyBatch'),
      analyze: controlled('analyze'),
      backgroundAnalysis: controlled('backgroundAnalysis'),
      complete: controlled('complete'),
      rollback: controlled('rollback'),
      verifyRollback: controlled('verifyRollback'),
      resumeScalers: controlled('resumeScalers'),
      deadline: controlled('deadline'),
    },
  });
  const actor = createActor(machine, { input: path.input });
  actor.subscribe((snap) => persister.schedule({ snapshot: actor.getPersistedSnapshot(), at: snap.context.batch }));
  actor.start();
  let resumed = false;

  const invariantEveryStep = (where: string) => {
    for (const [hostId, w] of Object.entries(lat.serving('shop'))) {
      const h = w.api;
      if (h !== undefined && h !== stableHash && h !== targetHash)
        throw new Error(`${where}: ${hostId} serves ${h}, neither stable nor target`);
    }
  };

  for (const [i, step] of path.steps.entries()) {
    const e = step.event as Done;
    const where = `${path.id} step ${i + 1} (${e.type})`;
    const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(e.type);
    if (m) {
      const id = m[2] ?? '';
      for (let k = 0; k < 50 && !pending.has(id); k++) await settle(2);
      const p = pending.get(id);
      if (!p) throw new Error(`${where}: actor "${id}" is not running`);
      pending.delete(id);
      if (m[1] === 'error') {
        p.reject(new CutoverError('invoke.failed', `scripted failure of "${id}"`));
      } else {
        const want = e.output;
        const run = <T>(promise: Promise<T>) => {
          realRuns.set(p.src, (realRuns.get(p.src) ?? 0) + 1);
          return drive(lat.clock, promise, 500);
        };
        switch (p.src) {
          case 'deadline':
          case 'analyze':
          case 'backgroundAnalysis':
            p.resolve(want);
            break;
          case 'verifyRollback': {
            if (want?.status === 'failed') {
              p.resolve(want);
              break;
            }
            const r = await run(real.verifyRollback(p.input as never, new AbortController().signal));
            expect(r.status, where).toBe('passed');
            p.resolve(r);
            break;
          }
          case 'verifyBatch': {
            const r = await run(real.verifyBatch(p.input as never, new AbortController().signal));
            expect(r.status, where).toBe(want?.status);
            p.resolve(r);
            break;
          }
          case 'planRollout': {
            const r = await run(real.planRollout(p.input as never, new AbortController().signal));
            expect(r.batches, where).toBe(want?.batches);
            p.resolve(r);
            break;
          }
          default: {
            if (p.src === 'resumeScalers') resumed = true;
            const fn = real[p.src as keyof typeof real] as (input: unknown, signal: AbortSignal) => Promise<unknown>;
            p.resolve(await run(fn(p.input, new AbortController().signal)));
          }
        }
      }
    } else {
      actor.send(e as never);
    }
    await settle(4);
    expect(actor.getSnapshot().value, where).toEqual(step.state.value);
    invariantEveryStep(where);
  }

  const snap = actor.getSnapshot();
  if (snap.status === 'done') {
    const holders = await o.scalers.holders('shop');
    const scripted = (type: string) => events.some((e) => e.type === type);
    if (snap.value === 'superseded') {
      expect(resumed, 'superseded hands its suspension over: scalers not resumed').toBe(false);
    } else if (!scripted('xstate.error.actor.resumeScalers')) {
      expect(resumed, `${snap.value}: scalers resumed`).toBe(true);
      expect(holders).not.toContain(path.input.rolloutId);
    }
    const serving = Object.values(lat.serving('shop')).map((w) => w.api);
    if (snap.value === 'completed') expect(serving).toEqual(serving.map(() => targetHash));
    if (snap.value === 'rolledBack' || snap.value === 'aborted') expect(serving).toEqual(serving.map(() => stableHash));
  }
  actor.stop();
  client.close();
}

describe('rollout generated paths', () => {
  it('cover every state and transition of the rollout machine', () => {
    const coverage = walkCoverage(
      rolloutMachine,
      { states: selection.states, transitions: selection.transitions },
      selection.paths.length,
    );
    expect(isFullyCovered(coverage), formatCoverage(coverage)).toBe(true);
  });

  it.each(selection.paths.map((p) => [p.id, p] as const))(
    'replays %s on real hosts with invariants',
    async (_id, path) => {
      await replay(path);
    },
  );

  it('ran every effect for real at least once while replaying', () => {
    for (const src of [
      'suspendScalers',
      'markUpgrading',
      'planRollout',
      'applyBatch',
      'verifyBatch',
      'complete',
      'rollback',
      'verifyRollback',
      'resumeScalers',
    ]) {
      expect(realRuns.get(src) ?? 0, src).toBeGreaterThan(0);
    }
  });
});
