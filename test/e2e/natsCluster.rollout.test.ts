// Rollouts on a real 3-node nats-server cluster (KV in 3 replicas) while the node leading the KV stream
// crashes: orchestrators, hosts and a client under load each on their own nodes; nothing is lost.
import {
  CutoverError,
  createHost,
  createOrchestrator,
  type Host,
  invokeRemote,
  type OrchestratorOptions,
  type RolloutHandle,
  specHash,
  type Transport,
} from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsClusterHandle, type NatsClusterNode, startNatsCluster } from '../helpers/natsCluster';
import { sleep } from '../helpers/natsServer';

const LATTICE = 'clusterroll';
const STREAM = `KV_CUTOVER_${LATTICE}`;
/** Where each party connects (node index): hosts and the client never on n1, where the KV leader is put. */
const HOST_NODES = { h1: 1, h2: 2, h3: 1 } as const;
const ORCHESTRATOR_A = 0;
const ORCHESTRATOR_B = 1;
const CLIENT = 2;
const PACED = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: { durationMs: 1_000 } } as const;

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('rollout on a 3-node NATS cluster', () => {
  let cluster: NatsClusterHandle;
  const hosts: Host[] = [];
  let client: Transport;
  const runtime = createMemoryRuntime();
  for (const v of ['1', '2', '3']) {
    runtime.publish(`mem://api:${v}`, {
      version: v,
      operations: { handle: (p) => enc.encode(`v${v}:${dec.decode(p)}`) },
    });
  }
  const app = (v: string) =>
    revision({ app: 'shop', version: v, components: [{ id: 'api', image: `mem://api:${v}` }] });
  const target = (v: string) => specHash({ id: 'api', app: 'shop', imageRef: `mem://api:${v}` });
  const serving = () => hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash);

  const orchestratorOn = async (node: number, holder: string, extra: Partial<OrchestratorOptions> = {}) => {
    const nc = await cluster.connect(node, { name: `orchestrator ${holder}` });
    const orchestrator = await createOrchestrator({
      lattice: LATTICE,
      transport: createNatsTransport(nc),
      store: createNatsStore(nc, { lattice: LATTICE, replicas: 3, timeoutMs: 2_000 }),
      holder,
      heartbeatMs: 100,
      leaseTtlMs: 3_000,
      requestTimeoutMs: 2_000,
      scalers: false,
      ...extra,
    });
    return { nc, orchestrator };
  };

  beforeAll(async () => {
    cluster = await startNatsCluster({ nodes: 3 });
    for (const [hostId, node] of Object.entries(HOST_NODES)) {
      const nc = await cluster.connect(node, { name: `host ${hostId}` });
      hosts.push(
        await createHost({ hostId, lattice: LATTICE, transport: createNatsTransport(nc), runtime, heartbeatMs: 0 }),
      );
    }
    client = createNatsTransport(await cluster.connect(CLIENT, { name: 'client' }));
  });
  afterAll(async () => {
    for (const h of hosts) await h.stop();
    await cluster?.[Symbol.asyncDispose]();
  });

  /** Four clients invoking `api` back to back until stopped: answered, lost (timed out) and refused (by code). */
  const load = () => {
    const tally = { ok: 0, lost: 0, refused: [] as string[] };
    let running = true;
    const call = (payload: string) =>
      invokeRemote(client, LATTICE, 'api', 'handle', enc.encode(payload), 10_000).then(
        () => void tally.ok++,
        (error: unknown) => {
          if (error instanceof CutoverError && error.code === 'transport.timeout') tally.lost++;
          else tally.refused.push(error instanceof CutoverError ? error.code : String(error));
        },
      );
    const workers = [0, 1, 2, 3].map(async (n) => {
      for (let i = 0; running; i++) await call(`${n}.${i}`);
    });
    const stop = () => {
      running = false;
      return Promise.all(workers).then(() => tally);
    };
    return { tally, stop };
  };

  /** Waits until `handle` finished its first batch, then crashes the node leading the KV stream. */
  const crashLeaderAfterFirstBatch = async (handle: RolloutHandle): Promise<NatsClusterNode> => {
    const deadline = Date.now() + 20_000;
    while (handle.snapshot().batch < 1 && !handle.snapshot().done) {
      if (Date.now() > deadline) throw new Error(`no batch done: ${JSON.stringify(handle.snapshot())}`);
      await sleep(20);
    }
    expect(handle.snapshot().done).toBe(false);
    const leader = await cluster.streamLeader(STREAM);
    await leader.kill();
    return leader;
  };

  it('completes a rolling upgrade when the KV leader (the orchestrator’s node) crashes mid-rollout, losing no call', {
    timeout: 60_000,
  }, async () => {
    const a = await orchestratorOn(ORCHESTRATOR_A, 'a');
    try {
      expect((await (await a.orchestrator.deploy(app('1'))).done).outcome).toBe('completed');
      await cluster.moveStreamLeader(STREAM, ORCHESTRATOR_A);
      const calls = load();
      const handle = await a.orchestrator.deploy(app('2'), { strategy: PACED });
      const started = Date.now();
      const killed = await crashLeaderAfterFirstBatch(handle);
      const killedAt = Date.now();
      const out = await handle.done;
      const tally = await calls.stop();
      console.log(
        `KV leader ${killed.name} (orchestrator a's node) killed ${killedAt - started} ms into the rollout; ` +
          `${out.outcome} ${Date.now() - killedAt} ms later; calls: ${tally.ok} answered, ${tally.lost} lost, ` +
          `${tally.refused.length} refused`,
      );
      expect(out.outcome, out.reason ?? '').toBe('completed');
      expect(new Set(serving())).toEqual(new Set([target('2')]));
      expect(tally.lost).toBe(0);
      expect(tally.refused).toEqual([]);
      expect(tally.ok).toBeGreaterThan(0);
    } finally {
      await a.orchestrator.close();
      await a.nc.close();
    }
  });

  it('lets a second orchestrator on another node finish the rollout when the first dies with the KV leader', {
    timeout: 60_000,
  }, async () => {
    await killed().restart();
    const a = await orchestratorOn(ORCHESTRATOR_A, 'a');
    const resumed: string[] = [];
    const b = await orchestratorOn(ORCHESTRATOR_B, 'b', { onResume: (id) => resumed.push(id) });
    try {
      await cluster.moveStreamLeader(STREAM, ORCHESTRATOR_A);
      const calls = load();
      const handle = await a.orchestrator.deploy(app('3'), { strategy: PACED });
      const started = Date.now();
      const leader = await crashLeaderAfterFirstBatch(handle);
      // Orchestrator a dies too: its connection closes, it sends and stores nothing more.
      await a.nc.close();
      const killedAt = Date.now();
      const deadline = killedAt + 40_000;
      let taken: RolloutHandle | undefined;
      while ((taken = b.orchestrator.rollout(handle.id)) === undefined) {
        if (Date.now() > deadline) throw new Error('orchestrator b did not take over');
        await sleep(50);
      }
      const takenAt = Date.now();
      const out = await taken.done;
      const tally = await calls.stop();
      console.log(
        `KV leader ${leader.name} and orchestrator a killed ${killedAt - started} ms into the rollout; ` +
          `b took over after ${takenAt - killedAt} ms and ${out.outcome} ${Date.now() - takenAt} ms later; ` +
          `calls: ${tally.ok} answered, ${tally.lost} lost, ${tally.refused.length} refused`,
      );
      expect(resumed).toEqual([handle.id]);
      expect(out.outcome, out.reason ?? '').toBe('completed');
      expect(new Set(serving())).toEqual(new Set([target('3')]));
      expect(tally.lost).toBe(0);
      expect(tally.refused).toEqual([]);
    } finally {
      // A dead orchestrator's close may wait on its closed connection: bound it (the test only needs it stopped).
      await Promise.race([a.orchestrator.close().catch(() => undefined), sleep(3_000)]);
      await b.orchestrator.close();
      await b.nc.close();
    }
  });

  const killed = () => cluster.nodes.find((n) => !n.running) ?? (cluster.nodes[0] as NatsClusterNode);
});
