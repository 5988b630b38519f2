// The orchestrator API over a transport (memory adapter): every operation round-trips through
// serveOrchestratorApi and createApiClient; bad input is a coded refusal that changes nothing.
import {
  type ApiClient,
  CutoverError,
  ErrorReply,
  type Orchestrator,
  type RolloutHandle,
  type RolloutOutput,
  type RolloutView,
  createApiClient,
  decode,
  encode,
  serveOrchestratorApi,
  subjects,
} from 'cutover';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice, type TestLattice } from '../fixtures/orchestrator';

const rev = (version: string, image: string) => revision({ app: 'shop', version, components: [{ id: 'api', image }] });
const V1 = rev('1', 'mem://api:1');
const V2 = rev('2', 'mem://api:2');
const oneByOne = { type: 'rolling', maxParallel: 1, maxUnavailable: 1 } as const;

async function refusal(promise: Promise<unknown>): Promise<CutoverError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CutoverError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('orchestrator api', () => {
  let lat: TestLattice;
  let orch: Orchestrator;
  let api: ApiClient;
  let served: AsyncDisposable;

  beforeEach(async () => {
    lat = await testLattice(2);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    lat.runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
    orch = await lat.orchestrator();
    served = serveOrchestratorApi(orch, lat.bus.connect('api'), { lattice: lat.lattice });
    api = createApiClient(lat.bus.connect('cli'), { lattice: lat.lattice, timeoutMs: 2_000 });
  });
  afterEach(async () => {
    await served[Symbol.asyncDispose]();
    await lat[Symbol.asyncDispose]();
  });

  /**
   * Watches a rollout through the API while the simulated clock runs, and returns every view seen. The bus
   * gathers host inventories in real time, so each clock step also yields a real millisecond.
   */
  const finish = async (id: string) => {
    const views: RolloutView[] = [];
    const watch = api.watch(id, (v) => views.push(v), { pollMs: 5 });
    let output: RolloutOutput | undefined;
    void watch.done.then((o) => {
      output = o;
    });
    const deadline = Date.now() + 20_000;
    while (output === undefined && Date.now() < deadline) {
      await settle();
      await new Promise((r) => setTimeout(r, 1));
      if (output === undefined) lat.clock.increment(50);
    }
    watch.stop();
    if (output === undefined) throw new Error(`rollout "${id}" did not finish`);
    return { output, views };
  };

  it('deploys and reports live progress through events', async () => {
    const started = await api.deploy(V1, { strategy: oneByOne });
    expect(started).toMatchObject({ app: 'shop', kind: 'deploy', targetVersion: '1', done: false });
    const { output, views } = await finish(started.id);
    expect(output).toMatchObject({ rolloutId: started.id, outcome: 'completed', targetVersion: '1' });
    expect(views.at(-1)).toMatchObject({ done: true, outcome: 'completed' });
    expect(new Set(views.map((v) => v.state)).size).toBeGreaterThan(2);
    const status = await api.status('shop');
    expect(status).toMatchObject({ app: 'shop', phase: 'deployed', stableVersion: '1', rolloutId: started.id });
    expect(status.hosts.map((h) => h.hostId).sort()).toEqual(['h1', 'h2']);
    expect(status.hosts.flatMap((h) => h.workloads.map((w) => w.on))).toEqual(['stable', 'stable']);
    expect(await api.history('shop')).toEqual([
      expect.objectContaining({ rolloutId: started.id, version: '1', outcome: 'completed' }),
    ]);
    const byId = await api.rollout(started.id);
    expect(byId.output).toEqual(output);
  });

  /** Polls the rollout through the API (letting the lattice work) until `pred` holds for its view. */
  const reach = async (id: string, pred: (v: RolloutView) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rollout } = await api.rollout(id);
      if (pred(rollout)) return rollout;
      if (Date.now() > deadline)
        throw new Error(`rollout "${id}" never reached the state asked for (now ${rollout.state})`);
      await settle();
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const manualPauses = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} } as const;

  it('pauses, resumes and aborts a rollout in flight', async () => {
    await lat.addHost('h3');
    await finish((await api.deploy(V1)).id);
    const v2 = await api.deploy(V2, { strategy: manualPauses });
    const first = await reach(v2.id, (v) => v.state === 'progressing.stepPause');
    expect((await api.pause('shop')).paused).toBe(true);
    expect((await api.status('shop')).paused).toBe(true);
    const resumed = await api.resume('shop');
    expect(resumed.paused).toBe(false);
    await reach(v2.id, (v) => v.state === 'progressing.stepPause' && v.batch > first.batch);
    expect((await api.abort('shop', 'operator said so')).id).toBe(v2.id);
    const { output } = await finish(v2.id);
    expect(output).toMatchObject({ outcome: 'aborted', reason: expect.stringContaining('operator said so') });
    const on = (await api.status('shop')).hosts.flatMap((h) => h.workloads.map((w) => w.on));
    expect(on).toEqual(['stable', 'stable', 'stable']);
  });

  it('retries the last rollout, promotes it past a pause, and undoes to a revision from history', async () => {
    await finish((await api.deploy(V1)).id);
    const v2 = await api.deploy(V2, { strategy: manualPauses });
    await reach(v2.id, (v) => v.state === 'progressing.stepPause');
    await api.abort('shop');
    await finish(v2.id);
    const retried = await api.retry('shop', { strategy: manualPauses });
    expect(retried).toMatchObject({ kind: 'retry', parent: v2.id, targetVersion: '2' });
    await reach(retried.id, (v) => v.state === 'progressing.stepPause');
    expect((await api.promote('shop', { full: true })).id).toBe(retried.id);
    expect((await finish(retried.id)).output.outcome).toBe('completed');
    const undone = await api.undo('shop', '1');
    expect(undone).toMatchObject({ kind: 'undo', targetVersion: '1' });
    expect((await finish(undone.id)).output.outcome).toBe('completed');
    const history = await api.history('shop');
    expect(history.map((h) => [h.kind, h.version, h.outcome])).toEqual([
      ['undo', '1', 'completed'],
      ['retry', '2', 'completed'],
      ['deploy', '2', 'aborted'],
      ['deploy', '1', 'completed'],
    ]);
  });

  it('refuses a malformed request with message.invalid and the issues', async () => {
    const raw = lat.bus.connect('raw');
    const ask = async (op: string, body: unknown) =>
      decode(
        await raw.request(
          subjects.api(lat.lattice, op),
          typeof body === 'string' ? new TextEncoder().encode(body) : encode(body),
          { timeoutMs: 2_000 },
        ),
        ErrorReply,
      );
    const notJson = await ask('deploy', '{nope');
    expect(notJson).toMatchObject({ code: 'message.invalid' });
    const badField = await ask('deploy', { type: 'api.deploy', manifest: 42 });
    expect(badField.code).toBe('message.invalid');
    expect(badField.issues?.map((i) => i.path)).toContain('manifest');
    const wrongSubject = await ask('pause', { type: 'api.resume', app: 'shop' });
    expect(wrongSubject).toMatchObject({
      code: 'message.invalid',
      issues: [{ path: 'type', message: 'expected "api.pause"' }],
    });
    const unknownType = await ask('status', { type: 'api.launch', app: 'shop' });
    expect(unknownType.code).toBe('message.invalid');
    const emptyApp = await refusal(api.status(''));
    expect(emptyApp.code).toBe('message.invalid');
    expect(emptyApp.issues?.[0]?.path).toBe('app');
    expect(await api.history('shop')).toEqual([]);
  });

  it('refuses a bad manifest with its issues and starts nothing', async () => {
    const error = await refusal(
      api.deploy('apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {}\nspec: {}\n'),
    );
    expect(error.code).toBe('manifest.invalid');
    expect(error.issues?.length).toBeGreaterThan(0);
    expect((await api.status('shop')).phase).toBe('unknown');
  });

  it('answers rollout.notFound for an unknown rollout or app', async () => {
    expect((await refusal(api.rollout('r-missing'))).code).toBe('rollout.notFound');
    expect((await refusal(api.retry('ghost'))).code).toBe('rollout.notFound');
    expect((await refusal(api.undo('ghost'))).code).toBe('rollout.notFound');
    expect((await refusal(api.pause('ghost'))).code).toBe('rollout.notFound');
    expect((await refusal(api.promote('ghost'))).code).toBe('rollout.notFound');
  });
});

