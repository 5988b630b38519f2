// Over 400 lines on purpose: the orchestrator's blue-green flow end to end, one lattice fixture shared.
// The orchestrator's side of blue-green on the wire: standby applies, promote and revert go as fenced control
// requests to a real host over the memory bus, and the inventory shows the standby the orchestrator verifies.
import { type RolloutOutput, type StrategyInput, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { LatticeClient } from '../../src/orchestrator/latticeClient';
import { apiSpec, createHostRig, fenced, kvSpec, providerApply } from '../fixtures/host';
import { drive, revision, settle, type TestLattice, testLattice, until } from '../fixtures/orchestrator';

async function setup() {
  const rig = await createHostRig();
  rig.publishApi(2);
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));
  await rig.host.apply(fenced(apiSpec(1)));
  const client = new LatticeClient({
    transport: rig.bus.connect('orchestrator'),
    lattice: 'test',
    clock: rig.clock,
    requestTimeoutMs: 2000,
  });
  const api = async () => (await client.inventory('h1'))?.components.find((c) => c.id === 'api');
  return { rig, client, api };
}

describe('blue-green control over the wire', () => {
  it('applies a standby, verifies it in the inventory, promotes it and reverts inside keepOldForMs', async () => {
    const { rig, client, api } = await setup();
    await using _rig = rig;
    await client.control('h1', 'shop', 1, { type: 'component.apply', spec: apiSpec(2), mode: 'standby' });
    await rig.host.settled();
    expect(await api()).toMatchObject({
      status: 'standby',
      servingHash: specHash(apiSpec(1)),
      pending: { hash: specHash(apiSpec(2)), phase: 'standby' },
    });

    await client.control('h1', 'shop', 1, { type: 'component.promote', componentId: 'api', keepOldForMs: 60_000 });
    await rig.host.settled();
    expect(await api()).toMatchObject({ status: 'running', servingHash: specHash(apiSpec(2)) });
    expect(await rig.echo('x')).toBe('v2:x');

    const validations = rig.runtime.validations;
    await client.control('h1', 'shop', 1, { type: 'component.revert', componentId: 'api' });
    await rig.host.settled();
    expect(await api()).toMatchObject({ status: 'running', servingHash: specHash(apiSpec(1)) });
    expect(rig.runtime.validations).toBe(validations);
    expect(await rig.echo('y')).toBe('v1:y');
    client.close();
  });

  it('refuses a stale lease and a revert with nothing to revert to, with coded errors', async () => {
    const { rig, client, api } = await setup();
    await using _rig = rig;
    await client.control('h1', 'shop', 2, { type: 'component.apply', spec: apiSpec(2), mode: 'standby' });
    await expect(
      client.control('h1', 'shop', 1, { type: 'component.promote', componentId: 'api', keepOldForMs: 0 }),
    ).rejects.toMatchObject({ code: 'lease.stale' });
    await rig.host.settled();
    await client.control('h1', 'shop', 2, { type: 'component.revert', componentId: 'api' });
    await rig.host.settled();
    expect(await api()).toMatchObject({ status: 'running', servingHash: specHash(apiSpec(1)) });
    await expect(
      client.control('h1', 'shop', 2, { type: 'component.revert', componentId: 'api' }),
    ).rejects.toMatchObject({ code: 'rollout.invalidCommand' });
    client.close();
  });
});

