// NATS for the CLI: the optional peers (@nats-io/*) and the NATS adapter load only here, by dynamic import,
// so every other command runs without them (DESIGN §2).
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CutoverError, isCutoverError, toCutoverError } from '../errors';
import type { StateStore } from '../ports/store';
import type { Transport } from '../ports/transport';

/** What to run when the optional NATS peers are missing. */
export const NATS_INSTALL_HINT = 'npm install @nats-io/transport-node @nats-io/jetstream @nats-io/kv';

/** Flags every NATS command takes (for node:util parseArgs). */
export const NATS_FLAGS = {
  nats: { type: 'string' },
  lattice: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  creds: { type: 'string' },
  'inbox-prefix': { type: 'string' },
} as const;

/** Usage lines of the credential flags every NATS command takes. */
export const CREDENTIAL_USAGE = `  --user U --password P         NATS credentials
  --creds FILE                  a credentials file from \`cutover auth render --out\` (user, password, inbox prefix)
  --inbox-prefix P              inbox prefix to connect with (the rendered authorization gives each role its own)
`;

/** The credentials of a connection: `--creds` file first, then `--user`/`--password`/`--inbox-prefix` over it. */
export function credentialFlags(
  values: Record<string, unknown>,
): Pick<NatsConnectOptions, 'user' | 'password' | 'inboxPrefix'> {
  const out: Pick<NatsConnectOptions, 'user' | 'password' | 'inboxPrefix'> = {};
  if (typeof values.creds === 'string') {
    let file: unknown;
    try {
      file = JSON.parse(readFileSync(values.creds, 'utf8'));
    } catch (error) {
      throw new CutoverError(
        'config.invalid',
        `cannot read --creds "${values.creds}": ${toCutoverError(error).message}`,
      );
    }
    const f = (file ?? {}) as Record<string, unknown>;
    for (const key of ['user', 'password', 'inboxPrefix'] as const) {
      if (typeof f[key] === 'string') out[key] = f[key];
    }
  }
  if (typeof values.user === 'string') out.user = values.user;
  if (typeof values.password === 'string') out.password = values.password;
  if (typeof values['inbox-prefix'] === 'string') out.inboxPrefix = values['inbox-prefix'];
  return out;
}

export interface NatsConnectOptions {
  /** One server URL, or a comma-separated list of a cluster's servers (`nats://a:4222,nats://b:4222`). */
  url: string;
  user?: string;
  password?: string;
  /** Inbox prefix (nats.js `inboxPrefix`): where this connection's replies come back (default `_INBOX`). */
  inboxPrefix?: string;
  /** Connection name shown by the server (`cutover host h1`). */
  name?: string;
  /** Trace disconnects and reconnects with {@link debug} (long-running commands, under `CUTOVER_DEBUG`). */
  trace?: boolean;
}

/** A NATS connection with the cutover ports over it; `close()` drains it. */
export interface NatsLink {
  readonly transport: Transport;
  /**
   * The JetStream KV store of a lattice (made on first use; later calls for the lattice return the same store).
   * `replicas`: JetStream replicas of the buckets it creates (default 1; 3 on a 3-node cluster).
   */
  store(lattice: string, options?: { replicas?: number }): StateStore;
  /** Resolves when the connection is closed for good (by us or by the server giving up). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

async function load<T>(specifier: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes('@nats-io/')) {
      throw new CutoverError(
        'notProvided',
        `NATS support needs optional packages that are not installed (${specifier}): ${NATS_INSTALL_HINT}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** The servers of a `--nats` value: one URL or a comma-separated list (blanks around commas ignored). */
export function natsServers(url: string): string[] {
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0) throw new CutoverError('message.invalid', `--nats "${url}" names no server`);
  return servers;
}

/** `--replicas`: JetStream replicas of the KV buckets, 1 (default) to 5. */
export function replicasFlag(value: unknown): number {
  const n = integer(value, 'replicas', 1);
  if (n < 1 || n > 5) throw new CutoverError('message.invalid', `--replicas "${String(value)}" is not from 1 to 5`);
  return n;
}

