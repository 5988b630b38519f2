// NATS for the CLI: the optional peers (@nats-io/*) and the NATS adapter load only here, by dynamic import,
// so every other command runs without them (docs/architecture.md).
import { existsSync, readFileSync } from 'node:fs';
import { CutoverError, toCutoverError } from '../errors';
import type { StateStore } from '../ports/store';
import type { Transport } from '../ports/transport';
import { type OptionTable, UsageError, type Values, wholeNumber } from './args';

/** Where a command connects when neither `--nats` nor `CUTOVER_NATS_URL` says. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** The lattice when neither `--lattice` nor `CUTOVER_LATTICE` says (wasmCloud's default). */
export const DEFAULT_LATTICE = 'default';

/** What to run when the optional NATS peers are missing. */
export const NATS_INSTALL_HINT = 'npm install @nats-io/transport-node @nats-io/jetstream @nats-io/kv';

/** Connection options of every NATS command, each with its environment variable. */
export const CONNECTION_OPTIONS = {
  nats: {
    type: 'string',
    value: 'URL[,URL...]',
    help: `NATS server, or a comma-separated list of a cluster's servers (default ${DEFAULT_NATS_URL})`,
    env: 'CUTOVER_NATS_URL',
  },
  lattice: { type: 'string', value: 'L', help: `lattice name (default ${DEFAULT_LATTICE})`, env: 'CUTOVER_LATTICE' },
  user: { type: 'string', value: 'U', help: 'NATS user', env: 'CUTOVER_NATS_USER' },
  password: { type: 'string', value: 'P', help: 'NATS password', env: 'CUTOVER_NATS_PASSWORD' },
  creds: {
    type: 'string',
    value: 'FILE',
    help: 'credentials file: a NATS .creds (JWT and nkey seed) or one written by `cutover auth render --out`',
    env: 'CUTOVER_NATS_CREDS',
  },
  nkey: {
    type: 'string',
    value: 'FILE',
    help: 'file holding an nkey seed (SU...) to sign in with',
    env: 'CUTOVER_NATS_NKEY',
  },
  'tls-ca': {
    type: 'string',
    value: 'FILE',
    help: 'CA certificate (PEM) to verify the server with',
    env: 'CUTOVER_NATS_TLS_CA',
  },
  'tls-cert': {
    type: 'string',
    value: 'FILE',
    help: 'client certificate (PEM) for mutual TLS',
    env: 'CUTOVER_NATS_TLS_CERT',
  },
  'tls-key': {
    type: 'string',
    value: 'FILE',
    help: 'key (PEM) of the client certificate',
    env: 'CUTOVER_NATS_TLS_KEY',
  },
  'inbox-prefix': {
    type: 'string',
    value: 'P',
    help: 'inbox prefix to connect with (the rendered authorization gives each role its own)',
    env: 'CUTOVER_INBOX_PREFIX',
  },
} as const satisfies OptionTable;

/** Where a command connects and as whom, from {@link CONNECTION_OPTIONS}. */
export interface Connection {
  url: string;
  lattice: string;
  auth: NatsAuth;
}

function readSecret(flag: string, file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw new CutoverError('config.invalid', `cannot read --${flag} "${file}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function checkFile(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  if (!existsSync(file)) throw new CutoverError('config.invalid', `cannot read --${flag} "${file}": no such file`);
  return file;
}

/**
 * The connection of a command: server and lattice (with their defaults), then credentials: a `--creds` file
 * first (a NATS .creds, or the JSON file of `cutover auth render`), `--nkey`, then `--user`/`--password`/
 * `--inbox-prefix` over it, and TLS files. Each option falls back to its environment variable.
 */
export function connectionOf(values: Values<typeof CONNECTION_OPTIONS>): Connection {
  const auth: NatsAuth = {};
  if (values.creds !== undefined) {
    const bytes = readSecret('creds', values.creds);
    const text = new TextDecoder().decode(bytes);
    if (text.includes('-----BEGIN NATS USER JWT-----')) auth.jwtCreds = bytes;
    else {
      let file: unknown;
      try {
        file = JSON.parse(text);
      } catch {
        throw new CutoverError(
          'config.invalid',
          `--creds "${values.creds}" is neither a NATS .creds file nor one from \`cutover auth render\``,
        );
      }
      const f = (file ?? {}) as Record<string, unknown>;
      for (const key of ['user', 'password', 'inboxPrefix'] as const) {
        if (typeof f[key] === 'string') auth[key] = f[key];
      }
    }
  }
  if (values.nkey !== undefined) {
    const seed = new TextDecoder().decode(readSecret('nkey', values.nkey)).trim();
    if (!/^S[A-Z2-7]{50,}$/.test(seed))
      throw new CutoverError('config.invalid', `--nkey "${values.nkey}" holds no nkey seed`);
    auth.nkeySeed = new TextEncoder().encode(seed);
  }
  if (values.user !== undefined) auth.user = values.user;
  if (values.password !== undefined) auth.password = values.password;
  if (values['inbox-prefix'] !== undefined) auth.inboxPrefix = values['inbox-prefix'];
  const ca = checkFile('tls-ca', values['tls-ca']);
  const cert = checkFile('tls-cert', values['tls-cert']);
  const key = checkFile('tls-key', values['tls-key']);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (ca !== undefined || cert !== undefined) {
    auth.tls = {
      ...(ca === undefined ? {} : { caFile: ca }),
      ...(cert === undefined ? {} : { certFile: cert }),
      ...(key === undefined ? {} : { keyFile: key }),
    };
  }
  return { url: values.nats ?? DEFAULT_NATS_URL, lattice: values.lattice ?? DEFAULT_LATTICE, auth };
}

/** How a connection signs in; every field optional (anonymous). */
export interface NatsAuth {
  user?: string;
  password?: string;
  /** Inbox prefix (nats.js `inboxPrefix`): where this connection's replies come back (default `_INBOX`). */
  inboxPrefix?: string;
  /** A NATS .creds file's bytes (user JWT and nkey seed). */
  jwtCreds?: Uint8Array;
  /** An nkey seed. */
  nkeySeed?: Uint8Array;
  /** TLS files (PEM); a CA alone verifies the server, a certificate and key make it mutual. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface NatsConnectOptions extends NatsAuth {
  /** One server URL, or a comma-separated list of a cluster's servers (`nats://a:4222,nats://b:4222`). */
  url: string;
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
  if (servers.length === 0) throw new UsageError(`--nats "${url}" names no server`);
  return servers;
}

/** `--replicas`: JetStream replicas of the KV buckets, 1 (default) to 5. */
export function replicasFlag(value: string | undefined): number {
  const n = wholeNumber(value, 'replicas', 1);
  if (n < 1 || n > 5) throw new UsageError(`--replicas "${String(value)}" is not from 1 to 5`);
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
  const authenticator =
    options.jwtCreds !== undefined
      ? nats.credsAuthenticator(options.jwtCreds)
      : options.nkeySeed !== undefined
        ? nats.nkeyAuthenticator(options.nkeySeed)
        : undefined;
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
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(authenticator === undefined ? {} : { authenticator }),
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

/** `k=v` pairs (repeated flags or comma lists) to a record; a pair without `=` is a usage error. */
export function pairs(list: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list ?? []).flatMap((s) => s.split(','))) {
    if (item.length === 0) continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag} "${item}" is not FROM=TO`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
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
