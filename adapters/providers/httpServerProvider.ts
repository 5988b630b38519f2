import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
}

interface Binding {
  link: LinkSpec;
  /** Address asked for, after the bindMap: a change means delete-then-put. */
  requested: string;
  bound: string;
  server: Server;
  inFlight: Set<Promise<void>>;
}

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

const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
};

function statusOf(error: CutoverError): number {
  if (error.code === 'invoke.notFound') return 404;
  return error.retryable ? 503 : 500;
}

/**
 * The built-in HTTP server provider: a link put from this provider to a component (wasi:http
 * incoming-handler) binds the link's `address` and routes every request body through the component's
 * gate (`context.invoke`), answering 200 with the reply, or 503/500 with the error code.
 * @example
 * const providers = createProviderRegistry({ [HTTP_SERVER_BUILTIN_IMAGE]: createHttpServerProvider() }, createMemoryProvider());
 */
export function createHttpServerProvider(
  options: HttpServerProviderOptions = {},
): (spec: ProviderSpec, context: ProviderContext) => Promise<HttpServerProvider> {
  const operation = options.operation ?? 'handle';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const drainTimeoutMs = options.drainTimeoutMs ?? 5_000;

  return async (spec, context) => {
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

    const serve = (binding: Pick<Binding, 'link' | 'inFlight'>) => (req: IncomingMessage, res: ServerResponse) => {
      const work = handle(binding.link.target, req, res);
      binding.inFlight.add(work);
      void work.finally(() => binding.inFlight.delete(work));
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

    const listen = async (link: LinkSpec, key: string, requested: string): Promise<Binding> => {
      const { host, port } = parseAddress(requested, key);
      const state: Pick<Binding, 'link' | 'inFlight'> = { link, inFlight: new Set() };
      const server = createServer(serve(state));
      server.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) => {
          const reason = (error.code && LISTEN_REASONS[error.code]) ?? error.message;
          reject(
            new CutoverError('link.failed', `link "${key}" cannot bind "${requested}": ${reason}`, { cause: error }),
          );
        };
        server.once('error', onError);
        server.listen({ host, port, exclusive: true }, () => {
          server.off('error', onError);
          resolve();
        });
      });
      const binding: Binding = Object.assign(state, {
        requested,
        server,
        bound: formatAddress(server.address() as AddressInfo),
      });
      return binding;
    };

    const close = async (binding: Binding): Promise<void> => {
      const closed = new Promise<void>((resolve) => binding.server.close(() => resolve()));
      binding.server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...binding.inFlight]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      binding.server.closeAllConnections();
      await closed;
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
          bindings.delete(key);
          await close(existing);
        }
        const binding = await listen(link, key, requested);
        if (callOptions.signal?.aborted) {
          // The host gave up on this call: holding a socket it believes failed would leak the address.
          await close(binding);
          checkSignal(callOptions.signal, key);
        }
        bindings.set(key, binding);
      });
    };

    const deleteLink = (link: LinkSpec, callOptions: LinkCallOptions = {}) => {
      const key = linkKey(link);
      return serialize(key, async () => {
        checkSignal(callOptions.signal, key);
        const existing = bindings.get(key);
        if (!existing) return;
        bindings.delete(key);
        await close(existing);
      });
    };

    return {
      id: spec.id,
      spec,
      putLink,
      deleteLink,
      links: () => [...bindings.values()].map((b) => b.link),
      boundAddress: (link) => bindings.get(linkKey(link))?.bound,
      addresses: () => new Map([...bindings].map(([key, b]) => [key, b.bound])),
      inFlight: () => [...bindings.values()].reduce((n, b) => n + b.inFlight.size, 0),
      async stop() {
        stopped = true;
        await Promise.all([...queues.values()]);
        const all = [...bindings.values()];
        bindings.clear();
        await Promise.all(all.map(close));
      },
    };
  };
}
