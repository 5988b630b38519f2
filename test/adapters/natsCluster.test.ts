// A real 3-node nats-server cluster with JetStream (three processes routed on loopback): KV buckets with 3
// replicas, the store and the transport across nodes, and both surviving the loss of a node.
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKET_NAMES, buckets, CutoverError, isCutoverError, type StateStore, type Transport } from 'cutover';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../e2e/cliProcess';
import { type NatsClusterHandle, type NatsClusterNode, startNatsCluster } from '../helpers/natsCluster';
import { NATS_INSTALL_HINT, sleep } from '../helpers/natsServer';
import { rejection } from '../helpers/rejection';
import { describeStoreContract } from './storeContract';

const enc = new TextEncoder();
const dec = new TextDecoder();

let cluster: NatsClusterHandle;
beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 });
});
afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

/** Runs `work` until it succeeds; only retryable CutoverErrors are retried, each counted, within `withinMs`. */
async function retrying<T>(
  work: () => Promise<T>,
  withinMs: number,
  failures: CutoverError[] = [],
): Promise<{ value: T; ms: number; failures: CutoverError[] }> {
  const started = Date.now();
  for (;;) {
    try {
      return { value: await work(), ms: Date.now() - started, failures };
    } catch (err) {
      if (!isCutoverError(err) || !err.retryable) throw err;
      failures.push(err);
      if (Date.now() - started > withinMs) throw new Error(`still failing after ${withinMs} ms`, { cause: err });
      await sleep(50);
    }
  }
}

/** A store on `nc` whose calls give up after 2 s (not 5), so a test sees an election's failures sooner. */
const storeOn = (nc: NatsConnection, lattice: string) =>
  createNatsStore(nc, { lattice, replicas: 3, timeoutMs: 2_000 });

/** Restarts every killed node, so each test starts with the whole cluster. */
async function healCluster(): Promise<void> {
  for (const node of cluster.nodes) if (!node.running) await node.restart();
  await cluster.waitReady();
}

