// A change of instance count or spread alone (same specs) is a placement change (DESIGN §3 Defaults): not
// refused under the same version, reconciled with the health gate, without canary steps or analysis, whatever
// the strategy. On real memory hosts with a simulated clock.
import { type StrategyInput, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, testLattice } from '../fixtures/orchestrator';

const rev = (version: string, instances: number) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: 'mem://api:1', scale: { instances } }] });
const HASH = specHash(rev('1', 1).components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

// Steps that would wait for a person and analyse if they ran.
const canary: StrategyInput = {
  type: 'canary',
  minReadyMs: 1000,
  steps: [
    { setHosts: 1 },
    { pause: {} },
    { analysis: { provider: 'errorRate', intervalMs: 10_000, count: 3, failureCondition: { max: 0.05 } } },
    { setHosts: '100%' },
  ],
};

async function deployedOnTwo() {
  const lat = await testLattice(4);
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  const orch = await lat.orchestrator();
  expect((await drive(lat.clock, (await orch.deploy(rev('1', 2))).done)).outcome).toBe('completed');
  return { lat, orch };
}
const placed = (lat: Awaited<ReturnType<typeof deployedOnTwo>>['lat']) =>
  Object.values(lat.serving('shop')).filter((w) => w.api === HASH).length;

describe('placement changes', () => {
  it('scales under the same version instead of refusing it, without canary steps or analysis', async () => {
    const { lat, orch } = await deployedOnTwo();
    await using _lat = lat;
    expect(placed(lat)).toBe(2);
    const h = await orch.deploy(rev('1', 4), { strategy: canary });
    const states = new Set<string>();
    h.subscribe((v) => states.add(v.state));
    expect(await drive(lat.clock, h.done)).toMatchObject({ outcome: 'completed' });
    expect(placed(lat)).toBe(4);
    expect([...states].filter((s) => s === 'progressing.stepPause' || s === 'progressing.analyzing')).toEqual([]);
  });

  it('runs a new version that only changes the instance count without canary steps or analysis', async () => {
    const { lat, orch } = await deployedOnTwo();
    await using _lat = lat;
    const h = await orch.deploy(rev('2', 3), { strategy: canary });
    const states = new Set<string>();
    h.subscribe((v) => states.add(v.state));
    expect(await drive(lat.clock, h.done)).toMatchObject({ outcome: 'completed' });
    expect(placed(lat)).toBe(3);
    expect([...states].filter((s) => s === 'progressing.stepPause' || s === 'progressing.analyzing')).toEqual([]);
    expect((await orch.status('shop')).stableVersion).toBe('2');
  });

  it('still refuses other content under a deployed version', async () => {
    const { lat, orch } = await deployedOnTwo();
    await using _lat = lat;
    const other = revision({ app: 'shop', version: '1', components: [{ id: 'api', image: 'mem://api:9' }] });
    await expect(orch.deploy(other)).rejects.toMatchObject({ code: 'manifest.invalid' });
  });
});
