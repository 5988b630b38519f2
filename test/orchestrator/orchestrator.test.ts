import {
  ControlReply,
  RevisionRecord,
  RolloutRecord,
  decode,
  encode,
  hasCode,
  parseJson,
  specHash,
  subjects,
} from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string, image: string, scale?: { instances: number }) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image, ...(scale ? { scale } : {}) }] });
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

async function lattice(n: number) {
  const lat = await testLattice(n);
  for (const v of ['1', '2', '3', '4'])
    lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  return lat;
}

describe('orchestrator: lease', () => {
  it('lets only the lease holder drive an app; a second orchestrator on the same store is refused', async () => {
    await using lat = await lattice(2);
    const a = await lat.orchestrator({ holder: 'a' });
    await drive(lat.clock, (await a.deploy(rev('1', 'mem://api:1'))).done);
    const b = await lat.orchestrator({ holder: 'b' });
    await expect(b.deploy(rev('2', 'mem://api:2'))).rejects.toSatisfy((e) => hasCode(e, 'lease.held'));
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([
      hashOf(rev('1', 'mem://api:1')),
      hashOf(rev('1', 'mem://api:1')),
    ]);
  });

  it('fences a stale leader: hosts refuse its token once another orchestrator took the app over', async () => {
    await using lat = await lattice(2);
    const a = await lat.orchestrator({ holder: 'a', leaseTtlMs: 3000 });
    await drive(lat.clock, (await a.deploy(rev('1', 'mem://api:1'))).done);
    const lease = await lat.store.get<{ token: number }>('cutover', 'lease.shop');
    const staleToken = lease?.value.token ?? 0;
    // a stops renewing (as if paused by GC or partitioned from the store) and its lease runs out.
    await lat.store.put('cutover', 'lease.shop', { ...(lease?.value ?? {}), expiresAt: 0 });
    const b = await lat.orchestrator({ holder: 'b' });
    const v2 = rev('2', 'mem://api:2');
    expect((await drive(lat.clock, (await b.deploy(v2)).done)).outcome).toBe('completed');
    const reply = decode(
      await lat.bus.connect('stale').request(
        subjects.componentApply('test', 'h1'),
        encode({
          type: 'component.apply',
          app: 'shop',
          leaseToken: staleToken,
          spec: rev('3', 'mem://api:3').components[0]?.spec,
        }),
        { timeoutMs: 1000 },
      ),
      ControlReply,
    );
    expect(reply).toMatchObject({ type: 'error', code: 'lease.stale' });
    await expect(a.deploy(rev('3', 'mem://api:3'))).rejects.toSatisfy((e) => hasCode(e, 'lease.held'));
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([hashOf(v2), hashOf(v2)]);
  });
});

describe('orchestrator: takeover', () => {
  it('leaves a live holder alone, and takes its rollout over once it is gone', async () => {
    await using lat = await lattice(3);
    const a = await lat.orchestrator({ holder: 'a', leaseTtlMs: 4000 });
    await drive(lat.clock, (await a.deploy(rev('1', 'mem://api:1'))).done);
    const resumed: string[] = [];
    const b = await lat.orchestrator({ holder: 'b', leaseTtlMs: 4000, onResume: (id) => resumed.push(id) });
    const pauses = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} } as const;
    const h = await a.deploy(rev('2', 'mem://api:2'), { strategy: pauses });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    // Ten lease lifetimes pass while a renews: b never steps in.
    for (let i = 0; i < 40; i++) {
      lat.clock.increment(1000);
      await settle(3);
    }
    expect(b.rollout(h.id)).toBeUndefined();
    expect(resumed).toEqual([]);
    expect(h.snapshot().state).toBe('progressing.stepPause');

    await a.close();
    await until(lat.clock, () => b.rollout(h.id) !== undefined, 500);
    expect(resumed).toEqual([h.id]);
    const taken = b.rollout(h.id);
    if (!taken) throw new Error('not taken over');
    expect(taken.snapshot()).toMatchObject({ state: 'progressing.stepPause', batch: h.snapshot().batch });
    await b.promote('shop', { full: true });
    expect((await drive(lat.clock, taken.done)).outcome).toBe('completed');
    const v2 = hashOf(rev('2', 'mem://api:2'));
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2]);
  });

  it('does not take over with takeoverMs 0 (only at start)', async () => {
    await using lat = await lattice(2);
    const a = await lat.orchestrator({ holder: 'a' });
    await drive(lat.clock, (await a.deploy(rev('1', 'mem://api:1'))).done);
    const b = await lat.orchestrator({ holder: 'b', takeoverMs: 0 });
    const h = await a.deploy(rev('2', 'mem://api:2'), {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} },
    });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    await a.close();
    for (let i = 0; i < 60; i++) {
      lat.clock.increment(1000);
      await settle(3);
    }
    expect(b.rollout(h.id)).toBeUndefined();
    const c = await lat.orchestrator({ holder: 'c', takeoverMs: 0 });
    expect(c.rollout(h.id)?.snapshot().state).toBe('progressing.stepPause');
  });
});

