// Over 400 lines on purpose: one host's blue-green lifecycle (standby, preview, promote, retain, revert) read
// top to bottom as one specification.
// Blue-green on one host: an apply with `mode: 'standby'` validates, links and starts the new instance beside
// the serving one (preview calls only, via `host.invoke(id, op, payload, { preview: true })`);
// `component.promote` cuts over through the gate and retains the old instance for `keepOldForMs`;
// `component.revert` drops the standby, or switches back to the retained instance with no download or
// validation. After the window the old instance is gone and a revert is refused with `rollout.invalidCommand`
// (going back is then a normal apply).
import {
  AnalysisSpec,
  type AnalysisContext,
  createHost,
  errorRateProvider,
  gateWindow,
  type HostControl,
  type HostInventory,
  invokeRemote,
  latencyP99Provider,
  linkKey,
  PROTOCOL_VERSION,
  specHash,
} from 'cutover';
import { createMemoryProvider, createProviderRegistry } from 'cutover/adapters/providers';
import { describe, expect, it } from 'vitest';
import { addressesConflict, normalizeAddress } from '../../machines/rollout/guardrails';
import { planLinks } from '../../src/host/planLinks';
import { directedLink } from '../fixtures/specs';
import {
  apiSpec,
  bytes,
  createHostRig,
  echoImage,
  fenced,
  type HostRig,
  kvSpec,
  Latch,
  providerApply,
  text,
} from '../fixtures/host';

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

  it('disposes the retained instance when a newer version is applied: never three live versions', async () => {
    await using rig = await rigWithV1();
    rig.publishApi(4);
    await rig.host.apply(fenced(apiSpec(2)));
    await rig.host.apply(standby(3));
    await rig.host.apply(promote(60_000));
    // v3 serves, v2 is retained for a switch back.
    expect(rig.runtime.live).toBe(2);
    const disposedBefore = rig.runtime.instantiations - rig.runtime.live;
    await rig.host.apply(standby(4));
    // v4 stands by beside v3; the retained v2 was disposed (one dispose), not kept as a third version.
    expect(rig.runtime.live).toBe(2);
    expect(rig.runtime.instantiations - rig.runtime.live).toBe(disposedBefore + 1);
    expect(await rig.echo('a')).toBe('v3:a');
    expect(await preview(rig)).toBe('v4:p');
    await rig.host.apply(promote(60_000));
    expect(rig.runtime.live).toBe(2);
    expect(await rig.echo('b')).toBe('v4:b');
    // The retained one is now v3: a revert switches to it without a download.
    const fetches = rig.runtime.fetchesOf(apiSpec(3).imageRef);
    await rig.host.apply(revert);
    expect(await rig.echo('c')).toBe('v3:c');
    expect(rig.runtime.fetchesOf(apiSpec(3).imageRef)).toBe(fetches);
  });

  it('disposes the retained instance when a newer version is applied in place', async () => {
    await using rig = await rigWithV1();
    rig.publishApi(3);
    await rig.host.apply(standby(2));
    await rig.host.apply(promote(60_000));
    expect(rig.runtime.live).toBe(2);
    await rig.host.apply(fenced(apiSpec(3)));
    await rig.host.settled();
    await new Promise((r) => setTimeout(r, 0));
    expect(rig.runtime.live).toBe(1);
    expect(await rig.echo('d')).toBe('v3:d');
  });

  it('refuses a promote without a standby', async () => {
    await using rig = await rigWithV1();
    await expect(rig.host.apply(promote(0))).rejects.toMatchObject({ code: 'rollout.invalidCommand' });
    expect(api(rig)?.status).toBe('running');
  });
});

const V1 = specHash(apiSpec(1));
const V2 = specHash(apiSpec(2));

