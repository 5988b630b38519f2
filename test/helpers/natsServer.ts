import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';

/** The command that installs the server binary the NATS tests need. */
export const NATS_INSTALL_HINT = 'apt-get update && apt-get install -y nats-server';

export interface NatsServerUser {
  user: string;
  password: string;
}

export interface NatsServerOptions {
  /** Enable JetStream with a temp store dir (default true). */
  jetstream?: boolean;
  /** Extra nats-server config text appended verbatim (e.g. an `authorization { … }` block). */
  config?: string;
  /** Shorthand for an authorization block of users with full permissions. */
  users?: readonly NatsServerUser[];
  /** How long to wait for the server to accept connections (default 10 s). */
  startTimeoutMs?: number;
  /** Path of the server binary (default: `nats-server` on PATH or in /usr/sbin). */
  binary?: string;
}

/** A running `nats-server` on a random loopback port; `await using` kills it and removes its files. */
export interface NatsServerHandle extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT` (the port stays the same across restarts). */
  readonly url: string;
  readonly port: number;
  /** Temp directory holding the config, ports file and JetStream store. */
  readonly dir: string;
  /** Process id of the current server process (changes on restart). */
  readonly pid: number;
  readonly running: boolean;
  /** Connects to this server; connections made here are closed on dispose. */
  connect(options?: Partial<NodeConnectionOptions>): Promise<NatsConnection>;
  /** Kills the process (SIGKILL by default) and waits for it to exit; files are kept for `restart`. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the server if it runs, then starts it again on the same port with the same JetStream store. */
  restart(): Promise<void>;
}

/**
 * Starts a real nats-server for one test file; fails (never skips) when the binary is missing.
 * @example
 * await using server = await startNatsServer();
 * const nc = await server.connect();
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findBinary(options.binary);
  const dir = await mkdtemp(join(tmpdir(), 'cutover-nats-'));
  const jetstream = options.jetstream ?? true;
  const connections = connectionSet();
  let server: NatsProcess | undefined;
  let port = -1;

  const configText = () => {
    const lines = [`host: "127.0.0.1"`, `port: ${port}`];
    if (jetstream) lines.push(jetstreamBlock(join(dir, 'js')));
    if (options.users !== undefined && options.users.length > 0) {
      const users = options.users.map(
        (u) => `{ user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)} }`,
      );
      lines.push(`authorization { users = [ ${users.join(', ')} ] }`);
    }
    if (options.config !== undefined) lines.push(options.config);
    return lines.join('\n');
  };

  const start = async () => {
    server = await spawnNatsServer({ binary, dir, config: configText(), timeoutMs: options.startTimeoutMs });
    port = server.ports.client;
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    await server?.kill(signal);
  };

  // A test worker that exits without disposing must not leave a server behind.
  const reap = () => void server?.kill('SIGKILL');
  process.once('exit', reap);

  try {
    await start();
  } catch (err) {
    process.off('exit', reap);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const handle: NatsServerHandle = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    get pid() {
      return server?.running === true ? server.pid : -1;
    },
    get running() {
      return server?.running === true;
    },
    connect: (connectOptions = {}) => connections.connect({ servers: handle.url, ...connectOptions }),
    kill,
    async restart() {
      await kill();
      await start();
    },
    async [Symbol.asyncDispose]() {
      process.off('exit', reap);
      await connections.closeAll();
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The JetStream block of a test server's config: its store under `storeDir`, small limits. */
export function jetstreamBlock(storeDir: string): string {
  return `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 64MB, max_file_store: 1GB }`;
}

/** Connections a test helper made, closed together on dispose. */
export interface ConnectionSet {
  connect(options: Partial<NodeConnectionOptions>): Promise<NatsConnection>;
  closeAll(): Promise<void>;
}

export function connectionSet(): ConnectionSet {
  const connections = new Set<NatsConnection>();
  return {
    async connect(options) {
      const nc = await connect(options);
      connections.add(nc);
      void nc.closed().then(() => connections.delete(nc));
      return nc;
    },
    async closeAll() {
      await Promise.all([...connections].map((nc) => nc.close().catch(() => undefined)));
    },
  };
}

/** The ports one nats-server process listens on, from its ports file (`-1` where it has none). */
export interface NatsPorts {
  client: number;
  cluster: number;
  monitoring: number;
}

/** One nats-server process, accepting clients. */
export interface NatsProcess {
  readonly pid: number;
  readonly ports: NatsPorts;
  /** False once the process has exited. */
  readonly running: boolean;
  /** The last 8 kB the server wrote (stdout and stderr). */
  readonly output: string;
  /** Sends `signal` (SIGKILL by default) and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnNatsServerOptions {
  binary: string;
  /** Directory for `server.conf` and the ports file (kept across restarts; the ports file is not). */
  dir: string;
  /** The whole config text. Ports of `-1` are chosen by the server and read back from its ports file. */
  config: string;
  /** How long to wait for the server to accept connections (default 10 s). */
  timeoutMs?: number | undefined;
}

/** Writes `config` to `dir/server.conf`, starts nats-server on it and waits until it accepts clients. */
export async function spawnNatsServer(options: SpawnNatsServerOptions): Promise<NatsProcess> {
  const confPath = join(options.dir, 'server.conf');
  const portsDir = join(options.dir, 'ports');
  const timeoutMs = options.timeoutMs ?? 10_000;
  await rm(portsDir, { recursive: true, force: true });
  await mkdir(portsDir, { recursive: true });
  await writeFile(confPath, `${options.config}\n`);
  const proc: ChildProcess = spawn(options.binary, ['-c', confPath, '--ports_file_dir', portsDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let running = true;
  let exitError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      running = false;
      exitError = new Error(`nats-server exited (code ${code}, signal ${signal}):\n${output}`);
      resolve();
    });
    proc.once('error', (err) => {
      running = false;
      exitError = err;
      resolve();
    });
  });
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (running) proc.kill(signal);
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitError !== undefined) throw exitError;
    const ports = await readPorts(portsDir, proc.pid);
    if (ports !== undefined && (await acceptsConnections(ports.client))) {
      return {
        pid: proc.pid ?? -1,
        ports,
        get running() {
          return running;
        },
        get output() {
          return output;
        },
        kill,
      };
    }
    await sleep(20);
  }
  await kill();
  throw new Error(`nats-server did not accept connections within ${timeoutMs} ms:\n${output}`);
}

export function findBinary(explicit: string | undefined): string {
  if (explicit !== undefined) {
    if (existsSync(explicit)) return explicit;
    throw new Error(`nats-server not found at "${explicit}"; install it with: ${NATS_INSTALL_HINT}`);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const d of dirs) {
    if (d.length === 0) continue;
    const candidate = join(d, 'nats-server');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`nats-server is not installed; install it with: ${NATS_INSTALL_HINT}`);
}

async function readPorts(portsDir: string, pid: number | undefined): Promise<NatsPorts | undefined> {
  let names: string[];
  try {
    names = await readdir(portsDir);
  } catch {
    return undefined;
  }
  const name = names.find((n) => n.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  try {
    const parsed = JSON.parse(await readFile(join(portsDir, name), 'utf8')) as Record<string, string[] | undefined>;
    const portOf = (url: string | undefined) => {
      const port = url === undefined ? Number.NaN : Number(new URL(url).port);
      return Number.isInteger(port) && port > 0 ? port : -1;
    };
    const client = portOf(parsed.nats?.[0]);
    if (client < 0) return undefined;
    return { client, cluster: portOf(parsed.cluster?.[0]), monitoring: portOf(parsed.monitoring?.[0]) };
  } catch {
    // Written non-atomically: a half-written file is read again on the next poll.
    return undefined;
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    // The server greets with INFO as soon as it accepts a client.
    socket.once('data', (chunk) => done(chunk.toString().startsWith('INFO')));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
