// What a host's inventory says about its providers and blue-green instances: the links a provider instance
// holds (as that provider sees them), the standby waiting for promotion, and the version retained after a
// promotion until `keepOldForMs` has passed. Every inventory read here is parsed with the wire schema.
import { type HostControl, HostInventory, PROTOCOL_VERSION, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { apiSpec, createHostRig, fenced, type HostRig, kvSpec, providerApply } from '../fixtures/host';

const standby = (version: number): HostControl => ({
  type: 'component.apply',
  version: PROTOCOL_VERSION,
  app: 'shop',
  leaseToken: 1,
  spec: apiSpec(version),
  mode: 'standby',
});
const promote = (keepOldForMs: number): HostControl => ({
  type: 'component.promote',
  version: PROTOCOL_VERSION,
  app: 'shop',
  leaseToken: 1,
  componentId: 'api',
  keepOldForMs,
});

/** A host serving api v1 linked to providers `kv` and `cache`. */
async function serving(): Promise<HostRig> {
  const rig = await createHostRig();
  rig.publishApi(3);
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));
  await rig.host.apply(fenced(apiSpec(1)));
  await rig.host.settled();
  return rig;
}

/** The host's inventory entry of workload `id`, after parsing the whole inventory with the wire schema. */
function entry(rig: HostRig, id: string) {
  const inventory = HostInventory.parse(JSON.parse(JSON.stringify(rig.host.inventory())));
  return inventory.components.find((c) => c.id === id);
}

describe('host inventory', () => {
  it('reports the links each provider instance holds, as incoming links from the components', async () => {
    await using rig = await serving();
    const kv = entry(rig, 'kv');
    expect(kv?.kind).toBe('provider');
    expect(kv?.links).toEqual([
      expect.objectContaining({ source: 'api', target: 'kv', direction: 'incoming', sourceConfig: { bucket: 'v1' } }),
    ]);
    // The component reports the same link from its side.
    expect(entry(rig, 'api')?.links).toEqual([
      expect.objectContaining({ source: 'api', target: 'kv', direction: 'outgoing' }),
    ]);
    // An upgrade that moves the link shows the new config on the provider's side too.
    await rig.host.apply(fenced(apiSpec(2)));
    await rig.host.settled();
    expect(entry(rig, 'kv')?.links).toEqual([expect.objectContaining({ sourceConfig: { bucket: 'v2' } })]);
    expect(entry(rig, 'cache')?.links).toEqual([
      expect.objectContaining({ source: 'api', target: 'cache', name: 'cache-v2', direction: 'incoming' }),
    ]);
  });

  it('reports a standby beside the serving version, then the version retained after promotion until it is disposed of', async () => {
    await using rig = await serving();
    await rig.host.apply(standby(2));
    await rig.host.settled();
    expect(entry(rig, 'api')).toMatchObject({
      status: 'standby',
      servingHash: specHash(apiSpec(1)),
      standby: { hash: specHash(apiSpec(2)), imageRef: apiSpec(2).imageRef },
    });
    expect(entry(rig, 'api')?.retained).toBeUndefined();

    const promotedAt = rig.clock.now();
    await rig.host.apply(promote(60_000));
    await rig.host.settled();
    expect(entry(rig, 'api')).toMatchObject({
      status: 'running',
      servingHash: specHash(apiSpec(2)),
      retained: { hash: specHash(apiSpec(1)), imageRef: apiSpec(1).imageRef, until: promotedAt + 60_000 },
    });
    expect(entry(rig, 'api')?.standby).toBeUndefined();

    rig.clock.increment(60_000);
    await rig.host.settled();
    expect(entry(rig, 'api')?.retained).toBeUndefined();
  });
});
