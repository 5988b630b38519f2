import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  CutoverError,
  type MessageHandler,
  type RequestManyOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Transport,
  type TransportMessage,
  type TransportSubscription,
  toCutoverError,
} from 'cutover';
import { toTransportError } from './natsErrors';

export interface NatsTransportOptions {
  /**
   * Drain and close the caller's connection in `close()`. Default false: the connection belongs to the
   * caller (it is often shared by a transport and a store), so `close()` only ends this transport's
   * subscriptions and pending requests.
   */
  closeConnection?: boolean;
  /** Inbox prefix for scatter/gather replies; must match the connection's `inboxPrefix` (default `_INBOX`). */
  inboxPrefix?: string;
  /** Told about every handler that threw or rejected, and every subscription the server ended (e.g. permissions). */
  onError?: (error: CutoverError, subject: string) => void;
  /**
   * Reply subjects a handler's answer may go to (prefixes; default `['_INBOX.']`). An answer to any other reply
   * subject (`$KV.…`, `$JS.API.…`: a requester trying to make this process write lattice state) is dropped and
   * reported to `onError` as `transport.invalidSubject`.
   */
  replyPrefixes?: readonly string[];
}

/**
 * The Transport port on NATS core over a connection the caller owns.
 * @example
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 * const transport = createNatsTransport(nc);
 * const reply = await transport.request(subjects.inventory('default', 'host-1'), bytes, { timeoutMs: 2_000 });
 */
