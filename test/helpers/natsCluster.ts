import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { connectionSet, findBinary, jetstreamBlock, type NatsProcess, sleep, spawnNatsServer } from './natsServer';

export interface NatsClusterOptions {
  /** Number of nats-server processes (default 3; at least 2, JetStream clusters need routes). */
  nodes?: number;
  /** Enable clustered JetStream, each node with its own temp store dir (default true). */
  jetstream?: boolean;
  /** Extra nats-server config text appended verbatim to every node's config. */
  config?: string;
  /** The cluster's name (default `cutover-test`). */
  name?: string;
  /** How long to wait for the nodes to accept clients, route to each other and elect a meta leader (default 20 s). */
  startTimeoutMs?: number;
  /** Path of the server binary (default: `nats-server` on PATH or in /usr/sbin). */
  binary?: string;
}

/** One server of a {@link NatsClusterHandle}; its ports and store stay the same across restarts. */
export interface NatsClusterNode {
  readonly index: number;
  /** `server_name` (n1, n2, …): what JetStream reports as a stream's leader. */
  readonly name: string;
  /** `nats://127.0.0.1:PORT` for clients. */
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number;
  /** Port of the HTTP monitoring endpoint (`/healthz`, `/routez`, `/jsz`). */
  readonly monitoringPort: number;
  /** Temp directory holding this node's config, ports file and JetStream store. */
  readonly dir: string;
  /** Process id of the current server process (-1 while it is not running). */
  readonly pid: number;
  readonly running: boolean;
  /** Kills the process (SIGKILL by default: a crash) and waits for it to exit; its files are kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the node if it runs, starts it again with the same ports and store, and waits until it has rejoined. */
  restart(): Promise<void>;
  /** Connects to this node only (the client may still learn the others from the server); closed on dispose. */
  connect(options?: Partial<NodeConnectionOptions>): Promise<NatsConnection>;
}

/** A cluster of nats-server processes on loopback; `await using` kills them all and removes their files. */
export interface NatsClusterHandle extends AsyncDisposable {
  /** The client URL of each node, in node order. */
  readonly urls: readonly string[];
  readonly nodes: readonly NatsClusterNode[];
  /** Temp directory holding one directory per node. */
  readonly dir: string;
  /**
   * Connects to one node (by index), to a list of URLs, or (default) to every node. Clients reconnect forever
   * unless `options` say otherwise; connections made here are closed on dispose.
   */
  connect(target?: number | readonly string[], options?: Partial<NodeConnectionOptions>): Promise<NatsConnection>;
  /** JetStream's info on a stream (`$JS.API.STREAM.INFO.<stream>`), asked through any running node. */
  streamInfo(stream: string): Promise<StreamInfo>;
  /** The running node JetStream reports as the leader of `stream` (e.g. `KV_CUTOVER_default`), once there is one. */
  streamLeader(stream: string, timeoutMs?: number): Promise<NatsClusterNode>;
  /**
   * Makes `node` the leader of `stream` (asking the current leader to step down until JetStream elects it), so
   * a test can choose which clients the loss of the leader's node disconnects.
   */
  moveStreamLeader(stream: string, node: number | NatsClusterNode, timeoutMs?: number): Promise<void>;
  /** Resolves when every running node is routed to every other running node and reports JetStream healthy. */
  waitReady(timeoutMs?: number): Promise<void>;
}

const RECONNECT: Partial<NodeConnectionOptions> = { maxReconnectAttempts: -1, reconnectTimeWait: 100 };

