import {
  type Clock,
  CutoverError,
  type MessageHandler,
  type RequestManyOptions,
  type RequestOptions,
  type SubscribeOptions,
  systemClock,
  type Transport,
  type TransportMessage,
  type TransportSubscription,
  isCutoverError,
} from 'cutover';
import { type Deadline, Deadlines } from './Deadlines';
import { SubjectIndex, literalTokens, patternTokens } from './subjectIndex';

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions {
  /** Clock for request timeouts and scatter/gather windows (default: the system clock). */
  clock?: Clock;
  /**
   * Called when a handler throws or rejects with something that is not a CutoverError (a bug, not a
   * refusal). Default: `console.error`. A CutoverError thrown by a handler is a deliberate silent refusal:
   * no reply is sent and nothing is logged, exactly like a NATS responder that does not answer.
   */
  onHandlerError?: (error: unknown, message: TransportMessage) => void;
}

/** One connection to a memory bus: a full {@link Transport}, disposable with `await using`. */
export interface MemoryConnection extends Transport, AsyncDisposable {
  readonly name: string;
}

/** An in-process NATS-like server: every connection made by `connect` shares its subjects. */
export interface MemoryBus extends AsyncDisposable {
  connect(name?: string): MemoryConnection;
  /** Fault injection: messages to and from `connection` are dropped until {@link MemoryBus.heal}. */
  partition(connection: Transport): void;
  heal(connection: Transport): void;
  /** Live subscriptions on the bus (inboxes of pending requests excluded). */
  readonly subscriptions: number;
  /** Closes every connection. */
  close(): Promise<void>;
}

interface Sub {
  readonly conn: Connection;
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  active: boolean;
}

interface Match {
  readonly plain: readonly Sub[];
  readonly groups: ReadonlyArray<{ readonly members: readonly Sub[]; next: number }>;
}

interface Delivery {
  sub: Sub;
  msg: TransportMessage;
}

const BATCH = 10_000;
const MATCH_CACHE = 10_000;
const INBOX = '_INBOX.';
/** Tokens are never read for inbox subjects. */
const EMPTY: readonly string[] = [];

const schedule: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

const closedError = (subject?: string) =>
  new CutoverError('transport.closed', 'connection is closed', subject === undefined ? {} : { subject });

class Bus implements MemoryBus {
  readonly index = new SubjectIndex<Sub>();
  readonly inboxes = new Map<string, Sub>();
  readonly clock: Clock;
  readonly deadlines: Deadlines;
  readonly onHandlerError: (error: unknown, message: TransportMessage) => void;
  readonly #connections = new Set<Connection>();
  /** Match results per subject; cleared on every subscription change (request inboxes are not in it). */
  readonly #matches = new Map<string, Match>();
  #queue: Delivery[] = [];
  #head = 0;
  #scheduled = false;
  #enqueued = 0;
  #delivered = 0;
  #flushes: Array<{ target: number; resolve: () => void }> = [];
  #connSeq = 0;

  constructor(options: MemoryBusOptions) {
    this.clock = options.clock ?? systemClock;
    this.deadlines = new Deadlines(this.clock);
    this.onHandlerError =
      options.onHandlerError ??
      ((error, message) => {
        console.error(`cutover memory bus: handler for "${message.subject}" failed`, error);
      });
  }

  get subscriptions(): number {
    return this.index.size;
  }

  connect(name?: string): MemoryConnection {
    const seq = ++this.#connSeq;
    const conn = new Connection(this, name ?? `memory-${seq}`, seq);
    this.#connections.add(conn);
    return conn;
  }

  forget(conn: Connection): void {
    this.#connections.delete(conn);
  }

  partition(connection: Transport): void {
    this.#own(connection).partitioned = true;
  }

  heal(connection: Transport): void {
    this.#own(connection).partitioned = false;
  }

