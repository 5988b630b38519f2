import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  CutoverError,
  type LinkCallOptions,
  type LinkProvider,
  type LinkSpec,
  linkKey,
  type ProviderContext,
  type ProviderSpec,
  toCutoverError,
} from 'cutover';

/** The image wadm manifests use for the host's built-in HTTP server. */
export const HTTP_SERVER_BUILTIN_IMAGE = 'wasmcloud+builtin://http-server';
/** wasmCloud's default listen address when neither the link nor the provider config names one. */
export const HTTP_SERVER_DEFAULT_ADDRESS = '0.0.0.0:8000';

/** True for `wasmcloud+builtin://http-server` and `ghcr.io/wasmcloud/http-server[:tag|@digest]` images. */
export function isHttpServerImage(imageRef: string): boolean {
  const ref = imageRef.replace(/^oci:\/\//, '');
  return ref === HTTP_SERVER_BUILTIN_IMAGE || /^ghcr\.io\/wasmcloud\/http-server(?:[:@].*)?$/.test(ref);
}

/** Options of {@link createHttpServerProvider}. */
export interface HttpServerProviderOptions {
  /** Component operation each request invokes (default `handle`). */
  operation?: string;
  /** Largest request body accepted; larger gets 413 (default 1 MiB). */
  maxBodyBytes?: number;
  /** How long closing a server waits for in-flight requests before cutting connections (default 5 s). */
  drainTimeoutMs?: number;
  /** How long a deleted link's socket stays open for a put of the same address to take over (default 500 ms). */
  handoffMs?: number;
}

/** A running http-server provider: links plus the addresses its servers actually bound. */
export interface HttpServerProvider extends LinkProvider {
  readonly spec: ProviderSpec;
  /** Bound `host:port` of a link held now (port 0 resolved to the ephemeral port), else undefined. */
  boundAddress(link: Pick<LinkSpec, 'source' | 'namespace' | 'package' | 'name'>): string | undefined;
  /** Bound `host:port` by link key (see `linkKey`). */
  addresses(): ReadonlyMap<string, string>;
  /** Requests being served right now, over all links. */
  inFlight(): number;
  /** Resolves once every socket this instance let go of was taken over by a put or closed. */
  released(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * A listening socket and its connections. It outlives the link that opened it: a delete parks it (still
 * accepting, requests wait) and a put of the same address takes it over, so a swap never closes a connection.
 */
interface Listener {
  /** Parked listeners are found by host: two hosts in one process never take over each other's sockets. */
  readonly home: string;
  readonly requested: string;
  readonly bound: string;
  readonly net: NetServer;
  /** Per connection: requests seen, and requests not yet answered. */
  readonly sockets: Map<Socket, { requests: number; active: number }>;
  readonly responses: Set<ServerResponse>;
  readonly inFlight: Set<Promise<void>>;
  /** Requests that arrived while parked; each re-dispatches when the listener is taken over or drains. */
  readonly held: Array<() => void>;
  readonly closed: Promise<void>;
  state: 'serving' | 'parked' | 'draining';
  /** Key of the link that last held it: a port-0 address is taken over by that link only. */
  key: string;
  route: Route | undefined;
  parkTimer: NodeJS.Timeout | undefined;
  /** Called when a put takes the listener over or it closes (see `released()`). */
  readonly onLetGo: Set<() => void>;
  /** The `released()` set of the provider instance that let it go last. */
  letGoBy: Set<Listener> | undefined;
}

interface Binding {
  link: LinkSpec;
  /** Address asked for, after the bindMap: a change means a new socket. */
  requested: string;
  listener: Listener;
}

// Module-wide on purpose: a provider upgrade deletes the link on the old instance and puts it on a new one,
// and the socket has to cross from one to the other without closing.
const parkedListeners = new Set<Listener>();

/** Splits `host:port`, `[v6]:port` or `:port`; throws `link.failed` for anything else. */
function parseAddress(address: string, key: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new CutoverError('link.failed', `link "${key}" has invalid address "${address}": expected host:port`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function formatAddress(info: AddressInfo): string {
  return info.family === 'IPv6' ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
}

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

const errnoOf = (error: unknown): string | undefined =>
  error instanceof CutoverError && error.cause instanceof Error
    ? (error.cause as NodeJS.ErrnoException).code
    : undefined;

const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
};

function statusOf(error: CutoverError): number {
  if (error.code === 'invoke.notFound') return 404;
  return error.retryable ? 503 : 500;
}

/** Ends connections that sit between requests; a connection still waiting for its first request is spared. */
function closeIdle(listener: Listener): void {
  for (const [socket, s] of listener.sockets) if (s.requests > 0 && s.active === 0) socket.end();
}

/** Stops accepting; connections finish what they carry (answered with `Connection: close`), then close. */
function drain(listener: Listener, drainTimeoutMs: number): Promise<void> {
  if (listener.state === 'draining') return listener.closed;
  clearTimeout(listener.parkTimer);
  parkedListeners.delete(listener);
  listener.state = 'draining';
  listener.net.close();
  for (const res of listener.responses) if (!res.headersSent) res.setHeader('connection', 'close');
  for (const wake of listener.held.splice(0)) wake();
  closeIdle(listener);
  const cut = setTimeout(() => {
    for (const socket of listener.sockets.keys()) socket.destroy();
  }, drainTimeoutMs);
  // Connections still open keep the process alive by themselves; the deadline alone must not.
  cut.unref();
  void listener.closed.then(() => clearTimeout(cut));
  return listener.closed;
}

function setRef(listener: Listener, ref: boolean): void {
  if (ref) listener.net.ref();
  else listener.net.unref();
  for (const socket of listener.sockets.keys()) {
    if (ref) socket.ref();
    else socket.unref();
  }
}

/**
 * The built-in HTTP server provider: a link put from this provider to a component (wasi:http
 * incoming-handler) binds the link's `address` and routes every request body through the component's
 * gate (`context.invoke`), answering 200 with the reply, or 503/500 with the error code. Deleting a link
 * and putting one on the same address (a swap) hands the open socket and its connections over.
 * @example
 * const providers = createProviderRegistry({ [HTTP_SERVER_BUILTIN_IMAGE]: createHttpServerProvider() }, createMemoryProvider());
 */
export function createHttpServerProvider(
  options: HttpServerProviderOptions = {},
): (spec: ProviderSpec, context: ProviderContext) => Promise<HttpServerProvider> {
  const operation = options.operation ?? 'handle';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const drainTimeoutMs = options.drainTimeoutMs ?? 5_000;
  const handoffMs = options.handoffMs ?? 500;

  return async (spec, context) => {
    const home = `${context.lattice}\u0000${context.hostId}`;
    const bindings = new Map<string, Binding>();
    /** Listeners this instance parked or drained that are not yet taken over or closed. */
    const letGo = new Set<Listener>();
    // Calls on one link run one after another, so a put racing a delete cannot leak a server.
    const queues = new Map<string, Promise<unknown>>();
    let stopped = false;

    const serialize = <T>(key: string, work: () => Promise<T>): Promise<T> => {
      const previous = queues.get(key) ?? Promise.resolve();
      const next = previous.then(work, work);
      const settled = next.then(
        () => undefined,
        () => undefined,
      );
      queues.set(key, settled);
      void settled.then(() => {
        if (queues.get(key) === settled) queues.delete(key);
      });
      return next;
    };

    const checkSignal = (signal: AbortSignal | undefined, key: string) => {
      if (!signal?.aborted) return;
      const reason: unknown = signal.reason;
      throw new CutoverError('link.timeout', `link "${key}" call was abandoned by the host`, { cause: reason });
    };

    const handle = async (componentId: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
      try {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req as AsyncIterable<Buffer>) {
          size += chunk.byteLength;
          if (size > maxBodyBytes) {
            res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
            res.end(JSON.stringify({ code: 'invoke.failed', message: `request body over ${maxBodyBytes} bytes` }));
            return;
          }
          chunks.push(chunk);
        }
        const reply = await context.invoke(componentId, operation, new Uint8Array(Buffer.concat(chunks, size)));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': reply.byteLength });
        res.end(reply);
      } catch (cause) {
        const error = toCutoverError(cause, 'invoke.failed');
        if (res.headersSent) {
          res.destroy(error);
          return;
        }
        const status = statusOf(error);
        res.writeHead(status, {
          'content-type': 'application/json',
          'x-cutover-error': error.code,
          ...(status === 503 ? { 'retry-after': '1' } : {}),
        });
        res.end(JSON.stringify({ code: error.code, message: error.message }));
      }
    };

    /** A request on a socket whose link was deleted and not put again: it never reached a gate. */
    const refuse = (listener: Listener, res: ServerResponse) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(503, {
        'content-type': 'application/json',
        'x-cutover-error': 'link.failed',
        'retry-after': '1',
        connection: 'close',
      });
      res.end(JSON.stringify({ code: 'link.failed', message: `link "${listener.key}" was deleted` }));
    };

    const dispatch = (listener: Listener, req: IncomingMessage, res: ServerResponse) => {
      const route = listener.route;
      if (route !== undefined) {
        const work = route(req, res);
        listener.inFlight.add(work);
        void work.finally(() => listener.inFlight.delete(work));
      } else if (listener.state === 'parked') {
        listener.held.push(() => dispatch(listener, req, res));
      } else refuse(listener, res);
    };

    const listen = async (key: string, requested: string): Promise<Listener> => {
      const { host, port } = parseAddress(requested, key);
      const net = createNetServer();
      const http = createServer();
      http.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) => {
          const reason = (error.code && LISTEN_REASONS[error.code]) ?? error.message;
          reject(
            new CutoverError('link.failed', `link "${key}" cannot bind "${requested}": ${reason}`, { cause: error }),
          );
        };
        net.once('error', onError);
        net.listen({ host, port, exclusive: true }, () => {
          net.off('error', onError);
          resolve();
        });
      });
      const listener: Listener = {
        home,
        requested,
        bound: formatAddress(net.address() as AddressInfo),
        net,
        sockets: new Map(),
        responses: new Set(),
        inFlight: new Set(),
        held: [],
        closed: new Promise((resolve) => net.once('close', () => resolve())),
        state: 'serving',
        key,
        route: undefined,
        parkTimer: undefined,
        onLetGo: new Set(),
        letGoBy: undefined,
      };
      void listener.closed.then(() => {
        listener.letGoBy?.delete(listener);
        for (const done of listener.onLetGo) done();
        listener.onLetGo.clear();
      });
      // The listening socket is ours, not the http server's: closing it must not reset connections whose
      // first request is still in transit (http's close() ends every connection without a request).
      net.on('connection', (socket: Socket) => {
        listener.sockets.set(socket, { requests: 0, active: 0 });
        socket.once('close', () => listener.sockets.delete(socket));
        if (listener.state === 'parked') socket.unref();
        http.emit('connection', socket);
      });
      http.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const s = listener.sockets.get(req.socket);
        if (s !== undefined) {
          s.requests++;
          s.active++;
        }
        listener.responses.add(res);
        res.once('close', () => {
          listener.responses.delete(res);
          if (s === undefined) return;
          s.active--;
          if (listener.state === 'draining' && s.active === 0) req.socket.end();
        });
        if (listener.state === 'draining') res.setHeader('connection', 'close');
        dispatch(listener, req, res);
      });
      return listener;
    };

    /** Binds `requested`, first making room if a parked socket of this host holds the same port. */
    const bind = async (key: string, requested: string): Promise<Listener> => {
      try {
        return await listen(key, requested);
      } catch (error) {
        const port = parseAddress(requested, key).port;
        const blocking = [...parkedListeners].filter((l) => l.home === home && port !== 0 && portOf(l.bound) === port);
        if (errnoOf(error) !== 'EADDRINUSE' || blocking.length === 0) throw error;
        // Draining closes the listening socket at once; its connections finish in the background.
        for (const l of blocking) void drain(l, drainTimeoutMs);
        return listen(key, requested);
      }
    };

    /** A parked socket of this host that a put of `requested` for link `key` takes over, if any. */
    const claimable = (key: string, requested: string): Listener | undefined => {
      const ephemeral = parseAddress(requested, key).port === 0;
      let found: Listener | undefined;
      for (const l of parkedListeners) {
        if (l.home !== home) continue;
        const same = l.bound === requested || (l.requested === requested && (!ephemeral || l.key === key));
        if (same && (found === undefined || l.key === key)) found = l;
      }
      return found;
    };

    const attach = (listener: Listener, binding: Binding) => {
      clearTimeout(listener.parkTimer);
      parkedListeners.delete(listener);
      listener.letGoBy?.delete(listener);
      listener.letGoBy = undefined;
      for (const done of listener.onLetGo) done();
      listener.onLetGo.clear();
      listener.state = 'serving';
      listener.key = linkKey(binding.link);
      listener.route = (req, res) => handle(binding.link.target, req, res);
      setRef(listener, true);
      for (const wake of listener.held.splice(0)) wake();
    };

    const park = (listener: Listener) => {
      listener.state = 'parked';
      listener.route = undefined;
      setRef(listener, false);
      parkedListeners.add(listener);
      letGo.add(listener);
      listener.letGoBy = letGo;
      listener.parkTimer = setTimeout(() => void drain(listener, drainTimeoutMs), handoffMs);
      listener.parkTimer.unref();
    };

    const release = (listener: Listener) => {
      letGo.add(listener);
      listener.letGoBy = letGo;
      void drain(listener, drainTimeoutMs);
    };

    const checkLink = (link: LinkSpec, key: string) => {
      if (link.source !== spec.id) {
        throw new CutoverError('link.failed', `link "${key}" does not start at provider "${spec.id}"`);
      }
      if (link.namespace !== 'wasi' || link.package !== 'http' || !link.interfaces.includes('incoming-handler')) {
        throw new CutoverError(
          'link.failed',
          `link "${key}" is ${link.namespace}:${link.package}/${link.interfaces.join(',')}: http-server serves wasi:http/incoming-handler only`,
        );
      }
    };

    const putLink = (link: LinkSpec, callOptions: LinkCallOptions = {}) => {
      const key = linkKey(link);
      return serialize(key, async () => {
        if (stopped) throw new CutoverError('provider.failed', `provider "${spec.id}" is stopped`);
        checkSignal(callOptions.signal, key);
        checkLink(link, key);
        const requested = context.mapAddress(
          link.sourceConfig.address ?? spec.config.default_address ?? HTTP_SERVER_DEFAULT_ADDRESS,
        );
        const existing = bindings.get(key);
        if (existing && existing.requested === requested) {
          existing.link = link;
          return;
        }
        if (existing) {
          // The link moved: the old address stops accepting now, its connections finish in the background.
          bindings.delete(key);
          release(existing.listener);
        }
        let listener = claimable(key, requested);
        if (listener === undefined) {
          listener = await bind(key, requested);
          if (callOptions.signal?.aborted) {
            // The host gave up on this call: holding a socket it believes failed would leak the address.
            await drain(listener, drainTimeoutMs);
            checkSignal(callOptions.signal, key);
          }
        }
        const binding: Binding = { link, requested, listener };
        attach(listener, binding);
        bindings.set(key, binding);
        // This link's socket on its old address, parked by the delete, has nobody left to take it over.
        for (const l of [...parkedListeners]) if (l.home === home && l.key === key) void drain(l, drainTimeoutMs);
      });
    };

    const deleteLink = (link: LinkSpec, callOptions: LinkCallOptions = {}) => {
      const key = linkKey(link);
      return serialize(key, async () => {
        checkSignal(callOptions.signal, key);
        const existing = bindings.get(key);
        if (!existing) return;
        bindings.delete(key);
        // Not closed yet: a put of the same address (a swap) takes the socket over with its connections;
        // otherwise it drains after `handoffMs`. Calls in flight are answered either way.
        park(existing.listener);
      });
    };

    const whenLetGo = (listener: Listener) =>
      new Promise<void>((resolve) => {
        if (!letGo.has(listener)) resolve();
        else listener.onLetGo.add(resolve);
      });
    const released = async () => {
      await Promise.all([...letGo].map(whenLetGo));
    };

    return {
      id: spec.id,
      spec,
      putLink,
      deleteLink,
      links: () => [...bindings.values()].map((b) => b.link),
      boundAddress: (link) => bindings.get(linkKey(link))?.listener.bound,
      addresses: () => new Map([...bindings].map(([key, b]) => [key, b.listener.bound])),
      inFlight: () => [...bindings.values()].reduce((n, b) => n + b.listener.inFlight.size + b.listener.held.length, 0),
      released,
      async stop() {
        stopped = true;
        await Promise.all([...queues.values()]);
        const all = [...bindings.values()].map((b) => b.listener);
        bindings.clear();
        const parked = [...letGo].filter((l) => l.state === 'parked');
        await Promise.all([...all, ...parked].map((l) => drain(l, drainTimeoutMs)));
        await released();
      },
    };
  };
}
