// The http-server provider's sockets, which outlive the links that open them: binding an address (making
// room when this host's own parked socket holds the port), counting each connection's requests, parking a
// socket when its link is deleted (still accepting, requests held), handing it over to a put of the same
// address, and draining it (answer what is in flight, then close). It owns the module-wide set of parked
// sockets and the `released()` bookkeeping; it must not decide which link binds where, check links, or
// turn a request into a component call (`httpServerProvider.ts`, `httpServerRequests.ts`).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { CutoverError } from 'cutover';

/** Serves one request on a listener held by a link. */
export type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * A listening socket and its connections. It outlives the link that opened it: a delete parks it (still
 * accepting, requests wait) and a put of the same address takes it over, so a swap never closes a connection.
 */
export interface Listener {
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

/** Serves a request through the listener's route, holds it while parked, else refuses it. */
const dispatch = (listener: Listener, req: IncomingMessage, res: ServerResponse): void => {
  const route = listener.route;
  if (route !== undefined) {
    const work = route(req, res);
    listener.inFlight.add(work);
    void work.finally(() => listener.inFlight.delete(work));
  } else if (listener.state === 'parked') {
    listener.held.push(() => dispatch(listener, req, res));
  } else refuse(listener, res);
};

/** Options of {@link createListenerPool}. */
export interface ListenerPoolOptions {
  /** How long draining waits for in-flight requests before cutting connections. */
  drainTimeoutMs: number;
  /** How long a parked socket waits for a put of the same address before it drains. */
  handoffMs: number;
}

/** The sockets one provider instance holds or has let go of, on host `home`. */
export interface ListenerPool {
  /** Binds `requested` for link `key`, first making room if a parked socket of this host holds the same port. */
  bind(key: string, requested: string): Promise<Listener>;
  /** A parked socket of this host that a put of `requested` for link `key` takes over, if any. */
  claimable(key: string, requested: string): Listener | undefined;
  /** Gives `listener` to link `key`, serving through `route`, and wakes the requests it held. */
  attach(listener: Listener, key: string, route: Route): void;
  /** Parks `listener` after a delete: it keeps accepting until a put takes it over or `handoffMs` passes. */
  park(listener: Listener): void;
  /** Lets go of `listener` at once (its link moved): it drains in the background. */
  release(listener: Listener): void;
  /** Drains `listener` (see {@link drain}). */
  drain(listener: Listener): Promise<void>;
  /** Drains this host's parked sockets last held by link `key`: nobody is left to take them over. */
  drainParked(key: string): void;
  /** Sockets this instance let go of that are still parked. */
  parked(): Listener[];
  /** Resolves once every socket this instance let go of was taken over by a put or closed. */
  released(): Promise<void>;
}

/** A {@link ListenerPool} for one provider instance on host `home`. */
export function createListenerPool(home: string, options: ListenerPoolOptions): ListenerPool {
  const { drainTimeoutMs, handoffMs } = options;
  /** Listeners this instance parked or drained that are not yet taken over or closed. */
  const letGo = new Set<Listener>();

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

  const attach = (listener: Listener, key: string, route: Route) => {
    clearTimeout(listener.parkTimer);
    parkedListeners.delete(listener);
    listener.letGoBy?.delete(listener);
    listener.letGoBy = undefined;
    for (const done of listener.onLetGo) done();
    listener.onLetGo.clear();
    listener.state = 'serving';
    listener.key = key;
    listener.route = route;
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

  const whenLetGo = (listener: Listener) =>
    new Promise<void>((resolve) => {
      if (!letGo.has(listener)) resolve();
      else listener.onLetGo.add(resolve);
    });

  return {
    bind,
    claimable,
    attach,
    park,
    release,
    drain: (listener) => drain(listener, drainTimeoutMs),
    drainParked(key) {
      for (const l of [...parkedListeners]) if (l.home === home && l.key === key) void drain(l, drainTimeoutMs);
    },
    parked: () => [...letGo].filter((l) => l.state === 'parked'),
    async released() {
      await Promise.all([...letGo].map(whenLetGo));
    },
  };
}
