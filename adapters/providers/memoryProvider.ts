import {
  CutoverError,
  type LinkCallOptions,
  type LinkProvider,
  type LinkProviderFactory,
  type LinkSpec,
  linkKey,
  type ProviderSpec,
  type ProviderRegistry,
} from 'cutover';

/** Options of {@link createMemoryProvider}: fault injection for tests and demos. */
export interface MemoryProviderOptions {
  /** A reason to refuse this link with `link.failed` (e.g. "tls certificate missing"), or undefined to accept. */
  refuse?: (link: LinkSpec, op: 'put' | 'delete') => string | undefined;
  /** True to never answer this link call (an old provider that ignores the request); only an abort ends it. */
  hang?: (link: LinkSpec, op: 'put' | 'delete') => boolean;
  /** Called for every started instance (tests look at what each instance holds). */
  onStart?: (instance: MemoryProvider) => void;
}

/** A memory provider instance: the links it holds plus its spec and whether it was stopped. */
export interface MemoryProvider extends LinkProvider {
  readonly spec: ProviderSpec;
  readonly stopped: boolean;
  /** Every link call answered, in order (`put:<linkKey>` / `delete:<linkKey>`). */
  readonly calls: readonly string[];
}

function never(signal: AbortSignal | undefined, link: LinkSpec): Promise<void> {
  return new Promise((_resolve, reject) => {
    signal?.addEventListener(
      'abort',
      () => reject(new CutoverError('link.timeout', `link "${linkKey(link)}" got no answer`)),
      { once: true },
    );
  });
}

/**
 * A real LinkProvider that records links in memory; it can refuse a link with a reason or never answer.
 * @example
 * const providers = createProviderRegistry({}, createMemoryProvider({ refuse: (l) => l.target === 'kv' ? 'tls certificate missing' : undefined }))
 */
export function createMemoryProvider(options: MemoryProviderOptions = {}): LinkProviderFactory {
  return async (spec) => {
    const held = new Map<string, LinkSpec>();
    const calls: string[] = [];
    let stopped = false;
    const call = async (op: 'put' | 'delete', link: LinkSpec, callOptions?: LinkCallOptions) => {
      if (stopped) throw new CutoverError('provider.failed', `provider "${spec.id}" is stopped`);
      if (options.hang?.(link, op) === true) return never(callOptions?.signal, link);
      const reason = options.refuse?.(link, op);
      if (reason !== undefined) throw new CutoverError('link.failed', `link "${linkKey(link)}" refused: ${reason}`);
      if (op === 'put') held.set(linkKey(link), link);
      else held.delete(linkKey(link));
      calls.push(`${op}:${linkKey(link)}`);
    };
    const instance: MemoryProvider = {
      id: spec.id,
      spec,
      get stopped() {
        return stopped;
      },
      calls,
      putLink: (link, o) => call('put', link, o),
      deleteLink: (link, o) => call('delete', link, o),
      links: () => [...held.values()],
      stop: async () => {
        stopped = true;
      },
    };
    options.onStart?.(instance);
    return instance;
  };
}

/**
 * A ProviderRegistry from image-reference prefixes to factories, longest prefix first, else `fallback`.
 * @example
 * createProviderRegistry({ 'wasmcloud+builtin://http-server': httpServer }, createMemoryProvider())
 */
export function createProviderRegistry(
  map: Record<string, LinkProviderFactory>,
  fallback?: LinkProviderFactory,
): ProviderRegistry {
  const prefixes = Object.keys(map).sort((a, b) => b.length - a.length);
  return {
    resolve(imageRef) {
      const prefix = prefixes.find((p) => imageRef.startsWith(p));
      return prefix === undefined ? fallback : map[prefix];
    },
  };
}
