// The client side of the memory bus: one connection's publish, subscribe, request (one reply, timeout,
// abort, no responders) and requestMany (scatter/gather window, stall, expected count), its private request
// inboxes, and closing (subscriptions dropped, pending requests failed with `transport.closed`). It owns a
// connection's own state; it must not route or deliver (`busRouter.ts`) nor keep the bus's connection list
// (`createMemoryBus.ts`, told through `onClose`).
import {
  CutoverError,
  type MessageHandler,
  type RequestManyOptions,
  type RequestOptions,
  type SubscribeOptions,
  type TransportSubscription,
} from 'cutover';
import { type BusRouter, INBOX, type Sub } from './busRouter';
import type { MemoryConnection } from './createMemoryBus';
import type { Deadline } from './Deadlines';
import { patternTokens } from './subjectIndex';

const closedError = (subject?: string) =>
  new CutoverError('transport.closed', 'connection is closed', subject === undefined ? {} : { subject });

/** One connection to a memory bus; `partitioned` is set by the bus for fault injection. */
export class Connection implements MemoryConnection {
  readonly name: string;
  partitioned = false;
  #closed = false;
  readonly #router: BusRouter;
  readonly #onClose: (conn: Connection) => void;
  readonly #subs = new Set<Sub>();
  /** Pending requests, failed with `transport.closed` on close. */
  readonly #pending = new Set<(error: CutoverError) => void>();
  readonly #inboxPrefix: string;
  #inboxSeq = 0;

  constructor(router: BusRouter, name: string, seq: number, onClose: (conn: Connection) => void) {
    this.#router = router;
    this.#onClose = onClose;
    this.name = name;
    this.#inboxPrefix = `${INBOX}${seq}.`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** False while partitioned: like a NATS client that lost its server and is reconnecting. */
  get connected(): boolean {
    return !this.#closed && !this.partitioned;
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.#closed) throw closedError(subject);
    const tokens = this.#router.tokens(subject);
    this.#router.route(this, subject, tokens, data.slice());
  }

  subscribe(subject: string, handler: MessageHandler, options: SubscribeOptions = {}): TransportSubscription {
    if (this.#closed) throw closedError(subject);
    const tokens = patternTokens(subject);
    const sub: Sub = { conn: this, subject, tokens, queue: options.queue, handler, active: true };
    this.#router.add(sub);
    this.#subs.add(sub);
    const router = this.#router;
    const subs = this.#subs;
    return {
      subject,
      unsubscribe() {
        if (!sub.active) return;
        sub.active = false;
        subs.delete(sub);
        router.remove(sub);
      },
    };
  }

  #inbox(handler: MessageHandler): Sub {
    const subject = `${this.#inboxPrefix}${++this.#inboxSeq}`;
    const sub: Sub = { conn: this, subject, tokens: [subject], queue: undefined, handler, active: true };
    this.#router.inboxes.set(subject, sub);
    return sub;
  }

  #dropInbox(sub: Sub): void {
    sub.active = false;
    this.#router.inboxes.delete(sub.subject);
  }

  /** A request's routing tokens, or why it cannot be sent (a closed connection, an invalid subject). */
  #requestTokens(subject: string): { ok: true; tokens: readonly string[] } | { ok: false; error: unknown } {
    if (this.#closed) return { ok: false, error: closedError(subject) };
    try {
      return { ok: true, tokens: this.#router.tokens(subject) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    const routed = this.#requestTokens(subject);
    if (!routed.ok) return Promise.reject(routed.error);
    const { tokens } = routed;
    if (options.signal?.aborted) return Promise.reject(abortedError(subject));
    const deadlines = this.#router.deadlines;
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: Deadline | undefined;
      const finish = (): void => {
        this.#dropInbox(inbox);
        timer?.cancel();
        this.#pending.delete(fail);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: CutoverError): void => {
        finish();
        reject(error);
      };
      const onAbort = (): void => fail(abortedError(subject));
      const inbox = this.#inbox((msg) => {
        finish();
        resolve(msg.data);
      });
      const receivers = this.#router.route(this, subject, tokens, data.slice(), inbox.subject);
      if (receivers === 0 && !this.partitioned) {
        fail(
          new CutoverError('transport.noResponders', `no responders on "${subject}"`, {
            subject,
          }),
        );
        return;
      }
      this.#pending.add(fail);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      timer = deadlines.after(options.timeoutMs, () =>
        fail(
          new CutoverError('transport.timeout', `no reply on "${subject}" within ${options.timeoutMs}ms`, {
            subject,
          }),
        ),
      );
    });
  }

  requestMany(subject: string, data: Uint8Array, options: RequestManyOptions): Promise<Uint8Array[]> {
    const routed = this.#requestTokens(subject);
    if (!routed.ok) return Promise.reject(routed.error);
    const { tokens } = routed;
    const deadlines = this.#router.deadlines;
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const replies: Uint8Array[] = [];
      let window: Deadline | undefined;
      let stall: Deadline | undefined;
      const finish = (): void => {
        this.#dropInbox(inbox);
        window?.cancel();
        stall?.cancel();
        this.#pending.delete(fail);
      };
      const done = (): void => {
        finish();
        resolve(replies);
      };
      const fail = (error: CutoverError): void => {
        finish();
        reject(error);
      };
      const inbox = this.#inbox((msg) => {
        replies.push(msg.data);
        if (options.expected !== undefined && replies.length >= options.expected) return done();
        if (options.stallMs !== undefined) {
          stall?.cancel();
          stall = deadlines.after(options.stallMs, done);
        }
      });
      const receivers = this.#router.route(this, subject, tokens, data.slice(), inbox.subject);
      // Nobody to ask: the gather is complete and empty (a scatter to zero hosts is not an error).
      if (receivers === 0 && !this.partitioned) return done();
      this.#pending.add(fail);
      window = deadlines.after(options.maxWaitMs, done);
    });
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#router.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of this.#subs) {
      sub.active = false;
      this.#router.remove(sub);
    }
    this.#subs.clear();
    for (const fail of [...this.#pending]) fail(closedError());
    this.#onClose(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function abortedError(subject: string): CutoverError {
  return new CutoverError('aborted', `request on "${subject}" aborted`, { subject });
}