describe('orchestrator: persistence', () => {
  it('reports a corrupt snapshot as snapshot.invalid and leaves it untouched', async () => {
    await using lat = await lattice(1);
    await lat.store.put('cutover', 'rollout.rbroken', {
      schema: 1,
      id: 'rbroken',
      snapshot: { status: 'active', value: 42 },
    });
    const before = await lat.store.get('cutover', 'rollout.rbroken');
    const orch = await lat.orchestrator();
    expect(orch.problems.map((p) => p.code)).toEqual(['snapshot.invalid']);
    await settle();
    expect(await lat.store.get('cutover', 'rollout.rbroken')).toEqual(before);
  });

  it('keeps a validated snapshot per rollout whose size does not grow with the host count', async () => {
    const sizes: number[] = [];
    for (const n of [2, 12]) {
      await using lat = await lattice(n);
      const orch = await lat.orchestrator();
      const h = await orch.deploy(rev('1', 'mem://api:1'), { strategy: { type: 'rolling', maxParallel: 1 } });
      await drive(lat.clock, h.done);
      const stored = await lat.store.get('cutover', `rollout.${h.id}`);
      const record = RolloutRecord.parse(stored?.value);
      expect(record.snapshot.status).toBe('done');
      sizes.push(JSON.stringify({ ...record.snapshot.context, rolloutId: '' }).replace(/\d+/g, '0').length);
    }
    expect(sizes[0]).toBe(sizes[1]);
  });
});

describe('orchestrator: events and pinning', () => {
  it('publishes rollout snapshots and the outcome on the rollout event subject', async () => {
    await using lat = await lattice(2);
    const seen: Array<{ type: string }> = [];
    lat.bus.connect('watcher').subscribe(subjects.allRolloutEvents('test'), (msg) => {
      seen.push(parseJson(msg.data) as { type: string });
    });
    const orch = await lat.orchestrator();
    const h = await orch.deploy(rev('1', 'mem://api:1'));
    await drive(lat.clock, h.done);
    await settle();
    expect(seen.some((m) => m.type === 'rollout.snapshot')).toBe(true);
    expect(seen.at(-1)).toMatchObject({ type: 'rollout.outcome', output: { rolloutId: h.id, outcome: 'completed' } });
  });

  it('pins image tags to digests at plan time, so the stored revision names exact bytes', async () => {
    await using lat = await lattice(1);
    const orch = await lat.orchestrator({ resolveImage: async (ref) => lat.runtime.digestOf(ref) });
    await drive(lat.clock, (await orch.deploy(rev('1', 'mem://api:1'))).done);
    const stored = RevisionRecord.parse((await lat.store.get('cutover', 'revision.shop.1'))?.value);
    expect(stored.pinned).toBe(true);
    expect(stored.revision.components[0]?.spec.digest).toBe(lat.runtime.digestOf('mem://api:1'));
    expect(lat.hosts.get('h1')?.inventory().components[0]?.status).toBe('running');
  });
});

describe('orchestrator: scalers', () => {
  it('gives a joining host the stable specs and corrects drift, but never while a rollout holds the scaler', async () => {
    await using lat = await testLattice(2, { heartbeatMs: 1000 });
    for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
    const orch = await lat.orchestrator({ scalers: true });
    const v1 = rev('1', 'mem://api:1');
    await drive(lat.clock, (await orch.deploy(v1)).done);
    await lat.addHost('h3');
    await until(lat.clock, () => lat.serving('shop').h3?.api === hashOf(v1), 500);

    // Drift: a component stopped behind the orchestrator's back comes back.
    const token = (await lat.store.get<{ token: number }>('cutover', 'lease.shop'))?.value.token ?? 0;
    await lat.hosts.get('h2')?.apply({ type: 'component.delete', app: 'shop', leaseToken: token, componentId: 'api' });
    await until(lat.clock, () => lat.serving('shop').h2?.api === hashOf(v1), 500);

    // While a rollout holds the scaler it stays away: the held rollout's hosts are not touched.
    const v2 = rev('2', 'mem://api:2');
    const h = await orch.deploy(v2, { strategy: { type: 'rolling', maxParallel: 1, pauseAfterBatch: {} } });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    expect((await orch.status('shop')).scalerHolders).toEqual([h.id]);
    for (let i = 0; i < 5; i++) {
      lat.clock.increment(1000);
      await settle();
    }
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([hashOf(v2), hashOf(v1), hashOf(v1)]);
    await orch.promote('shop', { full: true });
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect((await orch.status('shop')).scalerHolders).toEqual([]);
  });
});

