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
  const confPath = join(dir, 'server.conf');
  const portsDir = join(dir, 'ports');
  const storeDir = join(dir, 'js');
  const jetstream = options.jetstream ?? true;
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const connections = new Set<NatsConnection>();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let port = -1;
  let output = '';

  const writeConfig = async () => {
    const lines = [`host: "127.0.0.1"`, `port: ${port}`];
    if (jetstream) {
      lines.push(`jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 64MB, max_file_store: 1GB }`);
    }
    if (options.users !== undefined && options.users.length > 0) {
      const users = options.users.map(
        (u) => `{ user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)} }`,
      );
      lines.push(`authorization { users = [ ${users.join(', ')} ] }`);
    }
    if (options.config !== undefined) lines.push(options.config);
    await writeFile(confPath, `${lines.join('\n')}\n`);
  };

  const start = async () => {
    await rm(portsDir, { recursive: true, force: true });
    await mkdir(portsDir, { recursive: true });
    await writeConfig();
    output = '';
    const proc = spawn(binary, ['-c', confPath, '--ports_file_dir', portsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let exitedEarly: Error | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitedEarly = new Error(`nats-server exited (code ${code}, signal ${signal}):\n${output}`);
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('error', (err) => {
        exitedEarly = err;
        if (child === proc) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exitedEarly !== undefined) throw exitedEarly;
      const found = await readPort(portsDir, proc.pid);
      if (found !== undefined && (await acceptsConnections(found))) {
        port = found;
        return;
      }
      await sleep(20);
    }
    proc.kill('SIGKILL');
    await exited;
    throw new Error(`nats-server did not accept connections within ${timeoutMs} ms:\n${output}`);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const proc = child;
    if (proc === undefined) return;
    proc.kill(signal);
    await exited;
  };

  // A test worker that exits without disposing must not leave a server behind.
  const reap = () => child?.kill('SIGKILL');
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
      return child?.pid ?? -1;
    },
    get running() {
      return child !== undefined;
    },
    async connect(connectOptions = {}) {
      const nc = await connect({ servers: handle.url, ...connectOptions });
      connections.add(nc);
      void nc.closed().then(() => connections.delete(nc));
      return nc;
    },
    kill,
    async restart() {
      await kill();
      await start();
    },
    async [Symbol.asyncDispose]() {
      process.off('exit', reap);
      await Promise.all([...connections].map((nc) => nc.close().catch(() => undefined)));
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

function findBinary(explicit: string | undefined): string {
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

async function readPort(portsDir: string, pid: number | undefined): Promise<number | undefined> {
  let names: string[];
  try {
    names = await readdir(portsDir);
  } catch {
    return undefined;
  }
  const name = names.find((n) => n.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  try {
    const parsed = JSON.parse(await readFile(join(portsDir, name), 'utf8')) as { nats?: string[] };
    const url = parsed.nats?.[0];
    if (url === undefined) return undefined;
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