describe('startNatsCluster', () => {
  it('fails with the install command when the binary is missing', async () => {
    await expect(startNatsCluster({ binary: '/nonexistent/nats-server' })).rejects.toThrow(NATS_INSTALL_HINT);
  });

  it('runs three routed nodes with distinct names, ports and stores', () => {
    expect(cluster.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    expect(new Set(cluster.urls).size).toBe(3);
    expect(new Set(cluster.nodes.map((n) => n.dir)).size).toBe(3);
    for (const node of cluster.nodes) {
      expect(node.running).toBe(true);
      expect(node.pid).toBeGreaterThan(0);
      expect(node.url).toBe(`nats://127.0.0.1:${node.port}`);
    }
  });
});

describe('nats store on a 3-node cluster', () => {
  it('keeps every bucket in 3 replicas, and reads what it wrote from any node', async () => {
    const lattice = 'replicated';
    const store = storeOn(await cluster.connect(0), lattice);
    const revision = await store.put('cutover', 'lease.app', { holder: 'a' }, { expectedRevision: 0 });
    await store.put('latticedata', 'spec.app', { v: 1 });
    await store.put('configdata', 'cfg.app', { v: 1 });
    for (const stream of [`KV_CUTOVER_${lattice}`, `KV_LATTICEDATA_${lattice}`, `KV_CONFIGDATA_${lattice}`]) {
      const info = await cluster.streamInfo(stream);
      expect(info.config.num_replicas).toBe(3);
      // Reads go through the stream leader, never a follower that may lag.
      expect(info.config.allow_direct).toBe(false);
      expect(info.cluster?.leader).toMatch(/^n[123]$/);
      expect(info.cluster?.replicas?.map((r) => r.name).sort()).toEqual(
        ['n1', 'n2', 'n3'].filter((n) => n !== info.cluster?.leader),
      );
    }
    for (const node of cluster.nodes) {
      const reader = storeOn(await node.connect(), lattice);
      expect(await reader.get('cutover', 'lease.app')).toEqual({ key: 'lease.app', value: { holder: 'a' }, revision });
      // CAS across nodes: the revision another node's client wrote is the one to name.
      expect(
        (await rejection(reader.put('cutover', 'lease.app', { holder: node.name }, { expectedRevision: 0 }))).code,
      ).toBe('store.conflict');
    }
  });

  it('reads its own writes on a follower node (no stale reads)', async () => {
    const lattice = 'readyourwrites';
    await storeOn(await cluster.connect(0), lattice).put('cutover', 'x', 0);
    const leader = await cluster.streamLeader(`KV_CUTOVER_${lattice}`);
    const [a, b] = cluster.nodes.filter((n) => n !== leader) as [NatsClusterNode, NatsClusterNode];
    const writer = storeOn(await a.connect(), lattice);
    const reader = storeOn(await b.connect(), lattice);
    let stale = 0;
    for (let i = 1; i <= 200; i++) {
      const revision = await writer.put('cutover', 'x', i);
      if ((await reader.get('cutover', 'x'))?.revision !== revision) stale++;
      if ((await writer.get('cutover', 'x'))?.revision !== revision) stale++;
    }
    expect(stale).toBe(0);
  });

  it('refuses replicas it cannot have, with a reason', () => {
    const nc = { isClosed: () => false } as unknown as NatsConnection;
    for (const replicas of [0, 6, 1.5]) {
      expect(() => createNatsStore(nc, { lattice: 'x', replicas })).toThrow(/replicas/);
    }
  });

  it('survives a crash of the node leading the KV stream: calls fail as retryable, then succeed with nothing lost', async () => {
    await healCluster();
    const lattice = 'failover';
    const stream = `KV_CUTOVER_${lattice}`;
    const seed = storeOn(await cluster.connect(0), lattice);
    const written = new Map<string, number>();
    for (let i = 0; i < 50; i++) written.set(`k${i}`, await seed.put('cutover', `k${i}`, { i }));

    const leader = await cluster.streamLeader(stream);
    const other = cluster.nodes.find((n) => n !== leader) as NatsClusterNode;
    // One client on a surviving node, one on the node that dies (it must fail over to another node).
    const survivor = storeOn(await other.connect(), lattice);
    const orphan = storeOn(await leader.connect(), lattice);
    await survivor.get('cutover', 'k0');
    await orphan.get('cutover', 'k0');

    const killedAt = Date.now();
    await leader.kill();
    const roundTrip = (store: StateStore, name: string) => async () => {
      const revision = await store.put('cutover', `after.${name}`, { after: name });
      const entry = await store.get('cutover', `after.${name}`);
      expect(entry?.revision).toBe(revision);
      return revision;
    };
    const [onSurvivor, onOrphan] = await Promise.all([
      retrying(roundTrip(survivor, 'survivor'), 30_000),
      retrying(roundTrip(orphan, 'orphan'), 30_000),
    ]);
    const newLeader = await cluster.streamLeader(stream);
    console.log(
      `KV stream leader ${leader.name} killed (SIGKILL); new leader ${newLeader.name}; ` +
        `put+get back after ${onSurvivor.ms} ms on ${other.name} (${onSurvivor.failures.length} retryable failures), ` +
        `after ${onOrphan.ms} ms on the client that was on ${leader.name} (${onOrphan.failures.length} retryable failures)`,
    );
    const reasons = new Set(
      [...onSurvivor.failures, ...onOrphan.failures].map((f) => f.message.replace(/"[^"]*"/, 'X')),
    );
    console.log(`  failures seen: ${[...reasons].join(' | ')}`);
    expect(newLeader.name).not.toBe(leader.name);
    for (const failure of [...onSurvivor.failures, ...onOrphan.failures]) {
      expect(failure.code).toBe('store.unavailable');
    }
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    // Revisions go on from where they were: nothing acknowledged before the crash was lost.
    expect(onSurvivor.value).toBeGreaterThan(50);
    for (const store of [survivor, orphan]) {
      // Listing keys makes a consumer, which needs the JetStream meta leader: it may still be being elected.
      expect((await retrying(() => store.keys('cutover', 'k'), 20_000)).value).toHaveLength(50);
      for (const [key, revision] of written) {
        expect(await store.get('cutover', key)).toEqual({ key, value: { i: Number(key.slice(1)) }, revision });
      }
    }

    // The crashed node comes back with its store and catches up.
    await leader.restart();
    const returned = storeOn(await leader.connect(), lattice);
    const back = await retrying(() => returned.get('cutover', 'after.survivor'), 20_000);
    expect(back.value?.revision).toBe(onSurvivor.value);
  });
});

// The whole store contract on buckets of 3 replicas (reads by the stream leader, keys without a consumer),
// each test's client on another node.
let lattices = 0;
describeStoreContract('nats, 3 replicas on a 3-node cluster', async () => {
  await healCluster();
  const lattice = `contract${++lattices}`;
  const nc = await cluster.connect(lattices % 3);
  // Making three streams of 3 replicas for each test may take a while on a busy machine.
  const store = createNatsStore(nc, { lattice, replicas: 3, timeoutMs: 10_000 });
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await nc.close();
      const jsm = await jetstreamManager(await cluster.connect());
      for (const bucket of BUCKET_NAMES) {
        await jsm.streams.delete(`KV_${buckets[bucket](lattice)}`).catch(() => false);
      }
    },
  };
});

