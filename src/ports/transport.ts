/** A message delivered to a subscriber. `reply` is set when the sender waits for an answer. */
export interface TransportMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string;
}

/** A live subscription; `unsubscribe` is idempotent. */
export interface TransportSubscription {
  readonly subject: string;
  unsubscribe(): void;
  /**
   * Leaves the subject without dropping what is already on its way: messages the server routed here before it
   * saw the unsubscribe still reach the handler. Transports without a network in between may omit it.
   */
  drain?(): Promise<void>;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group (NATS semantics). */
  queue?: string;
}

export interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface RequestManyOptions {
  /** Stop gathering after this long. */
  maxWaitMs: number;
  /** Stop early once this many replies arrived. */
  expected?: number;
  /** Stop early when no reply arrived for this long after the last one (scatter/gather stall). */
  stallMs?: number;
}

/** A handler's reply: return bytes to answer a request; return nothing to stay silent. */
export type MessageHandler = (
  msg: TransportMessage,
) => Uint8Array | undefined | Promise<Uint8Array | undefined> | void | Promise<void>;

/**
 * Subject-based messaging with NATS semantics: `*` matches one token, `>` one or more trailing tokens;
 * queue groups; a request with no subscriber fails at once with `transport.noResponders`;
 * a request with no answer in time fails with `transport.timeout`.
 */
export interface Transport {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): TransportSubscription;
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array>;
  /** Scatter/gather: every responder's reply until `maxWaitMs`, `expected` replies, or a stall. */
  requestMany(subject: string, data: Uint8Array, options: RequestManyOptions): Promise<Uint8Array[]>;
  /** Resolves once everything published so far has reached the server (memory: subscribers). */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly closed: boolean;
  /**
   * False while the transport has no connection to its server and is trying to get one back (NATS: between
   * `disconnect` and `reconnect`). A caller then waits instead of taking silence for a lost host. Absent
   * means always connected (the memory bus).
   */
  readonly connected?: boolean;
}