/**
 * Starts a cluster of real nats-server processes for one test file, routed to each other on loopback with
 * clustered JetStream; fails (never skips) when the binary is missing.
 * @example
 * await using cluster = await startNatsCluster({ nodes: 3 });
 * const nc = await cluster.connect(2);
 * const leader = await cluster.streamLeader('KV_CUTOVER_default');
 * await leader.kill();
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const binary = findBinary(options.binary);
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 2) throw new Error(`a cluster needs at least 2 nodes, not ${count}`);
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  // Address-in-use races on the cluster ports chosen up front are retried with new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, count, timeoutMs, options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(
  binary: string,
  count: number,
  timeoutMs: number,
  options: NatsClusterOptions,
): Promise<NatsClusterHandle> {
  const root = await mkdtemp(join(tmpdir(), 'cutover-nats-cluster-'));
  const jetstream = options.jetstream ?? true;
  const clusterName = options.name ?? 'cutover-test';
  const connections = connectionSet();
  // Every node's config names every route, so the cluster ports are fixed before any node starts.
  const clusterPorts = await freePorts(count);
  const states = clusterPorts.map((clusterPort, index) => ({
    name: `n${index + 1}`,
    dir: join(root, `n${index + 1}`),
    clusterPort,
    // -1 until the first start picks them; restarts reuse them.
    port: -1,
    monitoringPort: -1,
    server: undefined as NatsProcess | undefined,
  }));

  const configText = (state: (typeof states)[number]) => {
    const routes = states
      .filter((s) => s !== state)
      .map((s) => JSON.stringify(`nats-route://127.0.0.1:${s.clusterPort}`));
    const lines = [
      `server_name: ${state.name}`,
      `host: "127.0.0.1"`,
      `port: ${state.port}`,
      `http: "127.0.0.1:${state.monitoringPort}"`,
      `cluster { name: ${JSON.stringify(clusterName)}, listen: "127.0.0.1:${state.clusterPort}", routes: [ ${routes.join(', ')} ] }`,
    ];
    if (jetstream) lines.push(jetstreamBlock(join(state.dir, 'js')));
    if (options.config !== undefined) lines.push(options.config);
    return lines.join('\n');
  };

  const startNode = async (state: (typeof states)[number]) => {
    await mkdir(state.dir, { recursive: true });
    const server = await spawnNatsServer({ binary, dir: state.dir, config: configText(state), timeoutMs });
    state.server = server;
    state.port = server.ports.client;
    state.monitoringPort = server.ports.monitoring;
  };

  const killNode = async (state: (typeof states)[number], signal: NodeJS.Signals = 'SIGKILL') => {
    await state.server?.kill(signal);
  };

  const running = () => states.filter((s) => s.server?.running === true);

  /** Why the cluster is not ready yet, or undefined when it is. */
  const notReady = async (): Promise<string | undefined> => {
    const up = running();
    for (const s of up) {
      const routez = await monitor<{ routes?: { remote_id?: string }[] }>(s.monitoringPort, 'routez');
      const routed = new Set((routez?.routes ?? []).map((r) => r.remote_id)).size;
      if (routed < up.length - 1) return `${s.name} has ${routed} of ${up.length - 1} routes`;
      if (!jetstream) continue;
      const jsz = await monitor<{ meta_cluster?: { leader?: string } }>(s.monitoringPort, 'jsz');
      if ((jsz?.meta_cluster?.leader ?? '') === '') return `${s.name} knows no JetStream meta leader`;
      const health = await monitor<{ status?: string; error?: string }>(s.monitoringPort, 'healthz');
      if (health?.status !== 'ok') return `${s.name} is not healthy: ${health?.error ?? 'no answer'}`;
    }
    return undefined;
  };

  const waitReady = async (waitMs = timeoutMs) => {
    const deadline = Date.now() + waitMs;
    let why = await notReady();
    while (why !== undefined) {
      if (Date.now() > deadline) {
        const logs = running()
          .map((s) => `--- ${s.name}\n${s.server?.output.slice(-2_000)}`)
          .join('\n');
        throw new Error(`nats cluster not ready within ${waitMs} ms: ${why}\n${logs}`);
      }
      await sleep(50);
      why = await notReady();
    }
  };

  // A test worker that exits without disposing must not leave servers behind.
  const reap = () => {
    for (const s of states) void s.server?.kill('SIGKILL');
  };
  process.once('exit', reap);

  const urlOf = (state: (typeof states)[number]) => `nats://127.0.0.1:${state.port}`;
  const dispose = async () => {
    process.off('exit', reap);
    await connections.closeAll();
    await Promise.all(states.map((s) => killNode(s)));
    await rm(root, { recursive: true, force: true });
  };

  try {
    await Promise.all(states.map(startNode));
    await waitReady();
  } catch (err) {
    await dispose();
    throw err;
  }

  const nodes: NatsClusterNode[] = states.map((state, index) => ({
    index,
    name: state.name,
    get url() {
      return urlOf(state);
    },
    port: state.port,
    clusterPort: state.clusterPort,
    monitoringPort: state.monitoringPort,
    dir: state.dir,
    get pid() {
      return state.server?.running === true ? state.server.pid : -1;
    },
    get running() {
      return state.server?.running === true;
    },
    kill: (signal) => killNode(state, signal),
    async restart() {
      await killNode(state);
      await startNode(state);
      await waitReady();
    },
    connect: (connectOptions = {}) => connections.connect({ ...RECONNECT, servers: urlOf(state), ...connectOptions }),
  }));
  const urls = nodes.map((n) => n.url);

  let admin: Promise<NatsConnection> | undefined;
  const adminConnection = () => {
    admin ??= connections.connect({ ...RECONNECT, servers: [...urls], name: 'natsCluster admin' });
    return admin;
  };
  const streamInfo = async (stream: string) => {
    const jsm = await jetstreamManager(await adminConnection(), { timeout: 2_000 });
    return jsm.streams.info(stream);
  };
  const streamLeader = async (stream: string, waitMs = 20_000, not?: NatsClusterNode) => {
    const deadline = Date.now() + waitMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const leader = (await streamInfo(stream)).cluster?.leader;
        const node = nodes.find((n) => n.name === leader && n.running);
        if (node !== undefined && node !== not) return node;
        last = `leader "${leader ?? ''}"`;
      } catch (err) {
        // No leader elected yet (or the asked node just died): ask again.
        last = err;
      }
      await sleep(50);
    }
    throw new Error(`no running leader of stream "${stream}" within ${waitMs} ms (last: ${String(last)})`);
  };

  return {
    urls,
    nodes,
    dir: root,
    connect: (target, connectOptions = {}) => {
      const servers = target === undefined ? [...urls] : typeof target === 'number' ? urlAt(urls, target) : [...target];
      return connections.connect({ ...RECONNECT, servers, ...connectOptions });
    },
    streamInfo,
    streamLeader: (stream, waitMs) => streamLeader(stream, waitMs),
    async moveStreamLeader(stream, to, waitMs = 20_000) {
      const target = typeof to === 'number' ? nodes[to] : to;
      if (target === undefined) throw new Error(`no node ${String(to)} in a cluster of ${nodes.length}`);
      const deadline = Date.now() + waitMs;
      let leader = await streamLeader(stream, waitMs);
      while (leader !== target) {
        if (Date.now() > deadline)
          throw new Error(`${target.name} did not become leader of "${stream}" in ${waitMs} ms`);
        // The leader hands over to one of its followers, picked by JetStream: ask again until it is `target`.
        await (await adminConnection())
          .request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 2_000 })
          .catch(() => undefined);
        const before = leader;
        leader = await streamLeader(stream, 5_000, before).catch(() => before);
      }
    },
    waitReady,
    [Symbol.asyncDispose]: dispose,
  };
}

function urlAt(urls: readonly string[], index: number): string[] {
  const url = urls[index];
  if (url === undefined) throw new Error(`no node ${index} in a cluster of ${urls.length}`);
  return [url];
}

/** Reads a monitoring endpoint as JSON; undefined when the node does not answer (yet). */
async function monitor<T>(port: number, path: string): Promise<T | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/${path}`, { signal: AbortSignal.timeout(1_000) });
    // /healthz answers 503 with a JSON reason while JetStream is not current.
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

/** `n` distinct loopback ports that were free a moment ago (the server binds them right after). */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (address === null || typeof address === 'string') reject(new Error('no port'));
              else resolve(address.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}
