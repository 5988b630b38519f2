import {
  BUCKET_NAMES,
  type BucketName,
  CutoverError,
  type ErrorCode,
  MAX_VALUE_BYTES,
  type PutOptions,
  type StateStore,
  type StoreChange,
  type StoreEntry,
  type StoreWatch,
  type WatchOptions,
} from 'cutover';
import { assertKvKey } from './kvKey';

/**
 * Options of {@link createMemoryStore}. It takes no clock: it has no timers (lease expiry is judged on the
 * orchestrator's clock), so it runs the same under a simulated clock.
 */
export interface MemoryStoreOptions {
  /** Lattice name, for messages only (default `default`). */
  lattice?: string;
}

/** An in-process {@link StateStore} with JetStream KV semantics, plus the one fault it cannot produce itself. */
export interface MemoryStore extends StateStore, AsyncDisposable {
  readonly lattice: string;
  /** Fault injection: the next `count` operations (get, put, delete, keys) fail with `code`. */
  failNext(count: number, code?: ErrorCode): void;
}

interface Stored {
  /** JSON text, or null for a delete marker. */
  json: string | null;
  revision: number;
}

interface Bucket {
  seq: number;
  readonly records: Map<string, Stored>;
  readonly watchers: Set<Watcher>;
}

const encoder = new TextEncoder();

class Watcher implements StoreWatch {
  readonly #prefix: string;
  readonly #onStop: () => void;
  readonly #queue: StoreChange[] = [];
  #wake: (() => void) | undefined;
  #stopped = false;

  constructor(prefix: string, initial: StoreChange[], onStop: () => void) {
    this.#prefix = prefix;
    this.#queue.push(...initial);
    this.#onStop = onStop;
  }

  wants(key: string): boolean {
    return !this.#stopped && key.startsWith(this.#prefix);
  }

  push(change: StoreChange): void {
    this.#queue.push(change);
    this.#wake?.();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue.length = 0;
    this.#onStop();
    this.#wake?.();
  }

  async *#iterate(): AsyncGenerator<StoreChange> {
    try {
      while (!this.#stopped) {
        const next = this.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      // A consumer that breaks out of `for await` stops the watch.
      this.stop();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<StoreChange> {
    return this.#iterate();
  }
}

class Store implements MemoryStore {
  readonly lattice: string;
  readonly #buckets = new Map<BucketName, Bucket>(
    BUCKET_NAMES.map((name) => [name, { seq: 0, records: new Map(), watchers: new Set() }]),
  );
  #closed = false;
  #faults: { count: number; code: ErrorCode } = { count: 0, code: 'store.unavailable' };

  constructor(options: MemoryStoreOptions) {
    this.lattice = options.lattice ?? 'default';
  }

  failNext(count: number, code: ErrorCode = 'store.unavailable'): void {
    this.#faults = { count, code };
  }

  #bucket(name: BucketName): Bucket {
    if (this.#closed) throw new CutoverError('store.unavailable', 'store is closed', { retryable: false });
    if (this.#faults.count > 0) {
      this.#faults.count--;
      throw new CutoverError(this.#faults.code, `injected fault on bucket "${name}"`);
    }
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) throw new CutoverError('store.invalidKey', `unknown bucket "${String(name)}"`);
    return bucket;
  }

  async get<T = unknown>(bucket: BucketName, key: string): Promise<StoreEntry<T> | null> {
    const b = this.#bucket(bucket);
    assertKvKey(key);
    const record = b.records.get(key);
    if (record === undefined || record.json === null) return null;
    return { key, value: JSON.parse(record.json) as T, revision: record.revision };
  }

  async put(bucket: BucketName, key: string, value: unknown, options: PutOptions = {}): Promise<number> {
    const b = this.#bucket(bucket);
    assertKvKey(key);
    const json = toJson(key, value);
    this.#check(b, key, options);
    return this.#write(b, key, json);
  }

  async delete(bucket: BucketName, key: string, options: PutOptions = {}): Promise<void> {
    const b = this.#bucket(bucket);
    assertKvKey(key);
    this.#check(b, key, options);
    // Like JetStream KV, a delete always writes a marker with its own revision.
    this.#write(b, key, null);
  }

  #check(b: Bucket, key: string, { expectedRevision }: PutOptions): void {
    if (expectedRevision === undefined) return;
    const record = b.records.get(key);
    const current = record?.revision ?? 0;
    // A delete marker counts as "not there" for expected revision 0, and as its own revision otherwise.
    const ok = expectedRevision === 0 ? record === undefined || record.json === null : expectedRevision === current;
    if (!ok) {
      const shown = record === undefined || record.json === null ? `${current} (absent)` : String(current);
      throw new CutoverError(
        'store.conflict',
        `revision conflict on "${key}": expected ${expectedRevision}, current ${shown}`,
      );
    }
  }

  #write(b: Bucket, key: string, json: string | null): number {
    const revision = ++b.seq;
    b.records.set(key, { json, revision });
    for (const w of b.watchers) {
      if (w.wants(key)) w.push({ key, value: json === null ? null : JSON.parse(json), revision });
    }
    return revision;
  }

  async keys(bucket: BucketName, prefix = ''): Promise<string[]> {
    const b = this.#bucket(bucket);
    const out: string[] = [];
    for (const [key, record] of b.records) if (record.json !== null && key.startsWith(prefix)) out.push(key);
    return out.sort();
  }

  watch<T = unknown>(bucket: BucketName, options: WatchOptions = {}): StoreWatch<T> {
    if (this.#closed) throw new CutoverError('store.unavailable', 'store is closed', { retryable: false });
    const b = this.#buckets.get(bucket);
    if (b === undefined) throw new CutoverError('store.invalidKey', `unknown bucket "${String(bucket)}"`);
    const prefix = options.prefix ?? '';
    const initial: StoreChange[] = [];
    for (const [key, record] of b.records) {
      if (record.json !== null && key.startsWith(prefix)) {
        initial.push({ key, value: JSON.parse(record.json), revision: record.revision });
      }
    }
    initial.sort((x, y) => x.revision - y.revision);
    const watcher: Watcher = new Watcher(prefix, initial, () => b.watchers.delete(watcher));
    b.watchers.add(watcher);
    return watcher as StoreWatch<T>;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#buckets.values()) for (const w of [...b.watchers]) w.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function toJson(key: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new CutoverError('store.invalidValue', `value for "${key}" is not json: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (json === undefined) throw new CutoverError('store.invalidValue', `value for "${key}" is not json`);
  // Cheap bound first: UTF-8 is at most 3 bytes per UTF-16 unit.
  if (json.length * 3 > MAX_VALUE_BYTES) {
    const size = encoder.encode(json).byteLength;
    if (size > MAX_VALUE_BYTES) {
      throw new CutoverError(
        'store.tooLarge',
        `value for "${key}" is ${size} bytes, over the ${MAX_VALUE_BYTES}-byte limit`,
      );
    }
  }
  return json;
}

/**
 * An in-process StateStore: the buckets of docs/wire.md with JetStream KV semantics. Values are stored as
 * JSON text, so callers never share objects with the store.
 * @example
 * const store = createMemoryStore({ lattice: 'default' });
 * const rev = await store.put('cutover', 'lease.shop', { holder: 'o1' }, { expectedRevision: 0 });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new Store(options);
}
