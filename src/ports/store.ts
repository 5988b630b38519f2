import type { BucketName } from '../protocol/subjects';

/** One stored value with its revision in the bucket's sequence. */
export interface StoreEntry<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

/** A watched change: `value` is `null` for a delete. */
export interface StoreChange<T = unknown> {
  readonly key: string;
  readonly value: T | null;
  readonly revision: number;
}

export interface PutOptions {
  /** Compare-and-set: the revision the caller last read; 0 means "must not exist". */
  expectedRevision?: number;
}

export interface WatchOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
}

/** A watch: async-iterable changes; `stop()` ends the iteration. */
export interface StoreWatch<T = unknown> extends AsyncIterable<StoreChange<T>> {
  stop(): void;
}

/**
 * Key/value state in the three buckets of docs/wire.md, with JetStream KV semantics: a revision sequence
 * per bucket, compare-and-set (`store.conflict` when stale), expected revision 0 = must not exist,
 * watch yields current values then changes, values are JSON under 1 MB (`store.tooLarge`).
 * Keys are dot-separated tokens of `[A-Za-z0-9_=-]` (NATS KV rules).
 */
export interface StateStore {
  get<T = unknown>(bucket: BucketName, key: string): Promise<StoreEntry<T> | null>;
  /** Returns the new revision. */
  put(bucket: BucketName, key: string, value: unknown, options?: PutOptions): Promise<number>;
  delete(bucket: BucketName, key: string, options?: PutOptions): Promise<void>;
  /** Keys present (not deleted), optionally under a prefix, sorted. */
  keys(bucket: BucketName, prefix?: string): Promise<string[]>;
  watch<T = unknown>(bucket: BucketName, options?: WatchOptions): StoreWatch<T>;
  close(): Promise<void>;
}

/** Largest value a store accepts, in bytes of JSON. */
export const MAX_VALUE_BYTES = 1024 * 1024;