  #own(connection: Transport): Connection {
    if (!(connection instanceof Connection) || !this.#connections.has(connection)) {
      throw new TypeError('not a live connection of this bus');
    }
    return connection;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#connections].map((c) => c.close()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Routes one message; returns how many subscriptions it was queued for (0 = no responders). */
  route(from: Connection, subject: string, tokens: readonly string[], data: Uint8Array, reply?: string): number {
    if (from.partitioned) return 0;
    const msg: TransportMessage = reply === undefined ? { subject, data } : { subject, data, reply };
    let count = 0;
    // Reply subjects are private to their requester: only its inbox receives them.
    if (subject.startsWith(INBOX)) {
      const inbox = this.inboxes.get(subject);
      if (inbox === undefined || inbox.conn.partitioned) return 0;
      this.#enqueue(inbox, msg);
      return 1;
    }
    const { plain, groups } = this.#match(subject, tokens);
    for (const sub of plain) {
      if (sub.conn.partitioned) continue;
      this.#enqueue(sub, msg);
      count++;
    }
    for (const group of groups) {
      const members = group.members;
      // Round-robin, skipping partitioned members (a real server would not know them any more).
      for (let tries = 0; tries < members.length; tries++) {
        const sub = members[group.next++ % members.length]!;
        if (sub.conn.partitioned) continue;
        this.#enqueue(sub, msg);
        count++;
        break;
      }
    }
    return count;
  }

  #match(subject: string, tokens: readonly string[]): Match {
    const cached = this.#matches.get(subject);
    if (cached !== undefined) return cached;
    const plain: Sub[] = [];
    const byQueue = new Map<string, Sub[]>();
    for (const sub of this.index.match(tokens)) {
      if (sub.queue === undefined) plain.push(sub);
      else {
        const members = byQueue.get(sub.queue);
        if (members === undefined) byQueue.set(sub.queue, [sub]);
        else members.push(sub);
      }
    }
    const groups = [...byQueue.values()].map((members) => ({ members, next: 0 }));
    const match: Match = { plain, groups };
    if (!subject.startsWith(INBOX)) {
      if (this.#matches.size >= MATCH_CACHE) this.#matches.clear();
      this.#matches.set(subject, match);
    }
    return match;
  }

  /** Tokens of a publish subject; none for one matched before (so valid): routing uses its cached match. */
  tokens(subject: string): readonly string[] {
    return this.#matches.has(subject) ? EMPTY : literalTokens(subject);
  }

  /** Adds a subscription to the index; the match cache is stale from here on. */
  add(sub: Sub): void {
    this.index.add(sub.tokens, sub);
    this.#matches.clear();
  }

  remove(sub: Sub): void {
    this.index.remove(sub.tokens, sub);
    this.#matches.clear();
  }