describe('orchestrator api with two orchestrators in one queue group', () => {
  it('forwards every request about an app to the orchestrator that drives it', async () => {
    await using lat = await testLattice(3);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    lat.runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
    const a = await lat.orchestrator({ holder: 'orch-a' });
    const b = await lat.orchestrator({ holder: 'orch-b' });
    await using _a = serveOrchestratorApi(a, lat.bus.connect('api-a'), { lattice: lat.lattice });
    await using _b = serveOrchestratorApi(b, lat.bus.connect('api-b'), { lattice: lat.lattice });
    const api = createApiClient(lat.bus.connect('cli'), { lattice: lat.lattice, timeoutMs: 2_000 });
    const pauses = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} } as const;

    const first = await api.deploy(V1);
    const firstDriver = a.rollout(first.id) ? a : b;
    expect((await drive(lat.clock, (firstDriver.rollout(first.id) as RolloutHandle).done)).outcome).toBe('completed');
    const started = await api.deploy(V2, { strategy: pauses });
    const driver = a.rollout(started.id) ? a : b;
    const other = driver === a ? b : a;
    expect(other.rollout(started.id)).toBeUndefined();
    expect(await other.owner({ app: 'shop' })).toBe(driver.holder);
    expect(await other.owner({ rolloutId: started.id })).toBe(driver.holder);

    // Requests land on either orchestrator (queue group); every one reaches the driver and succeeds.
    for (let i = 0; i < 12; i++) {
      expect((await api.rollout(started.id)).rollout.id).toBe(started.id);
      expect((await api.status('shop')).rolloutId).toBe(started.id);
    }
    for (let i = 0; i < 6; i++) {
      const paused = await api.pause('shop');
      expect(paused).toMatchObject({ id: started.id, paused: true });
    }
    expect(await api.resume('shop')).toMatchObject({ id: started.id, paused: false });
    // Deploys landing on either one supersede the driver's rollout there, never a second rollout beside it.
    for (let i = 0; i < 4; i++) {
      const next = await api.deploy(i % 2 === 0 ? V1 : V2, { strategy: pauses });
      expect(driver.rollout(next.id)).toBeDefined();
      expect(other.rollout(next.id)).toBeUndefined();
    }
    const last = (await api.status('shop')).rolloutId ?? '';
    expect((await api.abort('shop', 'done testing')).id).toBe(last);
    expect((await drive(lat.clock, (driver.rollout(last) as RolloutHandle).done)).outcome).toBe('aborted');
  });

  it('reports a rollout that finished before a restart from the store, so a watch still ends', async () => {
    await using lat = await testLattice(2);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    const a = await lat.orchestrator({ holder: 'orch-a' });
    const h = await a.deploy(V1);
    const output = await drive(lat.clock, h.done);
    await a.close();
    const b = await lat.orchestrator({ holder: 'orch-b' });
    expect(b.rollout(h.id)).toBeUndefined();
    await using _b = serveOrchestratorApi(b, lat.bus.connect('api-b'), { lattice: lat.lattice });
    const api = createApiClient(lat.bus.connect('cli'), { lattice: lat.lattice, timeoutMs: 10_000 });
    const reply = await api.rollout(h.id);
    expect(reply.rollout).toMatchObject({ id: h.id, state: 'completed', done: true, outcome: 'completed' });
    expect(reply.output).toEqual(output);
    const watch = api.watch(h.id, () => undefined, { pollMs: 5 });
    expect(await watch.done).toEqual(output);
    watch.stop();
  });

  it('answers where it lands, with a coded refusal, when the owner does not answer its own subject', async () => {
    await using lat = await testLattice(1);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    // orch-a holds the app's lease and drives it, but serves no API (as if its API connection were down).
    const a = await lat.orchestrator({ holder: 'orch-a' });
    const b = await lat.orchestrator({ holder: 'orch-b' });
    await using _b = serveOrchestratorApi(b, lat.bus.connect('api-b'), { lattice: lat.lattice });
    await a.deploy(V1);
    expect(await b.owner({ app: 'shop' })).toBe('orch-a');
    // Real-time timeout: generous, since the whole suite shares two cores.
    const api = createApiClient(lat.bus.connect('cli'), { lattice: lat.lattice, timeoutMs: 10_000 });
    const refused = await refusal(api.pause('shop'));
    expect(refused.code).toBe('rollout.invalidCommand');
  });
});
