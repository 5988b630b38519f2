// The server side of the memory bus: the subscription index and its per-subject match cache, routing a
// message to plain subscribers, one member per queue group and private request inboxes, and the ordered,
// batched, asynchronous delivery queue that calls handlers, sends their replies and resolves flushes. It
// owns everything a NATS server would; it must not know how a client builds a request or a subscription
// (`memoryConnection.ts`) nor which connections exist (`createMemoryBus.ts`) beyond each endpoint's flags.
import { type Clock, type MessageHandler, type TransportMessage, isCutoverError } from 'cutover';
import { Deadlines } from './Deadlines';
import { SubjectIndex, literalTokens } from './subjectIndex';

/** What the router needs of a connection: whether it is cut off from the bus or closed. */
export interface Endpoint {
  readonly partitioned: boolean;
  readonly closed: boolean;
}

/** One subscription or request inbox on the bus. */
export interface Sub {
  readonly conn: Endpoint;
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
/** Prefix of every request inbox subject; replies to it go only to its requester. */
export const INBOX = '_INBOX.';
/** Tokens are never read for inbox subjects. */
const EMPTY: readonly string[] = [];

const schedule: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/** Routes and delivers the messages of one bus. */
export class BusRouter {
  readonly index = new SubjectIndex<Sub>();
  readonly inboxes = new Map<string, Sub>();
  readonly deadlines: Deadlines;
  readonly onHandlerError: (error: unknown, message: TransportMessage) => void;
  /** Match results per subject; cleared on every subscription change (request inboxes are not in it). */
  readonly #matches = new Map<string, Match>();
  #queue: Delivery[] = [];
  #head = 0;
  #scheduled = false;
  #enqueued = 0;
  #delivered = 0;
  #flushes: Array<{ target: number; resolve: () => void }> = [];

  constructor(clock: Clock, onHandlerError: (error: unknown, message: TransportMessage) => void) {
    this.deadlines = new Deadlines(clock);
    this.onHandlerError = onHandlerError;
  }

  /** Routes one message; returns how many subscriptions it was queued for (0 = no responders). */
  route(from: Endpoint, subject: string, tokens: readonly string[], data: Uint8Array, reply?: string): number {
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
