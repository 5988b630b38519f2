import { Kvm } from '@nats-io/kv';
import type { NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import { type CutoverError, subjects, type Transport } from 'cutover';
import { authorizationUsers, createNatsStore, createNatsTransport, renderAuthorization } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { violations } from '../helpers/natsViolations';
import { rejection } from '../helpers/rejection';

const lattice = 'perm';
const auth = {
  lattice,
  orchestrator: { user: 'wadm', password: 'orchestrator-secret' },
  hosts: [
    { id: 'h1', user: 'host-h1', password: 'h1-secret' },
    { id: 'h2', user: 'host-h2', password: 'h2-secret' },
  ],
  clients: [{ user: 'cli', password: 'cli-secret' }],
};
const enc = new TextEncoder();
const dec = new TextDecoder();

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

let server: NatsServerHandle;
let orchestratorNc: NatsConnection;
let hostNc: NatsConnection;
let orchestrator: Transport;
let host: Transport;
let hostViolations: PermissionViolationError[];

beforeAll(async () => {
  server = await startNatsServer({ config: renderAuthorization(auth) });
  // Each role connects with its own inbox prefix: hosts may only answer into the role inboxes.
  orchestratorNc = await server.connect({
    user: 'wadm',
    pass: 'orchestrator-secret',
    inboxPrefix: '_INBOX.orchestrator',
  });
  hostNc = await server.connect({ user: 'host-h1', pass: 'h1-secret', inboxPrefix: '_INBOX.host.h1' });
  hostViolations = violations(hostNc);
  orchestrator = createNatsTransport(orchestratorNc, { inboxPrefix: '_INBOX.orchestrator' });
  host = createNatsTransport(hostNc);
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});

describe('nats permissions', () => {
  it('lets only the orchestrator write lattice state: a host KV put and a raw $KV publish are refused, the value unchanged', async () => {
    const store = createNatsStore(orchestratorNc, { lattice });
    const revision = await store.put('cutover', 'lease.app', { holder: 'orchestrator' });

    const error = await rejection(
      createNatsStore(hostNc, { lattice, timeoutMs: 2_000 }).put('cutover', 'lease.app', { holder: 'host' }),
    );
    expect(error.code).toBe('store.unavailable');
    expect(error.message).toContain('permission denied');

    // Even a client that skips the bucket lookup and writes the KV subject directly is refused.
    const kv = await new Kvm(hostNc).open(`CUTOVER_${lattice}`);
    await expect(kv.put('lease.app', JSON.stringify({ holder: 'host' }))).rejects.toThrow(/permissions violation/i);
    hostNc.publish(`$KV.CUTOVER_${lattice}.lease.app`, enc.encode(JSON.stringify({ holder: 'host' })));
    await hostNc.flush();
    await until(() => hostViolations.some((v) => v.subject === `$KV.CUTOVER_${lattice}.lease.app`));
    expect(hostViolations.map((v) => v.operation)).toContain('publish');

    expect(await store.get('cutover', 'lease.app')).toEqual({
      key: 'lease.app',
      value: { holder: 'orchestrator' },
      revision,
    });
  });

  it('refuses a host any JetStream API or KV subscription', async () => {
    const errors: CutoverError[] = [];
    const noisy = createNatsTransport(hostNc, { onError: (e) => errors.push(e) });
    noisy.subscribe(`$KV.CUTOVER_${lattice}.>`, () => undefined);
    noisy.subscribe('$JS.API.>', () => undefined);
    await noisy.flush();
    await until(() => errors.length >= 2);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('permission denied'),
      expect.stringContaining('permission denied'),
    ]);
    await noisy.close();
  });

  it('lets a host answer its control requests and scatter/gather pings, and publish its own events', async () => {
    host.subscribe(subjects.hostControl(lattice, 'h1'), (msg) =>
      enc.encode(`h1:${msg.subject.split('.').slice(-2).join('.')}`),
    );
    host.subscribe(subjects.hostsPing(lattice), () => enc.encode('h1'));
    const events: string[] = [];
    orchestrator.subscribe(subjects.allHostEvents(lattice), (msg) => {
      events.push(`${msg.subject}=${dec.decode(msg.data)}`);
    });
    await Promise.all([host.flush(), orchestrator.flush()]);

    const reply = await orchestrator.request(subjects.componentApply(lattice, 'h1'), enc.encode('{}'), {
      timeoutMs: 5_000,
    });
    expect(dec.decode(reply)).toBe('h1:component.apply');
    const pings = await orchestrator.requestMany(subjects.hostsPing(lattice), enc.encode(''), {
      maxWaitMs: 5_000,
      expected: 1,
    });
    expect(pings.map((p) => dec.decode(p))).toEqual(['h1']);

    host.publish(subjects.hostEvents(lattice, 'h1'), enc.encode('applied'));
    await host.flush();
    await until(() => events.length >= 1);
    expect(events).toEqual([`${subjects.hostEvents(lattice, 'h1')}=applied`]);
  });

  it("refuses a host publishing another host's events or reading another host's control subject", async () => {
    const received: string[] = [];
    orchestrator.subscribe(subjects.allHostEvents(lattice), (msg) => {
      received.push(msg.subject);
    });
    const errors: CutoverError[] = [];
    const h1 = createNatsTransport(hostNc, { onError: (e) => errors.push(e) });
    h1.subscribe(subjects.hostControl(lattice, 'h2'), () => enc.encode('stolen'));
    await orchestrator.flush();

    h1.publish(subjects.hostEvents(lattice, 'h2'), enc.encode('forged'));
    // Published after the forged one on the same connection, so once it arrives the forged one had its chance.
    h1.publish(subjects.hostEvents(lattice, 'h1'), enc.encode('real'));
    await h1.flush();
    await until(() => received.includes(subjects.hostEvents(lattice, 'h1')));
    expect(received).not.toContain(subjects.hostEvents(lattice, 'h2'));
    await until(() => hostViolations.some((v) => v.subject === subjects.hostEvents(lattice, 'h2')));

    await until(() => errors.length >= 1);
    expect(errors[0]?.message).toContain('permission denied');
    const error = await rejection(
      orchestrator.request(subjects.componentApply(lattice, 'h2'), enc.encode('{}'), { timeoutMs: 5_000 }),
    );
    expect(error.code).toBe('transport.noResponders');
    await h1.close();
  });

  it('refuses connections without credentials and with a wrong password', async () => {
    await expect(server.connect({ reconnect: false })).rejects.toThrow(/authorization/i);
    await expect(server.connect({ user: 'host-h1', pass: 'wrong', reconnect: false })).rejects.toThrow(
      /authorization/i,
    );
  });
});

