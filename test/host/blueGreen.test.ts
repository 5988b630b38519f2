// Blue-green on one host: an apply with `mode: 'standby'` validates, links and starts the new instance beside
// the serving one (preview calls only, via `host.invoke(id, op, payload, { preview: true })`);
// `component.promote` cuts over through the gate and retains the old instance for `keepOldForMs`;
// `component.revert` drops the standby, or switches back to the retained instance with no download or
// validation. After the window the old instance is gone and a revert is refused with `rollout.invalidCommand`
// (going back is then a normal apply).
import { type HostControl, linkKey, PROTOCOL_VERSION, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { addressesConflict, normalizeAddress } from '../../machines/rollout/guardrails';
import { planLinks } from '../../src/host/planLinks';
import { directedLink } from '../fixtures/specs';
import { apiSpec, createHostRig, fenced, type HostRig, kvSpec, providerApply, text } from '../fixtures/host';

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
const revert: HostControl = {
  type: 'component.revert',
  version: PROTOCOL_VERSION,
  app: 'shop',
  leaseToken: 1,
  componentId: 'api',
};

async function rigWithV1(): Promise<HostRig> {
  const rig = await createHostRig();
  rig.publishApi(2);
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));
  await rig.host.apply(fenced(apiSpec(1)));
  return rig;
}

const api = (rig: HostRig) => rig.host.inventory().components.find((c) => c.id === 'api' && c.kind === 'component');
const held = (rig: HostRig) =>
  [...(rig.host.provider('kv')?.links() ?? []), ...(rig.host.provider('cache')?.links() ?? [])].map(linkKey).sort();
const preview = async (rig: HostRig) =>
  text(await rig.host.invoke('api', 'echo', new TextEncoder().encode('p'), { preview: true }));

/** Fires `n` echo calls through the gate; resolves with their answers (or refusal codes). */
function load(rig: HostRig, n: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => rig.echo(`${i}`).catch((e: { code?: string }) => `refused:${e.code}`)),
  );
}

describe('blue-green on a host', () => {
  it('puts a standby beside the serving version, serving only preview calls', async () => {
    await using rig = await rigWithV1();
    const outcome = await rig.host.apply(standby(2));
    expect(outcome.type).toBe('component.applied');
    const inv = api(rig);
    expect(inv?.status).toBe('standby');
    expect(inv?.servingHash).toBe(specHash(apiSpec(1)));
    expect(inv?.pending).toEqual({ hash: specHash(apiSpec(2)), phase: 'standby' });
    expect(await rig.echo('a')).toBe('v1:a');
    expect(await preview(rig)).toBe('v2:p');
    // The added cache link is in place; the changed kv link still has the old config until promote.
    expect(held(rig)).toContain(linkKey(apiSpec(2).links[1] as never));
    expect(held(rig)).toContain(linkKey(apiSpec(1).links[0] as never));
  });

  it('promotes under load without losing an invocation', async () => {
    await using rig = await rigWithV1();
    await rig.host.apply(standby(2));
    const before = load(rig, 200);
    const promoted = rig.host.apply(promote(60_000));
    const during = load(rig, 200);
    const outcome = await promoted;
    const after = load(rig, 50);
    const answers = [...(await before), ...(await during), ...(await after)];
    expect(outcome).toMatchObject({ type: 'component.applied', hash: specHash(apiSpec(2)) });
    expect(answers.filter((a) => a.startsWith('refused'))).toEqual([]);
    expect(answers.at(-1)).toMatch(/^v2:/);
    const t = rig.host.gate('api')?.totals();
    expect(t?.accepted).toBe(450);
    expect(t?.answered).toBe(450);
    expect(t?.errors).toBe(0);
    expect(api(rig)?.status).toBe('running');
    expect(held(rig)).toEqual(apiSpec(2).links.map(linkKey).sort());
  });

  it('reverts inside keepOldForMs with no re-download or re-validation, losing nothing', async () => {
    await using rig = await rigWithV1();
    await rig.host.apply(standby(2));
    await rig.host.apply(promote(60_000));
    expect(await rig.echo('b')).toBe('v2:b');
    const fetches = rig.runtime.fetchesOf(apiSpec(1).imageRef);
    const validations = rig.runtime.validations;
    const instantiations = rig.runtime.instantiations;
    rig.clock.increment(30_000);
    const during = load(rig, 100);
    const outcome = await rig.host.apply(revert);
    const answers = [...(await during), ...(await load(rig, 10))];
    expect(outcome).toMatchObject({ type: 'component.applied', hash: specHash(apiSpec(1)) });
    expect(answers.filter((a) => a.startsWith('refused'))).toEqual([]);
    expect(answers.at(-1)).toMatch(/^v1:/);
    expect(rig.runtime.fetchesOf(apiSpec(1).imageRef)).toBe(fetches);
    expect(rig.runtime.validations).toBe(validations);
    expect(rig.runtime.instantiations).toBe(instantiations);
    expect(api(rig)?.servingHash).toBe(specHash(apiSpec(1)));
    expect(held(rig)).toEqual(apiSpec(1).links.map(linkKey).sort());
    const t = rig.host.gate('api')?.totals();
    expect(t?.accepted).toBe(t?.answered);
    expect(t?.errors).toBe(0);
  });

  it('treats an apply of the retained version inside keepOldForMs as the same instant revert', async () => {
    await using rig = await rigWithV1();
    await rig.host.apply(standby(2));
    await rig.host.apply(promote(60_000));
    const validations = rig.runtime.validations;
    const fetches = rig.runtime.fetchesOf(apiSpec(1).imageRef);
    const during = load(rig, 50);
    const outcome = await rig.host.apply(fenced(apiSpec(1)));
    expect(outcome).toMatchObject({ type: 'component.applied', hash: specHash(apiSpec(1)) });
    expect((await during).filter((a) => a.startsWith('refused'))).toEqual([]);
    expect(rig.runtime.validations).toBe(validations);
    expect(rig.runtime.fetchesOf(apiSpec(1).imageRef)).toBe(fetches);
    expect(await rig.echo('z')).toBe('v1:z');
  });

  it('disposes the old instance after keepOldForMs and then refuses a revert', async () => {
    await using rig = await rigWithV1();
    await rig.host.apply(standby(2));
    await rig.host.apply(promote(60_000));
    expect(rig.runtime.live).toBe(2);
    rig.clock.increment(60_000);
    await rig.host.settled();
    await new Promise((r) => setTimeout(r, 0));
    expect(rig.runtime.live).toBe(1);
    await expect(rig.host.apply(revert)).rejects.toMatchObject({ code: 'rollout.invalidCommand' });
    expect(await rig.echo('c')).toBe('v2:c');
    // Going back is now a normal apply, which downloads and validates v1 again.
    const validations = rig.runtime.validations;
    await rig.host.apply(fenced(apiSpec(1)));
    expect(rig.runtime.validations).toBe(validations + 1);
    expect(await rig.echo('d')).toBe('v1:d');
  });

  it('drops the standby and its links on revert, the old version serving throughout', async () => {
    await using rig = await rigWithV1();
    await rig.host.apply(standby(2));
    const during = load(rig, 50);
    const outcome = await rig.host.apply(revert);
    expect(outcome).toMatchObject({ type: 'component.failed', code: 'aborted', hash: specHash(apiSpec(2)) });
    expect((await during).every((a) => a.startsWith('v1:'))).toBe(true);
    expect(api(rig)?.status).toBe('running');
    expect(api(rig)?.pending).toBeUndefined();
    expect(held(rig)).toEqual(apiSpec(1).links.map(linkKey).sort());
    await new Promise((r) => setTimeout(r, 0));
    expect(rig.runtime.live).toBe(1);
    await expect(preview(rig)).rejects.toMatchObject({ code: 'invoke.notFound' });
  });

  it('refuses a promote without a standby', async () => {
    await using rig = await rigWithV1();
    await expect(rig.host.apply(promote(0))).rejects.toMatchObject({ code: 'rollout.invalidCommand' });
    expect(api(rig)?.status).toBe('running');
  });
});