  #enqueue(sub: Sub, msg: TransportMessage): void {
    this.#queue.push({ sub, msg });
    this.#enqueued++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      schedule(this.#drain);
    }
  }

  readonly #drain = (): void => {
    this.#scheduled = false;
    // Bounded batches: a handler that publishes synchronously cannot starve timers and I/O.
    const stop = this.#head + BATCH;
    while (this.#head < this.#queue.length && this.#head < stop) {
      const { sub, msg } = this.#queue[this.#head]!;
      this.#queue[this.#head] = undefined as unknown as Delivery;
      this.#head++;
      this.#delivered++;
      if (sub.active && !sub.conn.partitioned) this.#invoke(sub, msg);
    }
    if (this.#head >= this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else {
      if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#scheduled = true;
      schedule(this.#drain);
    }
    if (this.#flushes.length > 0) {
      const done = this.#flushes.filter((f) => f.target <= this.#delivered);
      if (done.length > 0) {
        this.#flushes = this.#flushes.filter((f) => f.target > this.#delivered);
        for (const f of done) f.resolve();
      }
    }
  };

  #invoke(sub: Sub, msg: TransportMessage): void {
    let result: ReturnType<MessageHandler>;
    try {
      result = sub.handler(msg);
    } catch (error) {
      this.#failed(error, msg);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.#reply(sub, msg, value),
        (error: unknown) => this.#failed(error, msg),
      );
    } else {
      this.#reply(sub, msg, result);
    }
  }

  #reply(sub: Sub, msg: TransportMessage, value: Uint8Array | undefined | void): void {
    if (!(value instanceof Uint8Array) || msg.reply === undefined || sub.conn.closed) return;
    this.route(sub.conn, msg.reply, EMPTY, value);
  }

  #failed(error: unknown, msg: TransportMessage): void {
    if (!isCutoverError(error)) this.onHandlerError(error, msg);
  }

  flush(): Promise<void> {
    const target = this.#enqueued;
    if (target <= this.#delivered) return Promise.resolve();
    return new Promise((resolve) => this.#flushes.push({ target, resolve }));
  }
}

class Connection implements MemoryConnection {
  readonly name: string;
  partitioned = false;
  #closed = false;
  readonly #bus: Bus;
  readonly #subs = new Set<Sub>();
  /** Pending requests, failed with `transport.closed` on close. */
  readonly #pending = new Set<(error: CutoverError) => void>();
  readonly #inboxPrefix: string;
  #inboxSeq = 0;

  constructor(bus: Bus, name: string, seq: number) {
    this.#bus = bus;
    this.name = name;
    this.#inboxPrefix = `${INBOX}${seq}.`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.#closed) throw closedError(subject);
    const tokens = this.#bus.tokens(subject);
    this.#bus.route(this, subject, tokens, data.slice());
  }

  subscribe(subject: string, handler: MessageHandler, options: SubscribeOptions = {}): TransportSubscription {
    if (this.#closed) throw closedError(subject);
    const tokens = patternTokens(subject);
    const sub: Sub = { conn: this, subject, tokens, queue: options.queue, handler, active: true };
    this.#bus.add(sub);
    this.#subs.add(sub);
    const bus = this.#bus;
    const subs = this.#subs;
    return {
      subject,
      unsubscribe() {
        if (!sub.active) return;
        sub.active = false;
        subs.delete(sub);
        bus.remove(sub);
      },
    };
  }

  #inbox(handler: MessageHandler): Sub {
    const subject = `${this.#inboxPrefix}${++this.#inboxSeq}`;
    const sub: Sub = { conn: this, subject, tokens: [subject], queue: undefined, handler, active: true };
    this.#bus.inboxes.set(subject, sub);
    return sub;
  }

  #dropInbox(sub: Sub): void {
    sub.active = false;
    this.#bus.inboxes.delete(sub.subject);
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(closedError(subject));
    let tokens: readonly string[];
    try {
      tokens = this.#bus.tokens(subject);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.signal?.aborted) return Promise.reject(abortedError(subject));
    const deadlines = this.#bus.deadlines;
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
      const receivers = this.#bus.route(this, subject, tokens, data.slice(), inbox.subject);
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
    if (this.#closed) return Promise.reject(closedError(subject));
    let tokens: readonly string[];
    try {
      tokens = this.#bus.tokens(subject);
    } catch (error) {
      return Promise.reject(error);
    }
    const deadlines = this.#bus.deadlines;
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
      const receivers = this.#bus.route(this, subject, tokens, data.slice(), inbox.subject);
      // Nobody to ask: the gather is complete and empty (a scatter to zero hosts is not an error).
      if (receivers === 0 && !this.partitioned) return done();
      this.#pending.add(fail);
      window = deadlines.after(options.maxWaitMs, done);
    });
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#bus.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of this.#subs) {
      sub.active = false;
      this.#bus.remove(sub);
    }
    this.#subs.clear();
    for (const fail of [...this.#pending]) fail(closedError());
    this.#bus.forget(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function abortedError(subject: string): CutoverError {
  return new CutoverError('aborted', `request on "${subject}" aborted`, { subject });
}

/**
 * An in-process message bus with NATS semantics (subject wildcards, queue groups, request/reply,
 * immediate no-responders). Delivery is asynchronous and in order per subscription; a handler that
 * throws a CutoverError sends no reply (the requester times out), as a silent NATS responder would.
 * @example
 * const bus = createMemoryBus();
 * const host = bus.connect('host'); const orchestrator = bus.connect('orchestrator');
 */
export function createMemoryBus(options: MemoryBusOptions = {}): MemoryBus {
  return new Bus(options);
}