describe('rollout: blue-green planning guardrails', () => {
  const rev = (version: string) =>
    revision({
      app: 'shop',
      version,
      components: [{ id: 'api', image: `mem://api:${version}` }],
      providers: [{ id: 'http', image: `mem://http:${version}` }],
      links: [
        {
          source: 'api',
          target: 'http',
          namespace: 'wasi',
          package: 'http',
          interfaces: ['incoming-handler'],
          name: 'a',
          sourceConfig: { address: '0.0.0.0:8080' },
        },
      ],
    });
  const V1 = rev('1');
  const V2 = rev('2');
  const blueGreen = (onConflict: 'fail' | 'rolling'): StrategyInput => ({
    type: 'blueGreen',
    keepOldForMs: 60_000,
    onConflict,
  });

  async function deployedV1() {
    const lat = await testLattice(2);
    for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    return { lat, orch };
  }

  it('refuses a plan where the standby and the active version bind the same address, naming it', async () => {
    const { lat, orch } = await deployedV1();
    await using _lat = lat;
    const output = await drive(lat.clock, (await orch.deploy(V2, { strategy: blueGreen('fail') })).done);
    expect(output.code).toBe('plan.conflict');
    expect(output.reason).toContain('address 0.0.0.0:8080');
    expect(output.reason).toContain('"1"');
    expect(output.reason).toContain('"2"');
    expect(output.reason).toContain('"h1", "h2"');
    const v1 = specHash(V1.components[0]?.spec ?? apiSpec(1), 'component');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1]);
  });

  it('falls back to a rolling update on a conflict when onConflict is "rolling"', async () => {
    const { lat, orch } = await deployedV1();
    await using _lat = lat;
    const output = await drive(lat.clock, (await orch.deploy(V2, { strategy: blueGreen('rolling') })).done);
    expect(output.outcome).toBe('completed');
    const v2 = specHash(V2.components[0]?.spec ?? apiSpec(2), 'component');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2]);
  });
});