/**
 * Connects to NATS with reconnects that never give up (a restarted server is picked up again). Given a
 * cluster's servers (`url` a comma-separated list), it connects to any of them and, when that node dies,
 * reconnects to another (the servers also tell the client about the rest of their cluster).
 * @example
 * const link = await connectNats({ url: 'nats://127.0.0.1:4222' }); const api = createApiClient(link.transport, { lattice });
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLink> {
  const servers = natsServers(options.url);
  const nats = await load('@nats-io/transport-node', () => import('@nats-io/transport-node'));
  const adapter = await load('cutover/adapters/nats', () => import('cutover/adapters/nats'));
  let nc: Awaited<ReturnType<typeof nats.connect>>;
  try {
    nc = await nats.connect({
      servers,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.password === undefined ? {} : { pass: options.password }),
      ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }),
    });
  } catch (error) {
    throw new CutoverError('transport.closed', `cannot connect to "${options.url}": ${toCutoverError(error).message}`, {
      cause: error,
    });
  }
  if (options.trace === true) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'reconnecting' || s.type === 'ping') continue;
        debug(`nats ${s.type}${s.type === 'error' ? ` ${s.error.message}` : 'server' in s ? ` ${s.server}` : ''}`);
      }
    })();
  }
  const transport = adapter.createNatsTransport(
    nc,
    options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix },
  );
  const stores = new Map<string, StateStore>();
  const closed = nc.closed().then(() => undefined);
  return {
    transport,
    closed,
    store(lattice, storeOptions = {}) {
      let store = stores.get(lattice);
      if (store === undefined) {
        store = adapter.createNatsStore(nc, { lattice, ...storeOptions });
        stores.set(lattice, store);
      }
      return store;
    },
    async close() {
      await transport.close().catch(() => undefined);
      for (const store of stores.values()) await store.close().catch(() => undefined);
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      await closed;
    },
  };
}

/** True when `CUTOVER_DEBUG` is set: long-running commands then trace what they do on stderr. */
export function debugEnabled(): boolean {
  const v = process.env.CUTOVER_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}

/** One timestamped trace line on stderr when `CUTOVER_DEBUG` is set. */
export function debug(line: string): void {
  if (debugEnabled()) process.stderr.write(`${new Date().toISOString()} debug ${line}\n`);
}

/** A required string flag, or a usage error naming it. */
export function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) throw new CutoverError('message.invalid', `missing --${name}`);
  return value;
}

/** `k=v` pairs (repeated flags or comma lists) to a record; a pair without `=` is a usage error. */
export function pairs(list: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list ?? []).flatMap((s) => s.split(','))) {
    if (item.length === 0) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CutoverError('message.invalid', `--${flag} "${item}" is not FROM=TO`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** A non-negative integer flag (milliseconds, counts), or `fallback`. */
export function integer(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 0)
    throw new CutoverError('message.invalid', `--${flag} "${String(value)}" is not a whole number`);
  return n;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's arguments; on a usage error prints it with the usage and returns undefined (exit 2).
 * `check` may throw CutoverErrors for values that parse but make no sense.
 */
export function parseFlags<O extends Options, T>(
  command: string,
  args: string[],
  options: O,
  usage: string,
  check: (parsed: {
    values: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>>['values'];
    positionals: string[];
  }) => T,
): T | undefined {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return check(parsed);
  } catch (error) {
    const message = isCutoverError(error) || error instanceof TypeError ? error.message : String(error);
    process.stderr.write(`cutover ${command}: ${message.split('\n')[0]}\n${usage}`);
    return undefined;
  }
}

/** Resolves with the signal's name on SIGTERM or SIGINT, or `closed` when the connection ends for good. */
export function untilStopped(closed: Promise<void>): Promise<NodeJS.Signals | 'closed'> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => () => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(signal);
    };
    const onTerm = on('SIGTERM');
    const onInt = on('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    void closed.then(() => resolve('closed'));
  });
}