describe('renderAuthorization', () => {
  it('gives hosts and clients no JetStream or KV rights and the orchestrator everything', () => {
    const [orch, h1, h2, cli] = authorizationUsers(auth);
    expect(orch?.publish.allow).toEqual(['>']);
    expect(orch?.subscribe.allow).toEqual(['>']);
    for (const u of [h1, h2, cli]) {
      for (const s of [...(u?.publish.allow ?? []), ...(u?.subscribe.allow ?? [])])
        expect(s).not.toMatch(/^\$(JS|KV)|^>$/);
      expect(u?.publish.deny).toEqual(expect.arrayContaining(['$JS.>', '$KV.>']));
    }
    expect(h1?.subscribe.allow).toEqual([
      'wasmbus.ctl.v2alpha1.perm.host.h1.>',
      'wasmbus.ctl.v2alpha1.perm.hosts.ping',
      'wasmbus.rpc.perm.>',
      '_INBOX.host.h1.>',
    ]);
    // No allow_responses: replies go out only into the role inboxes.
    expect(h1?.publish.allow).toEqual([
      'wasmbus.evt.v2alpha1.perm.h1',
      'wasmbus.rpc.perm.>',
      '_INBOX.orchestrator.>',
      '_INBOX.client.>',
      '_INBOX.host.>',
    ]);
    expect(renderAuthorization(auth)).not.toContain('allow_responses');
    expect(cli?.publish.allow).toEqual(['cutover.api.v1alpha1.perm.*', 'wasmbus.rpc.perm.>']);
  });

  it('uses a per-host inbox prefix inside the host namespace when given', () => {
    const [, h] = authorizationUsers({
      ...auth,
      hosts: [{ id: 'h1', user: 'u', password: 'p', inboxPrefix: '_INBOX.host.h1.a' }],
    });
    expect(h?.subscribe.allow).toContain('_INBOX.host.h1.a.>');
    expect(h?.subscribe.allow).not.toContain('_INBOX.>');
    // A prefix outside the host's own namespace would let it read others' replies, or get none: refused.
    expect(() =>
      authorizationUsers({ ...auth, hosts: [{ id: 'h1', user: 'u', password: 'p', inboxPrefix: '_INBOX.host.h2' }] }),
    ).toThrow(expect.objectContaining({ code: 'spec.invalid' }));
  });

  it('refuses bad input with spec.invalid and renders nothing', () => {
    const bad = [
      { ...auth, lattice: 'a.b' },
      { ...auth, hosts: [{ id: 'h*', user: 'x', password: 'y' }] },
      { ...auth, hosts: [{ id: 'h1', user: 'wadm', password: 'y' }] },
      { ...auth, orchestrator: { user: '', password: 'p' } },
      { ...auth, hosts: [{ id: 'h1', user: 'x', password: 'a\nb' }] },
    ];
    for (const input of bad)
      expect(() => renderAuthorization(input)).toThrow(expect.objectContaining({ code: 'spec.invalid' }));
  });
});
