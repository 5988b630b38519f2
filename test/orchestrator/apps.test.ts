// The lattice-wide API operations over a transport (memory adapter): `list` the apps, read a stored
// `revision`, and `delete` an app (undeployed from every host, then forgotten; refused while it rolls out).
import { type ApiClient, CutoverError, type Orchestrator, createApiClient, serveOrchestratorApi } from 'cutover';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drive, revision, testLattice, type TestLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }] });
const held = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} } as const;

async function refusal(promise: Promise<unknown>): Promise<CutoverError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CutoverError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('orchestrator api: list, revision and delete', () => {
  let lat: TestLattice;
  let orch: Orchestrator;
  let api: ApiClient;
  let served: AsyncDisposable;

  beforeEach(async () => {
    lat = await testLattice(2);
    for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
    orch = await lat.orchestrator();
    served = serveOrchestratorApi(orch, lat.bus.connect('api'), { lattice: lat.lattice });
    api = createApiClient(lat.bus.connect('cli'), { lattice: lat.lattice, timeoutMs: 5_000 });
  });
  afterEach(async () => {
    await served[Symbol.asyncDispose]();
    await lat[Symbol.asyncDispose]();
  });

  const shopWorkloads = () =>
    [...lat.hosts.values()].flatMap((h) => h.inventory().components.filter((c) => c.app === 'shop'));

  it('lists every deployed app with its phase and versions, and reads its stable revision', async () => {
    expect(await api.list()).toEqual([]);
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    expect(await api.list()).toEqual([
      expect.objectContaining({ app: 'shop', phase: 'deployed', stableVersion: '1', targetVersion: '1' }),
    ]);
    expect(await api.revision('shop')).toEqual(rev('1'));
    expect(await api.revision('shop', '1')).toEqual(rev('1'));
    expect((await refusal(api.revision('shop', '9'))).code).toBe('rollout.notFound');
    expect((await refusal(api.revision('nosuchapp'))).code).toBe('rollout.notFound');
  });

  it('refuses to delete an app while a rollout of it runs, and changes nothing', async () => {
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const rollout = await orch.deploy(rev('2'), { strategy: held });
    await until(lat.clock, () => rollout.snapshot().pause !== null);
    const refused = await refusal(api.delete('shop'));
    expect(refused.code).toBe('rollout.invalidCommand');
    expect(refused.message).toContain('abort it');
    expect(shopWorkloads()).toHaveLength(2);
    expect((await api.list()).map((a) => a.phase)).toEqual(['upgrading']);
    await orch.abort('shop');
    await drive(lat.clock, rollout.done);
  });

  it('deletes an app: every workload leaves every host, its records go, and it is unknown afterwards', async () => {
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    expect(shopWorkloads()).toHaveLength(2);
    const result = await drive(lat.clock, api.delete('shop'), 50);
    expect(result).toMatchObject({ app: 'shop' });
    expect(result.sent).toBeGreaterThanOrEqual(2);
    expect(shopWorkloads()).toEqual([]);
    expect(await api.list()).toEqual([]);
    expect((await api.status('shop')).phase).toBe('unknown');
    expect(await api.history('shop')).toEqual([]);
    expect((await refusal(api.revision('shop'))).code).toBe('rollout.notFound');
    // The scalers leave it alone: after passes of them the hosts stay empty.
    lat.clock.increment(10_000);
    await orch.reconcile('shop');
    expect(shopWorkloads()).toEqual([]);
    expect((await refusal(api.delete('shop'))).code).toBe('rollout.notFound');
    // It can be deployed again from scratch.
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    expect(shopWorkloads()).toHaveLength(2);
  });

  it('refuses a malformed app name on delete and revision with a coded error', async () => {
    expect((await refusal(api.delete('bad name!'))).code).toBe('message.invalid');
    expect((await refusal(api.revision('x'.repeat(5_000)))).code).toMatch(/^message\.(invalid|tooLarge)$/);
  });
});
