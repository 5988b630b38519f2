import {
  ControlReply,
  decode,
  encode,
  HostReport,
  InventoryReply,
  linkKey,
  PROTOCOL_VERSION,
  specHash,
  subjects,
} from 'cutover';
import { describe, expect, it } from 'vitest';
import { decodeInvokeReply } from '../../src/host/invokeReply';
import { apiSpec, bytes, createHostRig, fenced, kvSpec, Latch, providerApply, text } from '../fixtures/host';

const kvLinks = (rig: {
  host: { provider(id: string): { links(): readonly { sourceConfig: Record<string, string> }[] } | undefined };
}) =>
  rig.host
    .provider('kv')
    ?.links()
    .map((l) => l.sourceConfig.bucket);

async function rigWithV1(options: Parameters<typeof createHostRig>[0] = {}, latch?: Latch) {
  const rig = await createHostRig(options);
  rig.publishApi(3, latch);
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));
  const outcome = await rig.host.apply(fenced(apiSpec(1)));
  expect(outcome.type).toBe('component.applied');
  return rig;
}

describe('host', () => {
  it('installs a component, puts its links at the provider and serves invocations', async () => {
    await using rig = await rigWithV1();
    expect(await rig.echo('hi')).toBe('v1:hi');
    expect(kvLinks(rig)).toEqual(['v1']);
    const api = rig.host.inventory().components.find((c) => c.id === 'api');
    expect(api).toMatchObject({
      status: 'running',
      servingHash: specHash(apiSpec(1)),
      lastApply: { outcome: 'applied' },
    });
  });

  it('upgrades under load without losing an invocation and swaps the changed link', async () => {
    await using rig = await rigWithV1();
    const calls: Promise<string>[] = [];
    let upgrading = true;
    const load = (async () => {
      while (upgrading) {
        calls.push(rig.echo(`${calls.length}`));
        await null;
      }
    })();
    const outcome = await rig.host.apply(fenced(apiSpec(2)));
    upgrading = false;
    await load;
    const answers = await Promise.all(calls);
    expect(outcome).toMatchObject({ type: 'component.applied', hash: specHash(apiSpec(2)) });
    expect(answers.every((a) => a.startsWith('v1:') || a.startsWith('v2:'))).toBe(true);
    expect(answers.some((a) => a.startsWith('v1:'))).toBe(true);
    expect(answers.some((a) => a.startsWith('v2:'))).toBe(true);
    expect(await rig.echo('after')).toBe('v2:after');
    expect(kvLinks(rig)).toEqual(['v2']);
    expect(rig.host.provider('cache')?.links().map(linkKey)).toEqual(['api/wasi:keyvalue/cache-v2']);
    const t = rig.host.gate('api')?.totals();
    expect(t).toMatchObject({
      accepted: calls.length + 1,
      answered: calls.length + 1,
      errors: 0,
      inFlight: 0,
      buffered: 0,
    });
    expect(rig.runtime.live).toBe(1);
  });

  it('buffers calls that arrive during the pause and answers them from the new version in arrival order', async () => {
    const latch = new Latch();
    await using rig = await rigWithV1({}, latch);
    latch.close();
    const slow = rig.host.invoke('api', 'hold', bytes('slow'));
    const outcome = rig.host.apply(fenced(apiSpec(2)));
    await new Promise((r) => setTimeout(r, 5));
    expect(rig.host.inventory().components.find((c) => c.id === 'api')?.pending?.phase).toBe('cuttingOver');
    const during = [rig.echo('a'), rig.echo('b')];
    expect(rig.host.gate('api')?.stats().buffered).toBe(2);
    latch.release();
    expect(text(await slow)).toBe('v1:slow');
    expect(await Promise.all(during)).toEqual(['v2:a', 'v2:b']);
    expect((await outcome).type).toBe('component.applied');
  });

  it('keeps the old version serving with its links when validation fails', async () => {
    await using rig = await rigWithV1();
    rig.runtime.publish('file:///fixtures/api-v2.wasm', { version: 'v2', operations: {}, validateError: 'bad module' });
    const outcome = await rig.host.apply(fenced(apiSpec(2)));
    expect(outcome).toMatchObject({ type: 'component.failed', code: 'validate.failed', reason: 'bad module' });
    expect(await rig.echo('x')).toBe('v1:x');
    expect(kvLinks(rig)).toEqual(['v1']);
    expect(rig.host.provider('cache')?.links()).toEqual([]);
    const api = rig.host.inventory().components.find((c) => c.id === 'api');
    expect(api).toMatchObject({
      status: 'running',
      servingHash: specHash(apiSpec(1)),
      lastApply: { outcome: 'failed', code: 'validate.failed' },
    });
  });

  it('restores swapped links and resumes the old instance when a link swap is refused mid cut-over', async () => {
    await using rig = await rigWithV1({
      provider: {
        refuse: (l, op) => (op === 'put' && l.sourceConfig.bucket === 'v2' ? 'tls certificate missing' : undefined),
      },
    });
    const outcome = await rig.host.apply(fenced(apiSpec(2)));
    expect(outcome).toMatchObject({ type: 'component.failed', code: 'link.failed' });
    expect(outcome.type === 'component.failed' && outcome.reason).toContain('tls certificate missing');
    expect(await rig.echo('x')).toBe('v1:x');
    expect(kvLinks(rig)).toEqual(['v1']);
    expect(rig.host.provider('cache')?.links()).toEqual([]);
    expect(rig.host.inventory().components.find((c) => c.id === 'api')?.status).toBe('running');
  });

  it('ends unhealthy but still serving when the restore cannot put a link back', async () => {
    let refuseRestore = false;
    await using rig = await rigWithV1({
      provider: {
        refuse: (l, op) => {
          if (op === 'put' && l.sourceConfig.bucket === 'v2') {
            refuseRestore = true;
            return 'port in use';
          }
          return op === 'put' && refuseRestore && l.sourceConfig.bucket === 'v1' ? 'provider gone' : undefined;
        },
      },
    });
    const outcome = await rig.host.apply(fenced(apiSpec(2)));
    expect(outcome).toMatchObject({ type: 'component.failed', code: 'link.failed' });
    expect(rig.host.inventory().components.find((c) => c.id === 'api')?.status).toBe('unhealthy');
    expect(await rig.echo('x')).toBe('v1:x');
  });

  it('fails a first install with nothing serving and reports the reason', async () => {
    await using rig = await createHostRig();
    rig.runtime.publish('file:///fixtures/api-v1.wasm', {
      version: 'v1',
      operations: {},
      fetchError: 'registry unreachable',
    });
    const outcome = await rig.host.apply(fenced(apiSpec(1)));
    expect(outcome).toMatchObject({ type: 'component.failed', code: 'fetch.failed' });
    expect(rig.host.inventory().components[0]?.status).toBe('failed');
    await expect(rig.echo('x')).rejects.toMatchObject({ code: 'invoke.notFound' });
  });

  it('disposes the new instance started ahead of the cut-over when the upgrade fails', async () => {
    for (const refused of ['cache-v2', 'v2']) {
      await using rig = await rigWithV1({
        provider: {
          // cache-v2 is a new link (fails in linking); v2 is the changed kv link (fails mid cut-over).
          refuse: (l, op) =>
            op === 'put' && (l.name === refused || l.sourceConfig.bucket === refused) ? 'port in use' : undefined,
        },
      });
      const outcome = await rig.host.apply(fenced(apiSpec(2)));
      expect(outcome).toMatchObject({ type: 'component.failed', code: 'link.failed' });
      expect(await rig.echo('x')).toBe('v1:x');
      expect(rig.runtime.live).toBe(1);
    }
  });

  it('times out a provider that never answers a link put', async () => {
    await using rig = await createHostRig({ linkTimeoutMs: 50, provider: { hang: (l) => l.target === 'kv' } });
    rig.publishApi(1);
    await rig.host.apply(providerApply(kvSpec('kv')));
    const outcome = rig.host.apply(fenced(apiSpec(1)));
    await new Promise((r) => setTimeout(r, 5));
    rig.clock.increment(50);
    expect(await outcome).toMatchObject({ type: 'component.failed', code: 'link.timeout' });
  });

  it('reports applied at once for the hash it already serves and joins an apply in flight', async () => {
    await using rig = await rigWithV1();
    const reports: string[] = [];
    rig.host.onReport((r) => {
      if (r.type === 'component.applied' || r.type === 'component.failed')
        reports.push(`${r.type}:${r.hash.slice(0, 6)}`);
    });
    expect((await rig.host.apply(fenced(apiSpec(1)))).type).toBe('component.applied');
    const a = rig.host.apply(fenced(apiSpec(2)));
    const b = rig.host.apply(fenced(apiSpec(2)));
    expect((await a).type).toBe('component.applied');
    expect((await b).type).toBe('component.applied');
    expect(reports).toEqual([
      `component.applied:${specHash(apiSpec(1)).slice(0, 6)}`,
      `component.applied:${specHash(apiSpec(2)).slice(0, 6)}`,
    ]);
    expect(rig.runtime.fetchesOf('file:///fixtures/api-v2.wasm')).toBe(1);
  });

  it('supersedes an apply in flight with a newer one, which reports superseded', async () => {
    await using rig = await rigWithV1();
    rig.runtime.publish('file:///fixtures/api-v2.wasm', {
      ...rig.runtime,
      version: 'v2',
      operations: {},
      fetchDelayMs: 100,
    });
    const a = rig.host.apply(fenced(apiSpec(2)));
    await new Promise((r) => setTimeout(r, 5));
    const b = rig.host.apply(fenced(apiSpec(3)));
    expect(await a).toMatchObject({ type: 'component.failed', code: 'superseded' });
    expect(await b).toMatchObject({ type: 'component.applied', hash: specHash(apiSpec(3)) });
    expect(await rig.echo('x')).toBe('v3:x');
  });

  it('drains then stops a deleted component', async () => {
    await using rig = await rigWithV1();
    const calls = [rig.echo('a'), rig.echo('b')];
    const outcome = await rig.host.apply({
      type: 'component.delete',
      version: PROTOCOL_VERSION,
      app: 'shop',
      leaseToken: 1,
      componentId: 'api',
    });
    expect(outcome.type).toBe('component.deleted');
    expect(await Promise.all(calls)).toEqual(['v1:a', 'v1:b']);
    expect(kvLinks(rig)).toEqual([]);
    expect(rig.host.inventory().components.map((c) => c.id)).not.toContain('api');
    expect(rig.runtime.live).toBe(0);
  });

  it('refuses calls beyond the gate capacity with gate.overflow, never silently', async () => {
    const latch = new Latch();
    await using rig = await createHostRig({ gateCapacity: 2 });
    rig.publishApi(1, latch);
    await rig.host.apply(fenced(apiSpec(1)));
    latch.close();
    const held = [rig.host.invoke('api', 'hold', bytes('1')), rig.host.invoke('api', 'hold', bytes('2'))];
    await expect(rig.host.invoke('api', 'hold', bytes('3'))).rejects.toMatchObject({ code: 'gate.overflow' });
    latch.release();
    await Promise.all(held);
    expect(rig.host.gate('api')?.stats()).toMatchObject({ refused: 1, capacity: 2 });
  });

  it('moves provider links under the gates of linked components when the provider changes', async () => {
    await using rig = await rigWithV1();
    const old = rig.host.provider('kv');
    const outcome = await rig.host.apply(providerApply(kvSpec('kv', '2')));
    expect(outcome.type).toBe('component.applied');
    const next = rig.host.provider('kv');
    expect(next).not.toBe(old);
    expect(next?.links().map((l) => l.sourceConfig.bucket)).toEqual(['v1']);
    expect(old?.links()).toEqual([]);
    expect(await rig.echo('x')).toBe('v1:x');
  });
});

