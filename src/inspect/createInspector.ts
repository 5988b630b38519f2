import type { InspectionEvent } from 'xstate';
import { CutoverError } from '../errors';
import { createWebSocketSender } from './webSocketSender';

/** The default address of the Stately inspector's WebSocket bridge (`@statelyai/inspect/server`). */
export const DEFAULT_INSPECTOR_URL = 'ws://localhost:8080';

/** Options of {@link createInspector}. */
export interface InspectorOptions {
  /** WebSocket address of the inspector bridge; default {@link DEFAULT_INSPECTOR_URL}. */
  readonly url?: string;
  /** `false` gives an inspector that does nothing; default true. */
  readonly enabled?: boolean;
  /** Told once when nobody listens at `url`; default one line on stderr. */
  readonly onUnavailable?: (message: string) => void;
}

/** What `createActor(machine, { inspect })`, `createHost` and `createOrchestrator` take, plus `stop`. */
export interface Inspector {
  /** Pass as the `inspect` option of `createActor`, `createHost` or `createOrchestrator`. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Closes the connection; later events are dropped. */
  stop(): void;
}

/** The part of `@statelyai/inspect`'s inspector this module drives. */
interface StatelyInspector {
  inspect: { next?: (event: InspectionEvent) => void };
  stop(): void;
}

/**
 * Streams actor events to the Stately inspector over WebSocket, using `@statelyai/inspect`'s protocol.
 * Connects on the first event; with no inspector listening it says so once and never keeps the process alive.
 * @example
 * const inspector = createInspector({ url: 'ws://localhost:8080' });
 * const actor = createActor(rolloutMachine, { inspect: inspector.inspect, input });
 */
export function createInspector(options: InspectorOptions = {}): Inspector {
  const url = options.url ?? DEFAULT_INSPECTOR_URL;
  if (options.enabled === false) return { inspect: () => {}, stop: () => {} };
  const target = parseUrl(url);
  const onUnavailable =
    options.onUnavailable ?? ((message: string) => void process.stderr.write(`cutover: ${message}\n`));
  const sender = createWebSocketSender(target, {
    onUnavailable: (reason) =>
      onUnavailable(`no inspector at ${url} (${reason}); events are dropped until one listens`),
  });

  let stopped = false;
  let stately: StatelyInspector | undefined;
  let loading = false;
  const early: InspectionEvent[] = [];

  // Loaded on first use: the package is ESM-only and pulls in modules a run without inspection never needs.
  const load = (): Promise<void> =>
    import('@statelyai/inspect').then(({ createInspector: createStately }) => {
      const inspector = createStately({ send: (event) => sender.send(toJson(event)) }, { serialize: (event) => event });
      stately = inspector;
      for (const event of early.splice(0)) if (!stopped) inspector.inspect.next?.(event);
    });

  return {
    inspect(event) {
      if (stopped) return;
      if (stately !== undefined) {
        stately.inspect.next?.(event);
        return;
      }
      early.push(event);
      if (early.length > MAX_EARLY) early.shift();
      if (loading) return;
      loading = true;
      load().catch((error: unknown) => {
        early.length = 0;
        // An optional peer: say how to get it rather than print the resolver's message.
        const code = (error as { code?: unknown } | null)?.code;
        const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
        onUnavailable(
          missing
            ? 'inspector unavailable: @statelyai/inspect is not installed (npm install @statelyai/inspect)'
            : `inspector unavailable: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    },
    stop() {
      stopped = true;
      early.length = 0;
      sender.close();
    },
  };
}

function parseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CutoverError('config.invalid', `inspector url "${url}" is not a url`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new CutoverError('config.invalid', `inspector url "${url}" must start with ws:// or wss://`);
  }
  return parsed;
}

const MAX_DEPTH = 10;
/** Events kept while `@statelyai/inspect` loads. */
const MAX_EARLY = 500;

/** JSON of an inspection event: cycles cut, depth bounded, functions by name, actor refs by their toJSON. */
function toJson(value: unknown): string {
  const stack: object[] = [];
  const plain = (v: unknown, depth: number): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'function') return { type: v.name };
    if (typeof v !== 'object' || v === null) return v;
    if (stack.includes(v)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[Object]';
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return plain(toJSON.call(v), depth);
    stack.push(v);
    try {
      if (Array.isArray(v)) return v.map((item) => plain(item, depth + 1));
      if (v instanceof Map) return Object.fromEntries([...v].map(([k, item]) => [String(k), plain(item, depth + 1)]));
      if (v instanceof Set) return [...v].map((item) => plain(item, depth + 1));
      if (v instanceof Error) return { name: v.name, message: v.message };
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = plain(item, depth + 1);
      return out;
    } finally {
      stack.pop();
    }
  };
  return JSON.stringify(plain(value, 0)) ?? 'null';
}
