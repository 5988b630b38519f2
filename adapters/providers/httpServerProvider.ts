// The built-in http-server provider's links: the public options and surface, one provider instance per
// spec, link checks (wasi:http/incoming-handler from this provider), calls on one link run one after
// another, and which socket a put binds or takes over and a delete parks. Sockets, parking and draining
// live in `httpServerListeners.ts`, the request → component call mapping in `httpServerRequests.ts`; this
// file must not reach into a socket's connections itself.
import {
  CutoverError,
  type LinkCallOptions,
  type LinkProvider,
  type LinkSpec,
  linkKey,
  type ProviderContext,
  type ProviderSpec,
} from 'cutover';
import { createListenerPool, type Listener } from './httpServerListeners';
import { createRequestHandler } from './httpServerRequests';

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

interface Binding {
  link: LinkSpec;
  /** Address asked for, after the bindMap: a change means a new socket. */
  requested: string;
  listener: Listener;
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

    const handle = createRequestHandler(context, { operation, maxBodyBytes });
    const pool = createListenerPool(home, { drainTimeoutMs, handoffMs });

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
          pool.release(existing.listener);
        }
        let listener = pool.claimable(key, requested);
        if (listener === undefined) {
          listener = await pool.bind(key, requested);
          if (callOptions.signal?.aborted) {
            // The host gave up on this call: holding a socket it believes failed would leak the address.
            await pool.drain(listener);
            checkSignal(callOptions.signal, key);
          }
        }
        const binding: Binding = { link, requested, listener };
        pool.attach(listener, key, (req, res) => handle(binding.link.target, req, res));
        bindings.set(key, binding);
        // This link's socket on its old address, parked by the delete, has nobody left to take it over.
        pool.drainParked(key);
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
        pool.park(existing.listener);
      });
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
      released: pool.released,
      async stop() {
        stopped = true;
        await Promise.all([...queues.values()]);
        const all = [...bindings.values()].map((b) => b.listener);
        bindings.clear();
        await Promise.all([...all, ...pool.parked()].map((l) => pool.drain(l)));
        await pool.released();
      },
    };
  };
}
