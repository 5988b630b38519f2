// A `notify` that POSTs each notification as JSON to a URL, in order, from a bounded queue: the rollout only
// enqueues (never waits), a full queue drops its oldest event, and each delivery is retried on a network
// error, a timeout, 429 or 5xx.
import type { Clock } from '../ports/clock';
import { systemClock } from '../ports/clock';
import type { NotificationEvent } from './notifications';

/** Options of {@link createWebhookNotifier}. */
export interface WebhookNotifierOptions {
  url: string;
  /** The fetch to use; defaults to the global one. */
  fetch?: typeof globalThis.fetch;
  /** Extra headers of every POST (e.g. authorization). */
  headers?: Record<string, string>;
  /** Tries after the first for one event (default 3). */
  retries?: number;
  /** Events waiting beyond the one in flight; a full queue drops its oldest (default 100). */
  queueSize?: number;
  /** Bound of one POST (ms, default 5,000). */
  timeoutMs?: number;
  /** Wait before the first retry, doubled for each next one up to 30 s (ms, default 500). */
  backoffMs?: number;
  /** The clock timeouts and backoff run on; defaults to wall time. */
  clock?: Clock;
}

/** Counters of a {@link WebhookNotifier}. */
export interface WebhookNotifierStats {
  /** Events the receiver accepted (2xx). */
  delivered: number;
  /** Events given up on after every try, or refused with a 4xx other than 429. */
  failed: number;
  /** Events dropped from a full queue. */
  dropped: number;
  /** Retries made. */
  retries: number;
  /** Events waiting now (besides the one in flight). */
  queued: number;
}

/** A `notify` function that delivers to a webhook; also waits for or ends its queue. */
export interface WebhookNotifier {
  (event: NotificationEvent): void;
  readonly stats: Readonly<WebhookNotifierStats>;
  /** Resolves once every queued event was delivered or given up on. */
  flush(): Promise<void>;
  /** Stops: drops what is queued and aborts the POST in flight. */
  close(): void;
}

/**
 * A notifier that POSTs every event as JSON to `url`, in order, with retries and a bounded queue that never
 * blocks a rollout. Pass it as `notify` to createOrchestrator.
 * @example
 * const notify = createWebhookNotifier({ url: 'http://127.0.0.1:9000/hook', retries: 3, queueSize: 100 });
 * const orch = await createOrchestrator({ lattice, transport, store, notify });
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const doFetch = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? systemClock;
  const retries = Math.max(0, options.retries ?? 3);
  const queueSize = Math.max(1, options.queueSize ?? 100);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const backoffMs = options.backoffMs ?? 500;
  const queue: NotificationEvent[] = [];
  const stats: WebhookNotifierStats = { delivered: 0, failed: 0, dropped: 0, retries: 0, queued: 0 };
  const idle: (() => void)[] = [];
  const stop = new AbortController();
  let sending = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clock.clearTimeout(handle);
        stop.signal.removeEventListener('abort', wake);
        resolve();
      };
      const handle = clock.setTimeout(wake, ms);
      stop.signal.addEventListener('abort', wake, { once: true });
    });

  /** One POST: `ok`, `retry` (worth trying again) or `refused`. */
  const post = async (event: NotificationEvent): Promise<'ok' | 'retry' | 'refused'> => {
    // Aborted by the timeout or by close(); the listener on the notifier's own signal goes with the call.
    const call = new AbortController();
    const abort = () => call.abort();
    const handle = clock.setTimeout(abort, timeoutMs);
    stop.signal.addEventListener('abort', abort, { once: true });
    try {
      const res = await doFetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: JSON.stringify(event),
        signal: call.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'ok';
      return res.status === 429 || res.status >= 500 ? 'retry' : 'refused';
    } catch {
      return 'retry';
    } finally {
      clock.clearTimeout(handle);
      stop.signal.removeEventListener('abort', abort);
    }
  };

  const deliver = async (event: NotificationEvent) => {
    for (let attempt = 0; ; attempt++) {
      const r = await post(event);
      if (stop.signal.aborted) return;
      if (r === 'ok') {
        stats.delivered++;
        return;
      }
      if (r === 'refused' || attempt >= retries) {
        stats.failed++;
        return;
      }
      stats.retries++;
      await sleep(Math.min(30_000, backoffMs * 2 ** attempt));
      if (stop.signal.aborted) return;
    }
  };

  const pump = async () => {
    sending = true;
    try {
      for (let event = queue.shift(); event !== undefined && !stop.signal.aborted; event = queue.shift()) {
        stats.queued = queue.length;
        await deliver(event);
      }
    } finally {
      sending = false;
      stats.queued = queue.length;
      for (const resolve of idle.splice(0)) resolve();
    }
  };

  const notify = (event: NotificationEvent): void => {
    if (stop.signal.aborted) return;
    queue.push(event);
    if (queue.length > queueSize) {
      queue.shift();
      stats.dropped++;
    }
    stats.queued = queue.length;
    if (!sending) void pump();
  };
  return Object.assign(notify, {
    stats,
    flush: () => (sending || queue.length > 0 ? new Promise<void>((resolve) => idle.push(resolve)) : Promise.resolve()),
    close: () => {
      stop.abort();
      queue.length = 0;
      stats.queued = 0;
    },
  });
}
