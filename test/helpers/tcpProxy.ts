// A loopback TCP proxy in front of a real server, so a test can cut ONE process's connection (a network
// partition of that process alone) while the server and everybody else keep running. `cut()` drops every
// connection and refuses new ones until `restore()`; the client's own reconnect logic does the rest.
import { type Server, type Socket, createServer, connect as netConnect } from 'node:net';

/** A running proxy; `await using` closes it. */
export interface TcpProxy extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT` style address of the proxy (scheme given at start). */
  readonly url: string;
  readonly port: number;
  /** True while cut. */
  readonly isCut: boolean;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on a random loopback port forwarding to `target` (`host:port`).
 * @example
 * await using proxy = await startTcpProxy(`127.0.0.1:${server.port}`);
 * const nc = await connect({ servers: proxy.url });
 * proxy.cut(); // this client alone is partitioned
 */
export async function startTcpProxy(
  target: string,
  options: {
    scheme?: string /** Delays what the server sends to the client (a slow or far client). */;
    delayMs?: number;
  } = {},
): Promise<TcpProxy> {
  const scheme = options.scheme ?? 'nats';
  const delayMs = options.delayMs ?? 0;
  const [host, portText] = splitHostPort(target);
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = netConnect({ host, port: Number(portText) });
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    if (delayMs <= 0) upstream.pipe(client);
    // Timers of one delay fire in the order they were set, so the byte stream keeps its order.
    else upstream.on('data', (chunk: Buffer) => setTimeout(() => client.destroyed || client.write(chunk), delayMs));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const port = address.port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    get isCut() {
      return cut;
    },
    cut: () => {
      cut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore: () => {
      cut = false;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function splitHostPort(target: string): [string, string] {
  const at = target.lastIndexOf(':');
  if (at <= 0) throw new Error(`proxy target "${target}" is not host:port`);
  return [target.slice(0, at), target.slice(at + 1)];
}