/** v1 and v2 of `api` on h1 (v1 serving); v2's `echo` fails for every fifth call (payload 0, 5, 10, …). */
async function rigWithFlakyV2(latch?: Latch): Promise<HostRig> {
  const rig = await createHostRig();
  rig.publishApi(2, latch, (v) =>
    v === 2
      ? {
          operations: {
            ...echoImage('v2', latch).operations,
            echo: (payload) => {
              if (Number(text(payload)) % 5 === 0) throw new Error(`v2 failed on ${text(payload)}`);
              return bytes(`v2:${text(payload)}`);
            },
          },
        }
      : {},
  );
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));
  await rig.host.apply(fenced(apiSpec(1)));
  return rig;
}

/** `n` preview calls `0..n-1` (20% of them fail on the flaky v2); resolves with answers or error codes. */
function previewLoad(invoke: (payload: Uint8Array) => Promise<Uint8Array>, n: number, from = 0): Promise<string[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      invoke(bytes(`${from + i}`)).then(text, (e: { code?: string }) => `error:${e.code}`),
    ),
  );
}

const byHash = (inventory: HostInventory, hash: string) =>
  inventory.components.find((c) => c.id === 'api' && c.kind === 'component')?.gate?.byHash[hash];

function analysis(hosts: HostInventory[], hash: string, baseline?: HostInventory[]): AnalysisContext {
  const spec = AnalysisSpec.parse({ provider: 'errorRate', failureCondition: { max: 0.01 } });
  return {
    app: 'shop',
    revision: 'v2',
    hash,
    hashes: [hash],
    hosts,
    metric: 'errorRate',
    spec,
    ...(baseline === undefined ? {} : { baseline }),
  };
}

describe('blue-green preview traffic is measured under the standby hash', () => {
  it('shows a standby failing 20% of preview calls as error rate 0.2, serving counters untouched', async () => {
    await using rig = await rigWithFlakyV2();
    await rig.host.apply(standby(2));
    const before = rig.host.inventory();
    const served = load(rig, 50);
    const answers = await previewLoad((p) => rig.host.invoke('api', 'echo', p, { preview: true }), 100);
    expect((await served).every((a) => a.startsWith('v1:'))).toBe(true);
    expect(answers.filter((a) => a === 'error:invoke.failed')).toHaveLength(20);
    expect(answers[1]).toBe('v2:1');

    const now = rig.host.inventory();
    expect(byHash(now, V2)).toMatchObject({ accepted: 100, answered: 80, errors: 20, latencyMs: { count: 100 } });
    expect(byHash(now, V1)).toMatchObject({ accepted: 50, answered: 50, errors: 0, latencyMs: { count: 50 } });
    expect(await errorRateProvider.measure(analysis([now], V2))).toEqual({ value: 0.2 });
    expect(await errorRateProvider.measure(analysis([now], V2, [before]))).toEqual({ value: 0.2 });
    expect(await errorRateProvider.measure(analysis([now], V1))).toEqual({ value: 0 });
    expect(await latencyP99Provider.measure(analysis([now], V2))).toEqual({ value: expect.any(Number) });
    // The gate's own totals are the serving traffic only, and still balance.
    const t = rig.host.gate('api')?.totals();
    expect(t).toMatchObject({ accepted: 50, answered: 50, errors: 0, refused: 0, inFlight: 0, buffered: 0 });
  });

  it('keeps counting the same hash after promote', async () => {
    await using rig = await rigWithFlakyV2();
    await rig.host.apply(standby(2));
    await previewLoad((p) => rig.host.invoke('api', 'echo', p, { preview: true }), 10);
    const atPromote = rig.host.inventory();
    expect(byHash(atPromote, V2)).toMatchObject({ accepted: 10, errors: 2 });
    await rig.host.apply(promote(60_000));
    const answers = await previewLoad((p) => rig.host.invoke('api', 'echo', p), 10, 10);
    expect(answers.filter((a) => a.startsWith('error:'))).toHaveLength(2);
    const now = rig.host.inventory();
    expect(byHash(now, V2)).toMatchObject({ accepted: 20, answered: 16, errors: 4, latencyMs: { count: 20 } });
    expect(gateWindow([now], 'shop', [V2], [atPromote])).toMatchObject({ accepted: 10, answered: 8, errors: 2 });
    expect(await errorRateProvider.measure(analysis([now], V2))).toEqual({ value: 0.2 });
    const t = rig.host.gate('api')?.totals();
    expect(t).toMatchObject({ accepted: 10, answered: 8, errors: 2, inFlight: 0, buffered: 0 });
  });

  it('disposes a reverted standby only after its preview calls in flight are answered', async () => {
    const latch = new Latch();
    await using rig = await rigWithFlakyV2(latch);
    await rig.host.apply(standby(2));
    latch.close();
    const held = rig.host.invoke('api', 'hold', bytes('p'), { preview: true });
    await rig.host.apply(revert);
    await new Promise((r) => setTimeout(r, 0));
    expect(rig.runtime.live).toBe(2);
    latch.release();
    expect(text(await held)).toBe('v2:p');
    await rig.host.settled();
    await new Promise((r) => setTimeout(r, 0));
    expect(rig.runtime.live).toBe(1);
    expect(byHash(rig.host.inventory(), V2)).toMatchObject({ accepted: 1, answered: 1, errors: 0 });
  });
});