export function createNatsTransport(nc: NatsConnection, options: NatsTransportOptions = {}): Transport {
  const onError = options.onError ?? (() => undefined);
  const inboxPrefix = options.inboxPrefix ?? '_INBOX';
  const replyPrefixes = options.replyPrefixes ?? ['_INBOX.'];
  const replyAllowed = (reply: string) => replyPrefixes.some((p) => reply.startsWith(p));
  const subscriptions = new Set<Subscription>();
  const pending = new Set<(err: CutoverError) => void>();
  let closedByUs = false;

  // Between a disconnect and the reconnect nats.js would buffer what we publish and send it once connected
  // again, possibly long after whoever sent it stopped being allowed to (a deposed lease holder). So while
  // disconnected nothing is accepted: `transport.unavailable`, an outage the caller waits out.
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting' || s.type === 'staleConnection') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  const unavailableError = (subject: string) =>
    new CutoverError('transport.unavailable', `no connection to the NATS server ("${subject}"); reconnecting`, {
      subject,
    });

  const isClosed = () => closedByUs || nc.isClosed() || nc.isDraining();
  const closedError = (subject: string) =>
    new CutoverError('transport.closed', `transport is closed ("${subject}")`, { subject });
  const ensureOpen = (subject: string) => {
    if (isClosed()) throw closedError(subject);
  };
  const ensureConnected = (subject: string) => {
    ensureOpen(subject);
    if (!connected) throw unavailableError(subject);
  };

  /** Settles with the first of `work` or `close()` of this transport, so no caller hangs after close. */
  const track = <T>(subject: string, work: (cancel: (fn: () => void) => void) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let cleanup: () => void = () => undefined;
      const onClose = (err: CutoverError) => {
        cleanup();
        reject(err);
      };
      pending.add(onClose);
      work((fn) => {
        cleanup = fn;
      }).then(
        (value) => {
          pending.delete(onClose);
          resolve(value);
        },
        (err: unknown) => {
          pending.delete(onClose);
          reject(toTransportError(err, subject));
        },
      );
    });

  const deliver = (handler: MessageHandler, msg: Msg, subject: string) => {
    const message: TransportMessage =
      msg.reply === undefined || msg.reply === ''
        ? { subject: msg.subject, data: msg.data }
        : { subject: msg.subject, data: msg.data, reply: msg.reply };
    const fail = (err: unknown) => {
      try {
        onError(toCutoverError(err), subject);
      } catch {
        // A throwing reporter must not stop delivery either.
      }
    };
    const respond = (out: Uint8Array | undefined | void) => {
      if (!(out instanceof Uint8Array) || message.reply === undefined || isClosed()) return;
      if (!replyAllowed(message.reply)) {
        fail(
          new CutoverError('transport.invalidSubject', `refused to answer on "${message.reply}": not an inbox`, {
            subject: message.reply,
          }),
        );
        return;
      }
      try {
        msg.respond(out);
      } catch (err) {
        fail(err);
      }
    };
    try {
      const out = handler(message);
      if (out instanceof Promise) out.then(respond, fail);
      else respond(out);
    } catch (err) {
      fail(err);
    }
  };

  return {
    get closed() {
      return isClosed();
    },

    get connected() {
      return connected && !isClosed();
    },

    publish(subject, data) {
      ensureConnected(subject);
      try {
        nc.publish(subject, data);
      } catch (err) {
        throw toTransportError(err, subject);
      }
    },

    subscribe(
      subject: string,
      handler: MessageHandler,
      subscribeOptions: SubscribeOptions = {},
    ): TransportSubscription {
      ensureOpen(subject);
      let sub: Subscription;
      try {
        sub = nc.subscribe(subject, {
          ...(subscribeOptions.queue === undefined ? {} : { queue: subscribeOptions.queue }),
          callback: (err, msg) => {
            if (err !== null) {
              onError(toTransportError(err, subject), subject);
              return;
            }
            deliver(handler, msg, subject);
          },
        });
      } catch (err) {
        throw toTransportError(err, subject);
      }
      subscriptions.add(sub);
      void sub.closed.then(() => subscriptions.delete(sub));
      let active = true;
      return {
        subject,
        unsubscribe() {
          if (!active) return;
          active = false;
          subscriptions.delete(sub);
          if (!sub.isClosed()) sub.unsubscribe();
        },
        async drain() {
          if (!active) return;
          active = false;
          if (!sub.isClosed()) await sub.drain().catch(() => sub.unsubscribe());
          subscriptions.delete(sub);
        },
      };
    },

    request(subject: string, data: Uint8Array, requestOptions: RequestOptions) {
      if (isClosed()) return Promise.reject(closedError(subject));
      if (!connected) return Promise.reject(unavailableError(subject));
      const { signal } = requestOptions;
      if (signal?.aborted === true) return Promise.reject(toCutoverError(signal.reason));
      return track(subject, async (cancel) => {
        const reply = nc.request(subject, data, { timeout: requestOptions.timeoutMs });
        if (signal === undefined) return (await reply).data;
        let onAbort: () => void = () => undefined;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(toCutoverError(signal.reason));
          signal.addEventListener('abort', onAbort, { once: true });
        });
        cancel(() => signal.removeEventListener('abort', onAbort));
        // The abandoned request still settles (at its timeout); keep that from surfacing as unhandled.
        reply.catch(() => undefined);
        try {
          return (await Promise.race([reply, aborted])).data;
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      });
    },

    requestMany(subject: string, data: Uint8Array, manyOptions: RequestManyOptions) {
      if (isClosed()) return Promise.reject(closedError(subject));
      if (!connected) return Promise.reject(unavailableError(subject));
      const { maxWaitMs, expected, stallMs } = manyOptions;
      if (expected !== undefined && expected <= 0) return Promise.resolve([]);
      // Own gather loop: nats.js strategies are exclusive; here maxWait, expected and stall all apply.
      return track(subject, (cancel) => {
        const replies: Uint8Array[] = [];
        let finish: () => void = () => undefined;
        const done = new Promise<Uint8Array[]>((resolve, reject) => {
          let stallTimer: ReturnType<typeof setTimeout> | undefined;
          let inbox: Subscription | undefined;
          const maxTimer = setTimeout(() => finish(), maxWaitMs);
          finish = () => {
            clearTimeout(maxTimer);
            if (stallTimer !== undefined) clearTimeout(stallTimer);
            if (inbox !== undefined && !inbox.isClosed()) inbox.unsubscribe();
            resolve(replies);
          };
          cancel(finish);
          try {
            inbox = nc.subscribe(createInbox(inboxPrefix), {
              callback: (err, msg) => {
                if (err !== null) {
                  finish();
                  return;
                }
                // A 503 status with no payload is the server saying nobody listens: nothing to gather.
                if (msg.headers?.code === 503 && msg.data.length === 0) {
                  finish();
                  return;
                }
                replies.push(msg.data);
                if (expected !== undefined && replies.length >= expected) {
                  finish();
                  return;
                }
                if (stallMs !== undefined) {
                  if (stallTimer !== undefined) clearTimeout(stallTimer);
                  stallTimer = setTimeout(() => finish(), stallMs);
                }
              },
            });
            nc.publish(subject, data, { reply: inbox.getSubject() });
          } catch (err) {
            clearTimeout(maxTimer);
            if (inbox !== undefined && !inbox.isClosed()) inbox.unsubscribe();
            reject(err);
          }
        });
        return done;
      });
    },

    async flush() {
      ensureOpen('flush');
      try {
        await nc.flush();
      } catch (err) {
        throw toTransportError(err, 'flush');
      }
    },

    async close() {
      if (closedByUs) return;
      closedByUs = true;
      for (const reject of [...pending]) reject(closedError('close'));
      pending.clear();
      for (const sub of [...subscriptions]) if (!sub.isClosed()) sub.unsubscribe();
      subscriptions.clear();
      if (options.closeConnection === true && !nc.isClosed()) {
        await nc.drain().catch(() => nc.close());
      }
    },
  };
}
