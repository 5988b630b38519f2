// A superseded rollout stops sending at once, on a real nats-server: host h2 reaches NATS through a proxy that
// delays what it receives by 100 ms (its control messages are handled 100 ms late). v2 goes to every host
// (provider first, then component); v3 supersedes it while h2 is still busy with its first message. Nothing of
// v2 leaves after the instant it was superseded, and v3's `completed` holds on every host, scalers off.
import type { NatsConnection } from '@nats-io/transport-node';
import { type Host, Message, type MessageOf, createHost, createOrchestrator, decode, specHash } from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { createMemoryProvider } from 'cutover/adapters/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, sleep, startNatsServer } from '../helpers/natsServer';
import { type TcpProxy, startTcpProxy } from '../helpers/tcpProxy';

const LATTICE = 'supersede';
/** What the spy may see of a message published just before the instant (loopback delivery). */
const SLACK_MS = 5;

const rev = (v: string) =>
  revision({
    version: v,
    components: [{ id: 'api', image: `mem://api:${v}` }],
    providers: [{ id: 'kv', image: `mem://kv:${v}` }],
  });

describe('supersede on NATS', () => {
  let server: NatsServerHandle;
  let slow: TcpProxy;
  let spy: NatsConnection;
  const hosts: Host[] = [];
  const sent: Array<{ at: number; hostId: string; version: string; type: string }> = [];
  const runtime = createMemoryRuntime();
  for (const v of ['1', '2', '3']) runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });

  beforeAll(async () => {
    server = await startNatsServer();
    slow = await startTcpProxy(`127.0.0.1:${server.port}`, { delayMs: 100 });
    for (const hostId of ['h1', 'h2', 'h3']) {
      const nc = await server.connect({ name: hostId, ...(hostId === 'h2' ? { servers: slow.url } : {}) });
      hosts.push(
        await createHost({
          hostId,
          lattice: LATTICE,
          transport: createNatsTransport(nc),
          runtime,
          // Heartbeats make h2 known, so a scatter/gather that stalls before its late answer asks it directly.
          heartbeatMs: 300,
          defaultProvider: createMemoryProvider(),
        }),
      );
    }
    spy = await server.connect({ name: 'spy' });
    spy.subscribe(`wasmbus.ctl.v2alpha1.${LATTICE}.host.*.>`, {
      callback: (_err, msg) => {
        try {
          const m = decode(msg.data, Message);
          if (m.type !== 'component.apply' && m.type !== 'provider.apply') return;
          const spec = (m as MessageOf<'component.apply'>).spec;
          sent.push({
            at: Date.now(),
            hostId: msg.subject.split('.')[5] ?? '',
            version: spec.imageRef.slice(-1),
            type: m.type,
          });
        } catch {
          // Not an apply.
        }
      },
    });
    await spy.flush();
  });
  afterAll(async () => {
    for (const h of hosts) await h.stop();
    await slow?.close();
    await server?.[Symbol.asyncDispose]();
  });

  it('sends nothing of the superseded rollout after it was superseded; the next one completes on every host', {
    timeout: 60_000,
  }, async () => {
    const nc = await server.connect({ name: 'orchestrator' });
    const orch = await createOrchestrator({
      lattice: LATTICE,
      transport: createNatsTransport(nc),
      store: createNatsStore(nc, { lattice: LATTICE }),
      heartbeatMs: 200,
      requestTimeoutMs: 2_000,
      scalers: false,
    });
    await sleep(700);
    try {
      expect((await (await orch.deploy(rev('1'))).done).outcome).toBe('completed');
      expect(sent.filter((s) => s.hostId === 'h2')).toHaveLength(2);
      const v2 = await orch.deploy(rev('2'), { strategy: { type: 'rolling', maxParallel: '100%' } });
      let supersededAt = Number.POSITIVE_INFINITY;
      v2.subscribe((v) => {
        if (v.state === 'superseded' && supersededAt === Number.POSITIVE_INFINITY) supersededAt = Date.now();
      });
      while (!sent.some((s) => s.version === '2' && s.hostId === 'h2')) await sleep(1);
      const v3 = await orch.deploy(rev('3'), { strategy: { type: 'rolling', maxParallel: '100%' } });
      const out = await v3.done;
      expect((await v2.done).outcome).toBe('superseded');
      await sleep(1_000);
      const v2Sends = sent.filter((s) => s.version === '2');
      const late = v2Sends.filter((s) => s.at > supersededAt + SLACK_MS);
      console.log(JSON.stringify({ v2Sends: v2Sends.length, afterSupersede: late.length, v3: out.outcome }));
      expect(out.outcome).toBe('completed');
      expect(late).toEqual([]);
      const want = specHash(rev('3').components[0]?.spec ?? ({} as never), 'component');
      expect(hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash)).toEqual([
        want,
        want,
        want,
      ]);
      expect(hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.pending)).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    } finally {
      await orch.close();
      await nc.close();
    }
  });
});