describe('blue-green preview over the transport', () => {
  it('reaches the standby on the preview subject and is refused with invoke.notFound without one', async () => {
    await using rig = await rigWithFlakyV2();
    await using client = rig.bus.connect('client');
    const remote = (p: Uint8Array, preview: boolean) =>
      invokeRemote(client, 'test', 'api', 'echo', p, { preview, timeoutMs: 1_000 });
    await expect(remote(bytes('1'), true)).rejects.toMatchObject({ code: 'invoke.notFound' });

    await rig.host.apply(standby(2));
    const answers = await previewLoad((p) => remote(p, true), 10);
    expect(answers.filter((a) => a.startsWith('v2:'))).toHaveLength(8);
    expect(answers.filter((a) => a === 'error:invoke.failed')).toHaveLength(2);
    expect(text(await remote(bytes('1'), false))).toBe('v1:1');
    expect(await errorRateProvider.measure(analysis([rig.host.inventory()], V2))).toEqual({ value: 0.2 });

    await rig.host.apply(revert);
    await expect(remote(bytes('1'), true)).rejects.toMatchObject({ code: 'invoke.notFound' });
    expect(text(await remote(bytes('2'), false))).toBe('v1:2');
  });

  it('goes only to hosts holding a standby, the others serving as before', async () => {
    await using rig = await rigWithFlakyV2();
    await using h2 = await createHost({
      hostId: 'h2',
      lattice: 'test',
      transport: rig.bus.connect('h2'),
      runtime: rig.runtime,
      providers: createProviderRegistry({}, createMemoryProvider()),
      clock: rig.clock,
      heartbeatMs: 0,
    });
    await h2.apply(providerApply(kvSpec('kv')));
    await h2.apply(providerApply(kvSpec('cache')));
    await h2.apply(fenced(apiSpec(1)));
    await rig.host.apply(standby(2));
    await using client = rig.bus.connect('client');
    const answers = await previewLoad(
      (p) => invokeRemote(client, 'test', 'api', 'echo', p, { preview: true, timeoutMs: 1_000 }),
      20,
    );
    expect(answers.filter((a) => a.startsWith('v2:'))).toHaveLength(16);
    expect(answers.filter((a) => a.startsWith('error:'))).toEqual(Array(4).fill('error:invoke.failed'));
    expect(byHash(rig.host.inventory(), V2)).toMatchObject({ accepted: 20, errors: 4 });
    expect(byHash(h2.inventory(), V2)).toBeUndefined();
    // Plain calls keep their queue group over both hosts, all answered by v1.
    const plain = await Promise.all(
      Array.from({ length: 20 }, (_, i) => invokeRemote(client, 'test', 'api', 'echo', bytes(`${i}`)).then(text)),
    );
    expect(plain.every((a) => a.startsWith('v1:'))).toBe(true);
    expect(byHash(h2.inventory(), V1)?.accepted ?? 0).toBeGreaterThan(0);
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
