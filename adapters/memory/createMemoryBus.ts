// The memory bus's public surface and its connection registry: the options and interfaces adapters and
// tests use, connecting (names and inbox prefixes), fault injection by partitioning a connection, and
// closing every connection. Routing and delivery live in `busRouter.ts`, a connection's requests and
// subscriptions in `memoryConnection.ts`; this file must only wire them.
import { type Clock, type Transport, type TransportMessage, systemClock } from 'cutover';
import { BusRouter } from './busRouter';
import { Connection } from './memoryConnection';

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions {
  /**
   * Clock for request timeouts and scatter/gather windows (default: the system clock). Give it the clock the
   * hosts and orchestrators on this bus use: with a simulated clock in a test, a bus left on the system clock
   * times requests out in real time while simulated time races ahead (`cutover/testing` wires both for you).
   */
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

class Bus implements MemoryBus {
  readonly #router: BusRouter;
  readonly #connections = new Set<Connection>();
  readonly #forget = (conn: Connection): void => {
    this.#connections.delete(conn);
  };
  #connSeq = 0;

  constructor(options: MemoryBusOptions) {
    const clock: Clock = options.clock ?? systemClock;
    this.#router = new BusRouter(
      clock,
      options.onHandlerError ??
        ((error: unknown, message: TransportMessage) => {
          console.error(`cutover memory bus: handler for "${message.subject}" failed`, error);
        }),
    );
  }

  get subscriptions(): number {
    return this.#router.index.size;
  }

  connect(name?: string): MemoryConnection {
    const seq = ++this.#connSeq;
    const conn = new Connection(this.#router, name ?? `memory-${seq}`, seq, this.#forget);
    this.#connections.add(conn);
    return conn;
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
