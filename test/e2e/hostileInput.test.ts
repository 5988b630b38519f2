// Hostile input on the wire (issue 15), on a real nats-server running the project's own rendered authorization:
// no route from host or client credentials reaches lattice state (direct, or through a reply subject answered
// by themselves or by a cutover process), a fuzz of malformed requests gets coded errors without costing any
// connection or invocation, oversized inputs are refused at once, and an id at the edge of the id rule serves.
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  API_OPS,
  type Host,
  type Orchestrator,
  buckets,
  createApiClient,
  createHost,
  createOrchestrator,
  encode,
  invokeRemote,
  serveOrchestratorApi,
  subjects,
} from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import {
  REPLY_PREFIXES,
  authorizationUsers,
  createNatsStore,
  createNatsTransport,
  renderAuthorization,
} from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { violations } from '../helpers/natsViolations';

const lattice = 'hostile';
const auth = {
  lattice,
  orchestrator: { user: 'orchestrator', password: 'o-secret' },
  hosts: [
    { id: 'h1', user: 'host-h1', password: 'h1-secret' },
    { id: 'h2', user: 'host-h2', password: 'h2-secret' },
  ],
  clients: [{ user: 'cli', password: 'cli-secret' }],
};
const users = new Map(authorizationUsers(auth).map((u) => [u.user, u]));
const enc = new TextEncoder();
const dec = new TextDecoder();
/** A component id at the edge of the id rule: 128 characters, every character class the rule allows. */
const EDGE_ID = `E${'az09_-AZ'.repeat(16)}`.slice(0, 128);

let server: NatsServerHandle;
let orchestratorNc: NatsConnection;
let orch: Orchestrator;
const hosts: Host[] = [];
/** Every connection of a cutover process, with the disconnects the client saw on it. */
const cutoverConns: { name: string; nc: NatsConnection; disconnects: number }[] = [];
const runtime = createMemoryRuntime();
runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });

/** The inbox prefix `user` must connect with. */
function prefixOf(user: string): string {
  const prefix = users.get(user)?.inboxPrefix;
  if (prefix === undefined) throw new Error(`no user ${user}`);
  return prefix;
}

async function connectAs(user: string): Promise<NatsConnection> {
  const u = users.get(user);
  if (u === undefined) throw new Error(`no user ${user}`);
  return server.connect({ user: u.user, pass: u.password, inboxPrefix: u.inboxPrefix });
}

function watchConnection(name: string, nc: NatsConnection): void {
  const entry = { name, nc, disconnects: 0 };
  cutoverConns.push(entry);
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'disconnect') entry.disconnects++;
  })();
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const rss = () => Math.round(process.memoryUsage().rss / 1024 / 1024);
/** Reply subjects the cutover processes refused to answer on. */
const refusedReplies: string[] = [];
const onError = (e: { code: string; subject?: string | undefined }) => {
  if (e.code === 'transport.invalidSubject') refusedReplies.push(e.subject ?? '');
};

beforeAll(async () => {
  server = await startNatsServer({ config: renderAuthorization(auth) });
  for (const id of ['h1', 'h2']) {
    const nc = await connectAs(`host-${id}`);
    watchConnection(`host ${id}`, nc);
    hosts.push(
      await createHost({
        hostId: id,
        lattice,
        transport: createNatsTransport(nc, { replyPrefixes: REPLY_PREFIXES, onError }),
        runtime,
        heartbeatMs: 0,
      }),
    );
  }
  orchestratorNc = await connectAs('orchestrator');
  watchConnection('orchestrator', orchestratorNc);
  const transport = createNatsTransport(orchestratorNc, {
    inboxPrefix: prefixOf('orchestrator'),
    replyPrefixes: REPLY_PREFIXES,
    onError,
  });
  orch = await createOrchestrator({
    lattice,
    transport,
    store: createNatsStore(orchestratorNc, { lattice }),
    heartbeatMs: 50,
    scalers: false,
  });
  serveOrchestratorApi(orch, transport, { lattice });
  const app = revision({ app: 'shop', version: '1', components: [{ id: EDGE_ID, image: 'mem://api:1' }] });
  const out = await (await orch.deploy(app)).done;
  expect(out.outcome).toBe('completed');
}, 60_000);

afterAll(async () => {
  await orch?.close();
  for (const h of hosts) await h.stop();
  await server?.[Symbol.asyncDispose]();
});

describe('ids at the edge of the id rule', () => {
  it('deploys a component with a 128-character id using every allowed character class and serves it over NATS', async () => {
    const client = createNatsTransport(await connectAs('cli'), { inboxPrefix: prefixOf('cli') });
    const reply = await invokeRemote(client, lattice, EDGE_ID, 'handle', enc.encode('edge'));
    expect(dec.decode(reply)).toBe('edge');
    await client.close();
  });
});