describe('orchestrator: controls', () => {
  it('refuses commands when no rollout is in flight, and retry starts a new linked rollout', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1', 'mem://api:1'))).done);
    lat.runtime.publish('mem://api:bad', { version: 'bad', operations: {}, validateError: 'bad magic' });
    const failed = await orch.deploy(rev('2', 'mem://api:bad'));
    expect((await drive(lat.clock, failed.done)).outcome).toBe('rolledBack');
    await expect(orch.abort('shop')).rejects.toSatisfy((e) => hasCode(e, 'rollout.invalidCommand'));
    await expect(orch.pause('shop')).rejects.toSatisfy((e) => hasCode(e, 'rollout.invalidCommand'));
    lat.runtime.publish('mem://api:bad', { version: 'fixed', operations: { handle: (p) => p } });
    const retry = await orch.retry('shop');
    expect(retry.snapshot()).toMatchObject({ kind: 'retry', parent: failed.id, targetVersion: '2' });
    expect((await drive(lat.clock, retry.done)).outcome).toBe('completed');
  });

  it('undo goes straight back to a known-good revision from history', async () => {
    await using lat = await lattice(3);
    const orch = await lat.orchestrator();
    const v1 = rev('1', 'mem://api:1');
    await drive(lat.clock, (await orch.deploy(v1)).done);
    await drive(lat.clock, (await orch.deploy(rev('2', 'mem://api:2'))).done);
    const undo = await orch.undo('shop', '1');
    expect(undo.snapshot().kind).toBe('undo');
    expect((await drive(lat.clock, undo.done)).outcome).toBe('completed');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([hashOf(v1), hashOf(v1), hashOf(v1)]);
    expect((await orch.status('shop')).stableVersion).toBe('1');
  });

  it('keeps revisionHistoryLimit entries but never drops the stable one', async () => {
    await using lat = await lattice(1);
    const orch = await lat.orchestrator({ revisionHistoryLimit: 2 });
    await drive(lat.clock, (await orch.deploy(rev('1', 'mem://api:1'))).done);
    lat.runtime.publish('mem://api:bad', { version: 'bad', operations: {}, validateError: 'bad magic' });
    for (const v of ['2', '3', '4']) await drive(lat.clock, (await orch.deploy(rev(v, 'mem://api:bad'))).done);
    const history = await orch.history('shop');
    expect(history.map((h) => [h.version, h.outcome])).toEqual([
      ['4', 'rolledBack'],
      ['3', 'rolledBack'],
      ['1', 'completed'],
    ]);
  });

  it('removes from the store what history no longer lists: rollout, plan, analysis runs and revision', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator({ revisionHistoryLimit: 2 });
    const ids: string[] = [];
    for (const v of ['1', '2', '3', '4']) {
      const h = await orch.deploy(rev(v, `mem://api:${v}`), { strategy: { type: 'rolling', maxParallel: 1 } });
      ids.push(h.id);
      expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    }
    const [first, second, third, fourth] = ids;
    const keysOf = async (id: string | undefined) =>
      (await lat.store.keys('cutover')).filter((k) => k === `rollout.${id}` || k.startsWith(`plan.${id}`));
    // Kept: 4 and 3 (within the limit; 4 is also stable). Dropped: 1 and 2, with everything they stored.
    expect((await orch.history('shop')).map((h) => h.version)).toEqual(['4', '3']);
    expect(await keysOf(first)).toEqual([]);
    expect(await keysOf(second)).toEqual([]);
    expect(await keysOf(third)).toContain(`rollout.${third}`);
    expect((await keysOf(fourth)).length).toBeGreaterThan(2);
    const revisions = (await lat.store.keys('cutover', 'revision.')).sort();
    expect(revisions).toEqual(['revision.shop.3', 'revision.shop.4']);
    // What is kept still works: undo to 3 from history.
    expect((await drive(lat.clock, (await orch.undo('shop', '3')).done)).outcome).toBe('completed');
  });
});