describe('host control subjects', () => {
  const request = async (rig: Awaited<ReturnType<typeof createHostRig>>, subject: string, body: unknown) => {
    const client = rig.bus.connect('client');
    return decode(await client.request(subject, encode(body), { timeoutMs: 1000 }), ControlReply);
  };

  it('accepts a component.apply, then publishes the outcome as a report', async () => {
    await using rig = await createHostRig();
    rig.publishApi(1);
    const client = rig.bus.connect('watcher');
    const reports: string[] = [];
    client.subscribe(subjects.hostEvents('test', 'h1'), (m) => {
      reports.push(decode(m.data, HostReport).type);
    });
    const reply = await request(rig, subjects.componentApply('test', 'h1'), fenced(apiSpec(1)));
    expect(reply).toMatchObject({ type: 'accepted', hostId: 'h1', hash: specHash(apiSpec(1)) });
    await rig.host.settled();
    await client.flush();
    expect(reports).toContain('component.applied');
    expect(reports).toContain('component.changed');
    const reply2 = decodeInvokeReply(
      await client.request(subjects.invoke('test', 'api', 'echo'), bytes('z'), { timeoutMs: 1000 }),
    );
    expect(text(reply2)).toBe('v1:z');
  });

  it('rejects an invalid component.apply with message.invalid and changes nothing', async () => {
    await using rig = await createHostRig();
    const reply = await request(rig, subjects.componentApply('test', 'h1'), {
      type: 'component.apply',
      app: 'shop',
      leaseToken: 1,
      spec: { id: '' },
    });
    expect(reply).toMatchObject({ type: 'error', code: 'message.invalid' });
    expect(reply.type === 'error' && reply.issues?.some((i) => i.path.startsWith('spec'))).toBe(true);
    expect(rig.host.inventory().components).toEqual([]);
    expect(rig.host.inventory().leases).toEqual({});
  });

  it('refuses an apply with a lease token lower than the highest seen (lease.stale)', async () => {
    await using rig = await createHostRig();
    rig.publishApi(2);
    await request(rig, subjects.componentApply('test', 'h1'), fenced(apiSpec(1), 5));
    const reply = await request(rig, subjects.componentApply('test', 'h1'), fenced(apiSpec(2), 4));
    expect(reply).toMatchObject({ type: 'error', code: 'lease.stale' });
    await rig.host.settled();
    expect(rig.host.inventory().components[0]?.servingHash).toBe(specHash(apiSpec(1)));
  });

  it('answers inventory requests, pings and sends heartbeats with the full inventory', async () => {
    await using rig = await createHostRig({ heartbeatMs: 1000 });
    const client = rig.bus.connect('client');
    const inv = decode(
      await client.request(subjects.inventory('test', 'h1'), encode({ type: 'host.inventory' }), { timeoutMs: 1000 }),
      InventoryReply,
    );
    expect(inv.inventory.hostId).toBe('h1');
    const pings = await client.requestMany(subjects.hostsPing('test'), encode({ type: 'host.inventory' }), {
      maxWaitMs: 50,
      expected: 1,
    });
    expect(pings.map((p) => decode(p, InventoryReply).inventory.hostId)).toEqual(['h1']);
    const beats: number[] = [];
    client.subscribe(subjects.hostEvents('test', 'h1'), (m) => {
      const r = decode(m.data, HostReport);
      if (r.type === 'host.heartbeat') beats.push(r.at);
    });
    rig.clock.increment(1000);
    rig.clock.increment(1000);
    await client.flush();
    expect(beats.length).toBe(2);
  });
});