describe('permissions that hold against replies', () => {
  const probes = [
    `$KV.${buckets.latticedata(lattice)}.probe`,
    `$KV.${buckets.configdata(lattice)}.probe`,
    `$KV.${buckets.cutover(lattice)}.probe`,
    `$KV.${buckets.cutover(lattice)}.lease.shop`,
    '$JS.API.STREAM.CREATE.HOSTILE',
  ];
  const otherInbox = `${prefixOf('host-h2')}.stolen`;
  const attacker = enc.encode(JSON.stringify({ holder: 'attacker', token: 999 }));

  async function streams(): Promise<string[]> {
    const jsm = await jetstreamManager(orchestratorNc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    return names.sort();
  }

  /** Every probed KV value, as text: none may come from the attacker. */
  async function values(): Promise<string> {
    const store = createNatsStore(orchestratorNc, { lattice });
    const out = [];
    for (const bucket of ['latticedata', 'configdata', 'cutover'] as const) out.push(await store.get(bucket, 'probe'));
    out.push(await store.get('cutover', 'lease.shop'));
    return JSON.stringify(out);
  }

  it("refuses every route to $KV, $JS.API and a host's inbox from host and client credentials", async () => {
    const streamsBefore = await streams();
    const leaseBefore = await values();
    expect(leaseBefore).toContain('holder');
    // The orchestrator may read everything: it watches the other host's inbox for anything a client slips in.
    const stolen: string[] = [];
    const spy = createNatsTransport(orchestratorNc);
    spy.subscribe(`${otherInbox.split('.').slice(0, -1).join('.')}.>`, (m) => {
      stolen.push(m.subject);
    });
    await spy.flush();
    const matrix: string[] = [];
    for (const role of ['host-h1', 'cli']) {
      const nc = await connectAs(role);
      const seen = violations(nc);
      const targets = role === 'cli' ? [...probes, otherInbox] : probes;
      for (const target of targets) {
        // Direct publish.
        nc.publish(target, attacker);
        // Reply route answered by itself: a subject it may subscribe to, a request whose reply is the target.
        const own = role === 'cli' ? `${prefixOf('cli')}.own` : subjects.invoke(lattice, 'own', 'x');
        const sub = nc.subscribe(own, {
          callback: (_e, m) => {
            m.respond(attacker);
          },
        });
        nc.publish(own, attacker, { reply: target });
        // Reply route through cutover processes: the orchestrator's API and a host's invocation. (Into a host's
        // inbox this route is request/reply itself: any requester may name any inbox; see docs/wire.md.)
        const viaProcesses = target !== otherInbox;
        if (viaProcesses) {
          nc.publish(subjects.api(lattice, 'status'), encode({ type: 'api.status', app: 'shop' }), { reply: target });
          nc.publish(subjects.invoke(lattice, EDGE_ID, 'handle'), attacker, { reply: target });
        }
        await nc.flush();
        await new Promise((r) => setTimeout(r, 30));
        sub.unsubscribe();
        const routes = viaProcesses ? 'direct, own reply, orchestrator reply, host reply' : 'direct, own reply';
        matrix.push(`${role.padEnd(8)} ${target}: ${routes} → refused`);
      }
      await until(() => seen.some((v) => v.operation === 'publish'));
      await nc.close();
    }
    await until(() => refusedReplies.filter((e) => e.includes('$JS.API')).length >= 3);
    expect(await values()).not.toContain('attacker');
    expect(await values()).toBe(leaseBefore);
    expect(await streams()).toEqual(streamsBefore);
    expect(stolen).toEqual([]);
    // The cutover processes refused to answer on every state subject they were handed.
    for (const target of probes)
      expect(refusedReplies.filter((e) => e.includes(target)).length).toBeGreaterThanOrEqual(3);
    console.log(`permission matrix (role × route):\n  ${matrix.join('\n  ')}`);
    await spy.close();
  });
});

describe('a fuzz of malformed requests', () => {
  const controlOps = [
    'component.apply',
    'component.delete',
    'provider.apply',
    'provider.delete',
    'component.promote',
    'component.revert',
    'fence',
    'inventory',
  ];
  const bodies: (i: number) => Uint8Array[] = (i) => [
    enc.encode(''),
    enc.encode('{'),
    enc.encode('null'),
    enc.encode('[1,2,3]'),
    enc.encode(`{"type":"component.apply","version":1,"app":"${'a'.repeat(5_000)}","leaseToken":1}`),
    enc.encode(`{"type":"api.status","app":"${'x'.repeat(5_000 + i)}"}`),
    enc.encode(`{"type":"api.rollout","id":"a.b.c"}`),
    enc.encode(JSON.stringify({ type: 'component.apply', version: 99, app: 7 })),
    enc.encode(`${'['.repeat(200)}${']'.repeat(200)}`),
    enc.encode(JSON.stringify({ type: 'host.inventory', extra: 'x'.repeat(i % 300) })),
    new Uint8Array(600 * 1024).fill(0x20),
  ];

  it('answers every one with a coded error, loses no connection and no invocation', async () => {
    const client = createNatsTransport(await connectAs('orchestrator'), {
      inboxPrefix: prefixOf('orchestrator'),
    });
    const subjectsToHit = [
      ...controlOps.map((op) => `${subjects.hostControl(lattice, 'h1').slice(0, -1)}${op}`),
      subjects.hostsPing(lattice),
      ...API_OPS.map((op) => subjects.api(lattice, op)),
    ];
    const rssBefore = rss();
    let sent = 0;
    let coded = 0;
    let maxMs = 0;
    let invocations = 0;
    let lost = 0;
    let fuzzing = true;
    const invoker = (async () => {
      while (fuzzing) {
        try {
          const out = await invokeRemote(client, lattice, EDGE_ID, 'handle', enc.encode(`n${invocations}`), 5_000);
          if (dec.decode(out) !== `n${invocations}`) lost++;
        } catch {
          lost++;
        }
        invocations++;
      }
    })();
    const codes = new Map<string, number>();
    for (let round = 0; sent < 2_000; round++) {
      await Promise.all(
        subjectsToHit.flatMap((subject) =>
          bodies(round).map(async (body) => {
            sent++;
            const t0 = performance.now();
            const reply = subject.endsWith('hosts.ping')
              ? ((await client.requestMany(subject, body, { maxWaitMs: 2_000, expected: 2 }))[0] ?? new Uint8Array())
              : await client.request(subject, body, { timeoutMs: 5_000 });
            maxMs = Math.max(maxMs, performance.now() - t0);
            const parsed = JSON.parse(dec.decode(reply)) as { type?: string; code?: string };
            if (parsed.type === 'error' && typeof parsed.code === 'string') {
              coded++;
              codes.set(parsed.code, (codes.get(parsed.code) ?? 0) + 1);
            }
          }),
        ),
      );
    }
    fuzzing = false;
    await invoker;
    const rssAfter = rss();
    const disconnects = cutoverConns.reduce((n, c) => n + c.disconnects, 0);
    console.log(
      `fuzz: ${sent} requests, ${coded} coded replies (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}), ` +
        `${disconnects} disconnects, max reply ${maxMs.toFixed(1)} ms, ${invocations} invocations ${lost} lost, ` +
        `RSS ${rssBefore} → ${rssAfter} MB`,
    );
    expect(sent).toBeGreaterThanOrEqual(2_000);
    expect(coded).toBe(sent);
    expect(disconnects).toBe(0);
    expect(invocations).toBeGreaterThan(0);
    expect(lost).toBe(0);
    await client.close();
  }, 120_000);
});

describe('oversized input', () => {
  async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; mb: number }> {
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    const value = await work();
    return { value, ms: performance.now() - t0, mb: (process.memoryUsage().rss - before) / 1024 / 1024 };
  }
  const client = () => createNatsTransport(orchestratorNc, { inboxPrefix: '_INBOX.orchestrator' });
  const api = () => createApiClient(client(), { lattice });

  it('refuses a 5,000-character app name with message.invalid, the orchestrator still connected', async () => {
    const r = await timed(() =>
      api()
        .status('a'.repeat(5_000))
        .catch((e: unknown) => e),
    );
    console.log(`5,000-character app: ${r.ms.toFixed(1)} ms, RSS ${r.mb.toFixed(1)} MB`);
    expect(r.value).toMatchObject({ code: 'message.invalid' });
    // The time is printed, not asserted (speed is measured: 3 ms on a quiet machine, 113 ms with 8 other jobs).
    expect(cutoverConns.every((c) => c.disconnects === 0)).toBe(true);
  });

  it('refuses a 900 KB manifest with 150,000 keys with message.tooLarge before parsing it', async () => {
    const manifest =
      `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: big\n  annotations:\n${Array.from({ length: 150_000 }, (_, i) => `    k${i}: v\n`).join('')}`.slice(
        0,
        900 * 1024,
      );
    const r = await timed(() =>
      api()
        .deploy(manifest)
        .catch((e: unknown) => e),
    );
    console.log(`900 KB manifest: ${r.ms.toFixed(1)} ms, RSS ${r.mb.toFixed(1)} MB`);
    // Refused on its byte count before any parsing (the code says which check); the time is printed, not asserted.
    expect(r.value).toMatchObject({ code: 'message.tooLarge' });
  });

  it('answers a manifest with thousands of problems with a bounded error reply counting the rest', async () => {
    const components = Array.from(
      { length: 200 },
      (_, i) => `    - name: c${i}\n      type: component\n      properties: { image: 7 }\n`,
    ).join('');
    const manifest = `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: bad\nspec:\n  components:\n${components}`;
    const data = await client().request(subjects.api(lattice, 'deploy'), encode({ type: 'api.deploy', manifest }), {
      timeoutMs: 5_000,
    });
    const reply = JSON.parse(dec.decode(data)) as { code: string; issues: { path: string; message: string }[] };
    console.log(`manifest with 200 bad components: reply ${data.length} bytes`);
    expect(reply.code).toBe('manifest.invalid');
    expect(reply.issues).toHaveLength(21);
    expect(reply.issues.at(-1)).toEqual({ path: '(more)', message: expect.stringMatching(/^\d+ more issues$/) });
    expect(data.length).toBeLessThan(32 * 1024);
  });
});