describe('rollout: blue-green', () => {
  const rev = (version: string) =>
    revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
  const V1 = rev('1');
  const V2 = rev('2');
  const hashOf = (r: typeof V1) => specHash(r.components[0]?.spec ?? apiSpec(1), 'component');

  async function deployedV1(n: number, opts: { flakyV2?: boolean } = {}) {
    const lat = await testLattice(n);
    let calls = 0;
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
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
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
    return { lat, orch };
  }

  /** Drives the clock until done, invoking every host `perTick` times per tick; counts refused calls. */
  async function driveWithLoad(lat: TestLattice, done: Promise<RolloutOutput>, perTick = 5) {
    let finished = false;
    let refused = 0;
    let answered = 0;
    void done.then(() => {
      finished = true;
    });
    for (let i = 0; i < 4000 && !finished; i++) {
      await settle(3);
      const calls: Array<Promise<unknown>> = [];
      for (const host of lat.hosts.values())
        for (let k = 0; k < perTick; k++)
          calls.push(
            host.invoke('api', 'handle', new Uint8Array([k])).then(
              () => answered++,
              (e: { code?: string }) => {
                if (e.code !== 'invoke.failed') refused++;
              },
            ),
          );
      await Promise.all(calls);
      if (!finished) lat.clock.increment(1000);
    }
    if (!finished) throw new Error('rollout did not finish');
    return { output: await done, refused, answered };
  }

  it('stands v2 by on every host, promotes it automatically and loses no invocation', async () => {
    const { lat, orch } = await deployedV1(3);
    await using _lat = lat;
    const handle = await orch.deploy(V2, { strategy: { type: 'blueGreen', keepOldForMs: 60_000 } });
    const seen = new Set<string>();
    handle.subscribe((v) => seen.add(v.state));
    const { output, refused, answered } = await driveWithLoad(lat, handle.done);
    expect(output.outcome).toBe('completed');
    expect(refused).toBe(0);
    expect(answered).toBeGreaterThan(0);
    // Standby batch(es) and one promote batch.
    expect(handle.snapshot().batches).toBe(2);
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2]);
    for (const host of lat.hosts.values()) {
      const t = host.gate('api')?.totals();
      expect(t?.accepted).toBe(t?.answered);
    }
  });

  it('waits in standby for a person when autoPromote is off, then promotes on rollout.promote', async () => {
    const { lat, orch } = await deployedV1(2);
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: { type: 'blueGreen', autoPromote: false, keepOldForMs: 60_000 },
    });
    await until(lat.clock, () => handle.snapshot().state === 'progressing.stepPause');
    const v1 = hashOf(V1);
    for (const host of lat.hosts.values()) {
      const api = host.inventory().components.find((c) => c.id === 'api');
      expect(api).toMatchObject({
        status: 'standby',
        servingHash: v1,
        pending: { hash: hashOf(V2), phase: 'standby' },
      });
    }
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1]);
    await orch.promote('shop');
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2]);
  });

  it('rolls back after promotion inside keepOldForMs with no re-download or re-validation', async () => {
    const { lat, orch } = await deployedV1(2, { flakyV2: true });
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'blueGreen',
        keepOldForMs: 600_000,
        postPromotionAnalysis: {
          provider: 'errorRate',
          intervalMs: 10_000,
          count: 3,
          failureCondition: { metric: 'errorRate', max: 0.05 },
        },
      },
    });
    let validations = -1;
    let fetches = -1;
    handle.subscribe((v) => {
      if (v.state === 'progressing.analyzing' && validations < 0) {
        validations = lat.runtime.validations;
        fetches = lat.runtime.fetchesOf('mem://api:1');
      }
    });
    const { output } = await driveWithLoad(lat, handle.done);
    expect(output.outcome).toBe('rolledBack');
    expect(output.code).toBe('analysis.failed');
    expect(validations).toBeGreaterThanOrEqual(0);
    expect(lat.runtime.validations).toBe(validations);
    expect(lat.runtime.fetchesOf('mem://api:1')).toBe(fetches);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1]);
  });
  it('keeps the old instance while post-promotion analysis runs past keepOldForMs, so a failed analysis switches back without a download', async () => {
    const { lat, orch } = await deployedV1(2, { flakyV2: true });
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'blueGreen',
        // Far shorter than the analysis: three measurements 10 s apart, the last one deciding.
        keepOldForMs: 1000,
        postPromotionAnalysis: {
          provider: 'errorRate',
          intervalMs: 10_000,
          count: 3,
          failureLimit: 2,
          failureCondition: { metric: 'errorRate', max: 0.05 },
        },
      },
    });
    let fetches = -1;
    let validations = -1;
    handle.subscribe((v) => {
      if (v.state === 'progressing.analyzing' && fetches < 0) {
        fetches = lat.runtime.fetchesOf('mem://api:1');
        validations = lat.runtime.validations;
      }
    });
    const { output } = await driveWithLoad(lat, handle.done);
    expect(output).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
    expect(fetches).toBeGreaterThanOrEqual(0);
    expect(lat.runtime.fetchesOf('mem://api:1')).toBe(fetches);
    expect(lat.runtime.validations).toBe(validations);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1]);
  });

  it('refuses previewHosts above the number of hosts when it plans, naming the field and touching no host', async () => {
    const { lat, orch } = await deployedV1(2);
    await using _lat = lat;
    const before = lat.serving('shop');
    const output = await drive(
      lat.clock,
      (await orch.deploy(V2, { strategy: { type: 'blueGreen', previewHosts: 3 } })).done,
    );
    expect(output).toMatchObject({ code: 'strategy.invalid' });
    expect(output.reason).toContain('previewHosts: 3 is more than the 2 hosts');
    expect(lat.serving('shop')).toEqual(before);
  });

  it('switches straight back when a person aborts inside keepOldForMs: no download, no validation, none lost', async () => {
    const { lat, orch } = await deployedV1(3);
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: {
        type: 'blueGreen',
        keepOldForMs: 600_000,
        // Keeps the rollout in flight after the switch, so there is something to abort.
        postPromotionAnalysis: { provider: 'errorRate', intervalMs: 60_000, count: 5, failureCondition: { max: 0.5 } },
      },
    });
    let validations = -1;
    let fetches = -1;
    let aborted = false;
    handle.subscribe((v) => {
      if (v.state !== 'progressing.analyzing' || aborted) return;
      aborted = true;
      validations = lat.runtime.validations;
      fetches = lat.runtime.fetchesOf('mem://api:1');
      void orch.abort('shop', 'operator saw errors on the dashboard');
    });
    const { output, refused, answered } = await driveWithLoad(lat, handle.done);
    expect(output).toMatchObject({ outcome: 'aborted', reason: 'operator saw errors on the dashboard' });
    expect(aborted).toBe(true);
    expect(refused).toBe(0);
    expect(answered).toBeGreaterThan(0);
    expect(lat.runtime.validations).toBe(validations);
    expect(lat.runtime.fetchesOf('mem://api:1')).toBe(fetches);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1, v1]);
  });

  /** Drives the clock until done, sending `perTick` preview calls to every host that holds a standby. */
  async function driveWithPreview(lat: TestLattice, done: Promise<RolloutOutput>, perTick = 10) {
    let finished = false;
    let maxStandby = 0;
    let previews = 0;
    void done.then(() => {
      finished = true;
    });
    for (let i = 0; i < 4000 && !finished; i++) {
      await settle(3);
      const standby = [...lat.hosts.values()].filter(
        (h) => h.inventory().components.find((c) => c.id === 'api')?.status === 'standby',
      );
      maxStandby = Math.max(maxStandby, standby.length);
      for (const host of standby)
        for (let k = 0; k < perTick; k++) {
          previews++;
          await host.invoke('api', 'handle', new Uint8Array([k]), { preview: true }).catch(() => undefined);
        }
      if (!finished) lat.clock.increment(1000);
    }
    if (!finished) throw new Error('rollout did not finish');
    return { output: await done, maxStandby, previews };
  }

  const previewed = (prePromotionAnalysis: object) =>
    ({
      type: 'blueGreen',
      previewHosts: 1,
      keepOldForMs: 60_000,
      prePromotionAnalysis: { provider: 'errorRate', intervalMs: 10_000, count: 2, ...prePromotionAnalysis },
    }) as StrategyInput;

  it('analyses preview traffic on the preview host, then stands the rest by and switches all at once', async () => {
    const { lat, orch } = await deployedV1(3);
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: previewed({ failureCondition: { metric: 'errorRate', max: 0.05 } }),
    });
    const standbyWhileAnalysing = new Set<number>();
    handle.subscribe((v) => {
      if (v.state !== 'progressing.analyzing') return;
      const n = [...lat.hosts.values()].filter(
        (h) => h.inventory().components.find((c) => c.id === 'api')?.status === 'standby',
      ).length;
      standbyWhileAnalysing.add(n);
    });
    const { output, maxStandby, previews } = await driveWithPreview(lat, handle.done);
    expect(output.outcome).toBe('completed');
    expect(previews).toBeGreaterThan(0);
    // Only the preview host stood by while its preview was analysed; then every host did, before one switch.
    expect([...standbyWhileAnalysing]).toEqual([1]);
    expect(maxStandby).toBe(3);
    // Preview batch, standby batch for the other two, promote batch.
    expect(handle.snapshot().batches).toBe(3);
    const run = (await lat.store.get('cutover', `plan.${handle.id}.a.b0.a0`))?.value as { measurements: object[] };
    expect(run.measurements).toEqual([{ value: 0 }, { value: 0 }]);
    const v2 = hashOf(V2);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v2, v2, v2]);
  });

  it('rolls back before promotion when the preview fails 20% of its calls, with the figures in the reason', async () => {
    const { lat, orch } = await deployedV1(3, { flakyV2: true });
    await using _lat = lat;
    const handle = await orch.deploy(V2, {
      strategy: previewed({ failureCondition: { metric: 'errorRate', max: 0.05 } }),
    });
    const { output, maxStandby } = await driveWithPreview(lat, handle.done);
    expect(output.outcome).toBe('rolledBack');
    expect(output.code).toBe('analysis.failed');
    expect(output.reason).toMatch(/^analysis "errorRate" failed: errorRate 0\.2 > max 0\.05 in 1 of 1 measurements$/);
    // Nothing was promoted and only the preview host ever held a standby.
    expect(maxStandby).toBe(1);
    const v1 = hashOf(V1);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([v1, v1, v1]);
    for (const host of lat.hosts.values()) {
      expect(host.inventory().components.find((c) => c.id === 'api')?.status).toBe('running');
    }
  });
});