describe('in-place upgrade whose new link wants an address the old version holds', () => {
  const http = (name: string, address: string) =>
    directedLink('outgoing', { target: 'kv', name, sourceConfig: { address } });
  const v1 = () => apiSpec(1, { links: [http('http-old', '0.0.0.0:8080')] });
  const v2 = () => apiSpec(2, { links: [http('http-new', ':8080')] });

  it('plans the contended put as a swap after the release instead of a put in linking', () => {
    const plan = planLinks(v1().links, v2().links);
    expect(plan.add).toEqual([]);
    expect(plan.swap).toEqual([
      { from: v1().links[0], to: undefined },
      { from: undefined, to: v2().links[0] },
    ]);
    // Addresses that do not collide stay ordinary puts.
    expect(planLinks(v1().links, [http('http-new', ':9090')]).add).toHaveLength(1);
  });

  it('upgrades under load with a provider that refuses a second bind of the address', async () => {
    let rig: HostRig | undefined;
    const taken = (address: string) =>
      (rig?.host.provider('kv')?.links() ?? []).some((l) => {
        const a = normalizeAddress(l.sourceConfig.address ?? '');
        const b = normalizeAddress(address);
        return a !== undefined && b !== undefined && addressesConflict(a, b);
      });
    rig = await createHostRig({
      provider: {
        refuse: (l, op) =>
          op === 'put' && l.sourceConfig.address !== undefined && taken(l.sourceConfig.address)
            ? `address ${l.sourceConfig.address} in use`
            : undefined,
      },
    });
    await using _rig = rig;
    rig.publishApi(2);
    await rig.host.apply(providerApply(kvSpec('kv')));
    await rig.host.apply(providerApply(kvSpec('cache')));
    await rig.host.apply(fenced(v1()));
    const during = load(rig, 100);
    const outcome = await rig.host.apply(fenced(v2()));
    const answers = await during;
    expect(outcome).toMatchObject({ type: 'component.applied', hash: specHash(v2()) });
    expect(answers.filter((a) => a.startsWith('refused'))).toEqual([]);
    expect(held(rig)).toEqual(v2().links.map(linkKey));
    const t = rig.host.gate('api')?.totals();
    expect(t?.accepted).toBe(t?.answered);
    expect(t?.errors).toBe(0);
  });
});
