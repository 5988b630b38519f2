// One writer, on a real nats-server: orchestrator A reaches NATS through a TCP proxy the test cuts in the
// middle of a rollout (A loses its store and transport at once, as a network partition does). B takes the
// lease, fences every host and finishes; when A's connection comes back it sends nothing. Every control message
// is counted on the wire by a NATS subscriber of the test's own, with the lease token it carries. Twenty runs,
// each cutting A at another moment.
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type Host,
  type Orchestrator,
  type RolloutHandle,
  createHost,
  createOrchestrator,
  decode,
  Message,
  specHash,
} from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, sleep, startNatsServer } from '../helpers/natsServer';
import { startTcpProxy } from '../helpers/tcpProxy';

const LATTICE = 'splitbrain';
const RECONNECT = { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 } as const;
const TTL_MS = 1_200;

interface Sent {
  at: number;
  app: string;
  type: string;
  token: number;
  hostId: string;
}

describe('single writer on NATS', () => {
  let server: NatsServerHandle;
  const hosts: Host[] = [];
  const sent: Sent[] = [];
  let spy: NatsConnection;
  const runtime = createMemoryRuntime();
  for (const v of ['1', '2']) runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });

  beforeAll(async () => {
    server = await startNatsServer();
    for (const hostId of ['h1', 'h2', 'h3']) {
      const nc = await server.connect({ name: hostId, ...RECONNECT });
      hosts.push(
        await createHost({ hostId, lattice: LATTICE, transport: createNatsTransport(nc), runtime, heartbeatMs: 0 }),
      );
    }
    spy = await server.connect({ name: 'spy' });
    spy.subscribe(`wasmbus.ctl.v2alpha1.${LATTICE}.host.*.>`, {
      callback: (_err, msg) => {
        try {
          const m = decode(msg.data, Message) as { type: string; app?: string; leaseToken?: number };
          if (m.leaseToken === undefined || m.app === undefined) return;
          sent.push({
            at: Date.now(),
            app: m.app,
            type: m.type,
            token: m.leaseToken,
            hostId: msg.subject.split('.')[5] ?? '',
          });
        } catch {
          // Inventory requests carry no token.
        }
      },
    });
    await spy.flush();
  });
  afterAll(async () => {
    for (const h of hosts) await h.stop();
    await server?.[Symbol.asyncDispose]();
  });

  const orchestrator = async (holder: string, url: string, onResume?: (id: string) => void) => {
    const nc = await server.connect({ servers: url, name: holder, ...RECONNECT });
    const o = await createOrchestrator({
      lattice: LATTICE,
      transport: createNatsTransport(nc),
      store: createNatsStore(nc, { lattice: LATTICE, timeoutMs: 2_000 }),
      holder,
      heartbeatMs: 100,
      leaseTtlMs: TTL_MS,
      takeoverMs: 150,
      requestTimeoutMs: 800,
      closeTimeoutMs: 1_000,
      scalers: false,
      ...(onResume === undefined ? {} : { onResume }),
    });
    return { nc, o };
  };

  it.each(Array.from({ length: 20 }, (_, i) => [i + 1, (i * 97) % 400] as const))(
    'run %i (cut %i ms into a batch): A sends nothing after its lease ran out, B fences and finishes',
    { timeout: 90_000 },
    async (run, jitterMs) => {
      const appName = `shop${run}`;
      const rev = (v: string) =>
        revision({ app: appName, version: v, components: [{ id: 'api', image: `mem://api:${v}` }] });
      const v2 = specHash({ id: 'api', app: appName, imageRef: 'mem://api:2' });
      await using proxy = await startTcpProxy(`127.0.0.1:${server.port}`);
      const a = await orchestrator('A', proxy.url);
      let b: { nc: NatsConnection; o: Orchestrator } | undefined;
      let taken: RolloutHandle | undefined;
      let takenAt = Number.NaN;
      try {
        expect((await (await a.o.deploy(rev('1'))).done).outcome).toBe('completed');
        b = await orchestrator('B', server.url, (id) => {
          takenAt = Date.now();
          taken = b?.o.rollout(id);
        });
        const h = await a.o.deploy(rev('2'), {
          strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: { durationMs: 700 } },
        });
        while (h.snapshot().batch < 1 && !h.snapshot().done) await sleep(5);
        await sleep(jitterMs);
        // Cut in the middle of it: batches 2 and 3 are still to come.
        expect(h.snapshot().done).toBe(false);
        const lease = (await b.o.owner({ app: appName })) === 'A' ? await leaseOf(b, appName) : undefined;
        proxy.cut();
        const cutAt = Date.now();
        while (taken === undefined) {
          if (Date.now() - cutAt > 40_000) throw new Error('B never took over');
          await sleep(20);
        }
        const handle: RolloutHandle = taken;
        const outcome = (await handle.done).outcome;
        proxy.restore();
        // A is back on NATS: give it time to find out it was deposed.
        await sleep(TTL_MS);
        const mine = sent.filter((m) => m.app === appName);
        const tokenA = mine.find((m) => m.type !== 'host.fence')?.token ?? 1;
        const expiresAt = lease?.expiresAt ?? cutAt + TTL_MS;
        const afterExpiry = mine.filter((m) => m.token === tokenA && m.at >= expiresAt);
        const afterTakeover = mine.filter((m) => m.token === tokenA && m.at >= takenAt);
        console.log(
          JSON.stringify({
            run,
            jitterMs,
            leaseLeftAtCutMs: expiresAt - cutAt,
            takeoverAfterCutMs: takenAt - cutAt,
            sendsAfterLeaseExpiry: afterExpiry.length,
            sendsAfterTakeover: afterTakeover.length,
            fences: mine.filter((m) => m.type === 'host.fence').length,
          }),
        );
        expect(outcome).toBe('completed');
        expect(afterExpiry).toEqual([]);
        expect(afterTakeover).toEqual([]);
        const firstOfB = mine.findIndex((m) => m.token > tokenA);
        expect(mine.slice(firstOfB, firstOfB + 3).map((m) => m.type)).toEqual([
          'host.fence',
          'host.fence',
          'host.fence',
        ]);
        expect(hosts.map((x) => x.inventory().components.find((c) => c.app === appName)?.servingHash)).toEqual([
          v2,
          v2,
          v2,
        ]);
        // A lets the rollout go once a renewal finds B's lease: one renewal after the reconnect, which on a
        // loaded machine can come later than the TTL slept above (that is liveness, not safety: the sends
        // checked above are the invariant). How long it took is printed, not asserted.
        const deposedAfter = Date.now();
        while (a.o.rollout(h.id) !== undefined && Date.now() - deposedAfter < 5 * TTL_MS) await sleep(20);
        console.log(JSON.stringify({ run, aLetGoAfterRestoreMs: TTL_MS + Date.now() - deposedAfter }));
        expect(a.o.rollout(h.id)).toBeUndefined();
      } finally {
        await a.o.close();
        await a.nc.close().catch(() => undefined);
        await b?.o.close();
        await b?.nc.close();
      }
    },
  );
});

/** The app's lease record as stored (its expiry is on the holder's clock, this machine's). */
async function leaseOf(b: { nc: NatsConnection }, app: string): Promise<{ expiresAt: number } | undefined> {
  const store = createNatsStore(b.nc, { lattice: LATTICE, timeoutMs: 1_000 });
  const e = await store.get<{ expiresAt: number }>('cutover', `lease.${app}`);
  return e?.value;
}