describe('nats transport on a 3-node cluster', () => {
  it('answers requests across nodes, and keeps answering when a node neither side is on dies', async () => {
    await healCluster();
    const [n1, n2, n3] = cluster.nodes as [NatsClusterNode, NatsClusterNode, NatsClusterNode];
    const responder = createNatsTransport(await n1.connect());
    const requester = createNatsTransport(await n3.connect());
    responder.subscribe('cluster.echo', (msg) => enc.encode(`n1:${dec.decode(msg.data)}`));
    await responder.flush();
    const ask = (transport: Transport, text: string) => async () =>
      dec.decode(await transport.request('cluster.echo', enc.encode(text), { timeoutMs: 1_000 }));
    // Interest reaches n3 over the routes a moment after the subscription.
    expect((await retrying(ask(requester, 'before'), 5_000)).value).toBe('n1:before');

    await n2.kill();
    for (let i = 0; i < 20; i++) expect(await ask(requester, `after${i}`)()).toBe(`n1:after${i}`);
  });

  it('fails over when the node it is on dies: a responder answers again from another node', async () => {
    await healCluster();
    const [n1, n2, n3] = cluster.nodes as [NatsClusterNode, NatsClusterNode, NatsClusterNode];
    const responder = createNatsTransport(await n2.connect());
    const requester = createNatsTransport(await n3.connect());
    responder.subscribe('cluster.failover', () => enc.encode('pong'));
    await responder.flush();
    const ask = async () => dec.decode(await requester.request('cluster.failover', enc.encode(''), { timeoutMs: 500 }));
    expect((await retrying(ask, 5_000)).value).toBe('pong');

    await n2.kill();
    const failures: CutoverError[] = [];
    const back = await retrying(ask, 10_000, failures);
    console.log(
      `responder's node n2 killed: answering again after ${back.ms} ms (${failures.length} retryable failures: ${[
        ...new Set(failures.map((f) => f.code)),
      ].join(', ')})`,
    );
    expect(back.value).toBe('pong');
    expect(n1.running && n3.running).toBe(true);
    expect(failures.every((f) => f instanceof CutoverError && f.code.startsWith('transport.'))).toBe(true);
  });
});

describe('cutover CLI on a 3-node cluster', () => {
  it('takes every server in --nats and makes the KV buckets with --replicas', { timeout: 40_000 }, async () => {
    await healCluster();
    const lattice = 'cli';
    const nats = ['--nats', cluster.urls.join(','), '--lattice', lattice];
    const usage = await runCli(['orchestrator', ...nats, '--replicas', '0'], 20_000);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--replicas "0" is not from 1 to 5/);
    const orchestrator = startCli('orchestrator', ['orchestrator', ...nats, '--replicas', '3', '--holder', 'cli']);
    try {
      await orchestrator.waitFor(/^orchestrator ready/, 20_000);
      // Its start reads the cutover bucket, which makes it.
      const info = await retrying(async () => {
        try {
          return await cluster.streamInfo(`KV_CUTOVER_${lattice}`);
        } catch (err) {
          throw new CutoverError('store.unavailable', String(err));
        }
      }, 10_000);
      expect(info.value.config.num_replicas).toBe(3);
    } finally {
      await orchestrator.kill('SIGTERM');
    }
  });
});
