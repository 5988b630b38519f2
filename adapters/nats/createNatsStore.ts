// The StateStore port on JetStream KV. Over ~400 lines on purpose: bucket creation (replicas), reads from the
// stream leader on replicated buckets, keys without consumers, watch, and the mapping of every JetStream failure
// to a coded, retryable-or-not store error belong together: the adapter's contract is exactly that mapping.
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import { Empty, headers, type NatsConnection, NoRespondersError, RequestError } from '@nats-io/transport-node';
import {
  type BucketName,
  buckets,
  CutoverError,
  isCutoverError,
  MAX_VALUE_BYTES,
  type PutOptions,
  type StateStore,
  type StoreChange,
  type StoreEntry,
  type StoreWatch,
  type WatchOptions,
} from 'cutover';
import { isConnectionGone, isPermissionViolation } from './natsErrors';

export interface NatsStoreOptions {
  lattice: string;
  /**
   * JetStream replicas of the buckets this store creates: 1 (the default) on a single nats-server, 3 on a
   * 3-node cluster so the KV survives the loss of any one node (a write then needs a majority of the
   * replicas). Existing buckets keep theirs. Buckets of more than one replica are made without direct gets,
   * so every read is answered by the stream leader and sees every acknowledged write (a follower answering a
   * direct get may lag behind); while a leader is being elected, calls fail as retryable `store.unavailable`.
   * A single server refuses more than one replica (non-retryable `store.unavailable`).
   */
  replicas?: number;
  /** Values kept per key in buckets this store creates (default 1). */
  history?: number;
  /** Timeout of each JetStream API call (default 5 s). */
  timeoutMs?: number;
}

/** NATS KV key rules, as the memory store applies them: dot-separated non-empty tokens of `[-/_=a-zA-Z0-9]`. */
const KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new CutoverError(
      'store.invalidKey',
      `invalid key "${String(key)}": use dot-separated non-empty tokens of letters, digits and - / _ =`,
    );
  }
}

/**
 * The KV filter covering every key that starts with `prefix`: its whole tokens, then `>`. Any prefix is
 * accepted (like the memory store); one that cannot start a valid key simply matches nothing.
 */
function filterFor(prefix: string): string {
  const dot = prefix.lastIndexOf('.');
  if (dot < 0) return '>';
  const head = prefix.slice(0, dot);
  return KEY.test(head) ? `${head}.>` : '>';
}

const isTombstone = (e: { operation: string }) => e.operation === 'DEL' || e.operation === 'PURGE';

function isWrongLastSequence(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return (
      err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
    );
  }
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}

/** JetStream's "replicas > 1 not supported in non-clustered mode". */
const NOT_CLUSTERED = 10074;

/** A JetStream request nobody answered (503): JetStream off, or (in a cluster) a stream with no leader yet. */
function isNoResponders(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders())) return true;
  }
  return false;
}

function toStoreError(err: unknown, bucket: string, key?: string, expected?: number): CutoverError {
  if (isCutoverError(err)) return err;
  const where = key === undefined ? `"${bucket}"` : `"${bucket}/${key}"`;
  if (isWrongLastSequence(err)) {
    // The server names the current revision: "wrong last sequence: 7".
    const current = /wrong last sequence:\s*(\d+)/i.exec(err instanceof Error ? err.message : '')?.[1];
    const detail = `${expected === undefined ? '' : `: expected ${expected}`}${current === undefined ? '' : `, current ${current}`}`;
    return new CutoverError('store.conflict', `revision conflict on ${where}${detail}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/max.?payload|payload too large|message size exceeds/i.test(message)) {
    return new CutoverError('store.tooLarge', `value too large for ${where}`, { cause: err });
  }
  if (isPermissionViolation(err)) {
    return new CutoverError('store.unavailable', `permission denied on ${where}`, { cause: err, retryable: false });
  }
  if (isConnectionGone(err) && !/disconnected/.test(message)) {
    return new CutoverError('store.unavailable', `connection closed on ${where}`, { cause: err, retryable: false });
  }
  if (err instanceof JetStreamApiError && err.code === NOT_CLUSTERED) {
    return new CutoverError('store.unavailable', `cannot create ${where}: ${message} (use 1 replica)`, {
      cause: err,
      retryable: false,
    });
  }
  if (isNoResponders(err)) {
    // nats.js reports a 503 as "jetstream is not enabled"; in a cluster it is mostly a stream without a leader.
    return new CutoverError(
      'store.unavailable',
      `jetstream unavailable for ${where}: no responders (jetstream not enabled, or no stream leader elected yet)`,
      { cause: err },
    );
  }
  // JetStream disabled, no responders on $JS.API, timeouts, reconnects: the server may come back.
  return new CutoverError('store.unavailable', `jetstream unavailable for ${where}: ${message.toLowerCase()}`, {
    cause: err,
  });
}

function encodeValue(value: unknown, bucket: string, key: string): Uint8Array {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new CutoverError('store.invalidValue', `value for "${bucket}/${key}" is not json`, { cause: err });
  }
  if (json === undefined) throw new CutoverError('store.invalidValue', `value for "${bucket}/${key}" is not json`);
  const bytes = new TextEncoder().encode(json);
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new CutoverError(
      'store.tooLarge',
      `value for "${bucket}/${key}" is ${bytes.length} bytes, over ${MAX_VALUE_BYTES}`,
    );
  }
  return bytes;
}

function decodeValue<T>(entry: KvEntry, bucket: string): T {
  try {
    return entry.json<T>();
  } catch (err) {
    throw new CutoverError('snapshot.invalid', `stored value "${bucket}/${entry.key}" is not json`, { cause: err });
  }
}

/**
 * The StateStore port on JetStream KV: buckets `LATTICEDATA_`, `CONFIGDATA_`, `CUTOVER_{lattice}`, created
 * on first use; revisions are the bucket stream's sequence numbers. `close()` ends watches, never `nc`.
 * @example
 * const store = createNatsStore(nc, { lattice: 'default' });
 * const rev = await store.put('cutover', 'lease.app', { holder: 'me' }, { expectedRevision: 0 });
 */
export function createNatsStore(nc: NatsConnection, options: NatsStoreOptions): StateStore {
  let names: Record<BucketName, string>;
  try {
    names = {
      latticedata: buckets.latticedata(options.lattice),
      configdata: buckets.configdata(options.lattice),
      cutover: buckets.cutover(options.lattice),
    };
  } catch (err) {
    throw new CutoverError('store.invalidKey', `invalid lattice "${options.lattice}": it names the buckets`, {
      cause: err,
    });
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new CutoverError('config.invalid', `replicas "${String(replicas)}" is not a whole number from 1 to 5`);
  }
  const js = jetstream(nc, { timeout: options.timeoutMs ?? 5_000 });
  const kvm = new Kvm(js);
  const opened = new Map<BucketName, Promise<KV>>();
  const watches = new Set<StoreWatch>();
  let closed = false;

  const nameOf = (bucket: BucketName): string => {
    const name = names[bucket];
    if (name === undefined) throw new CutoverError('store.invalidKey', `unknown bucket "${String(bucket)}"`);
    return name;
  };

  const open = (bucket: BucketName): Promise<KV> => {
    if (closed || nc.isClosed()) {
      return Promise.reject(
        new CutoverError('store.unavailable', `store is closed ("${String(bucket)}")`, { retryable: false }),
      );
    }
    const name = nameOf(bucket);
    let kv = opened.get(bucket);
    if (kv === undefined) {
      kv = kvm.create(name, { history: options.history ?? 1, replicas, allow_direct: replicas === 1 });
      opened.set(bucket, kv);
      // A failed open is retried on the next call instead of being cached.
      kv.catch(() => opened.delete(bucket));
    }
    return kv.catch((err: unknown) => {
      throw toStoreError(err, name);
    });
  };

  const run = async <T>(
    bucket: BucketName,
    key: string | undefined,
    work: (kv: KV) => Promise<T>,
    expected?: number,
  ): Promise<T> => {
    const kv = await open(bucket);
    try {
      return await work(kv);
    } catch (err) {
      throw toStoreError(err, nameOf(bucket), key, expected);
    }
  };

  const liveEntry = async (kv: KV, key: string): Promise<KvEntry | null> => {
    const entry = await kv.get(key);
    return entry === null || isTombstone(entry) ? null : entry;
  };

  // Whether a bucket's stream has more than one replica, asked once per bucket.
  const replicated = new Map<BucketName, Promise<boolean>>();
  const isReplicated = (bucket: BucketName, kv: KV): Promise<boolean> => {
    let known = replicated.get(bucket);
    if (known === undefined) {
      known = kv.status().then((status) => status.replicas > 1);
      replicated.set(bucket, known);
      known.catch(() => replicated.delete(bucket));
    }
    return known;
  };

  let manager: Promise<JetStreamManager> | undefined;
  /**
   * The keys of a replicated bucket without a consumer: nats-server (2.9) may place the ephemeral consumer
   * `kv.keys` makes on a replica whose node is down but not yet known to be, and the call then times out,
   * for about one call in three while a node of three is down. The stream leader lists the subjects instead;
   * a key whose last value is a delete marker is left out, as `kv.keys` does.
   */
  const keysOfReplicated = async (name: string, kv: KV, prefix: string): Promise<string[]> => {
    if (manager === undefined) {
      manager = jetstreamManager(nc, { timeout: options.timeoutMs ?? 5_000, checkAPI: false });
      manager.catch(() => {
        manager = undefined;
      });
    }
    const head = `$KV.${name}.`;
    const info = await (await manager).streams.info(`KV_${name}`, { subjects_filter: `${head}${filterFor(prefix)}` });
    const candidates = Object.keys(info.state.subjects ?? {})
      .map((subject) => subject.slice(head.length))
      .filter((key) => key.startsWith(prefix));
    const live: string[] = [];
    for (let i = 0; i < candidates.length; i += 32) {
      const chunk = candidates.slice(i, i + 32);
      const entries = await Promise.all(chunk.map((key) => liveEntry(kv, key)));
      for (const entry of entries) if (entry !== null) live.push(entry.key);
    }
    return live;
  };

  return {
    async get<T>(bucket: BucketName, key: string): Promise<StoreEntry<T> | null> {
      checkKey(key);
      return run(bucket, key, async (kv) => {
        const entry = await liveEntry(kv, key);
        return entry === null ? null : { key, value: decodeValue<T>(entry, nameOf(bucket)), revision: entry.revision };
      });
    },

    async put(bucket, key, value, putOptions: PutOptions = {}) {
      checkKey(key);
      const data = encodeValue(value, nameOf(bucket), key);
      const expected = putOptions.expectedRevision;
      if (expected !== undefined && (!Number.isInteger(expected) || expected < 0)) {
        throw new CutoverError('store.conflict', `invalid expected revision "${expected}" for "${key}"`, {
          retryable: false,
        });
      }
      return run(
        bucket,
        key,
        (kv) => {
          if (expected === undefined) return kv.put(key, data);
          // kv.create also succeeds over a tombstone (a deleted or purged key does not exist).
          if (expected === 0) return kv.create(key, data);
          return kv.update(key, data, expected);
        },
        expected,
      );
    },

    async delete(bucket, key, deleteOptions: PutOptions = {}) {
      checkKey(key);
      const expected = deleteOptions.expectedRevision;
      if (expected !== undefined && (!Number.isInteger(expected) || expected < 0)) {
        throw new CutoverError('store.conflict', `invalid expected revision "${expected}" for "${key}"`, {
          retryable: false,
        });
      }
      await run(
        bucket,
        key,
        async (kv) => {
          // Like JetStream KV (and the memory store), a delete always writes a marker with its own revision.
          if (expected === undefined) return kv.delete(key);
          if (expected > 0) return kv.delete(key, { previousSeq: expected });
          // Expected 0 = "must not exist": absent, or already a delete marker (kv.delete ignores a 0 revision).
          const current = await kv.get(key);
          if (current !== null && !isTombstone(current)) {
            throw new CutoverError(
              'store.conflict',
              `revision conflict on "${nameOf(bucket)}/${key}": expected 0, current ${current.revision}`,
            );
          }
          if (current !== null) return kv.delete(key, { previousSeq: current.revision });
          const marker = headers();
          marker.set('KV-Operation', 'DEL');
          await js.publish(`$KV.${nameOf(bucket)}.${key}`, Empty, {
            headers: marker,
            expect: { lastSubjectSequence: 0 },
          });
        },
        expected,
      );
    },

    async keys(bucket, prefix = '') {
      return run(bucket, prefix, async (kv) => {
        if (await isReplicated(bucket, kv)) return (await keysOfReplicated(nameOf(bucket), kv, prefix)).sort();
        const found: string[] = [];
        for await (const key of await kv.keys(filterFor(prefix))) {
          if (key.startsWith(prefix)) found.push(key);
        }
        return found.sort();
      });
    },

    watch<T>(bucket: BucketName, watchOptions: WatchOptions = {}): StoreWatch<T> {
      const prefix = watchOptions.prefix ?? '';
      if (closed || nc.isClosed()) throw new CutoverError('store.unavailable', 'store is closed', { retryable: false });
      const watch = watchBucket<T>(open(bucket), nameOf(bucket), prefix, () => watches.delete(watch));
      watches.add(watch);
      return watch;
    },

    async close() {
      closed = true;
      for (const w of [...watches]) w.stop();
      watches.clear();
    },
  };
}

/** A watch over an ordered KV consumer, exposed as a pull-based async iterable. */
function watchBucket<T>(kvPromise: Promise<KV>, bucketName: string, prefix: string, onStop: () => void): StoreWatch<T> {
  const queue: StoreChange<T>[] = [];
  let failure: CutoverError | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  let stopUpstream: () => void = () => undefined;

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  void (async () => {
    try {
      const kv = await kvPromise;
      if (stopped) return;
      const iter = await kv.watch({ key: filterFor(prefix) });
      stopUpstream = () => iter.stop();
      if (stopped) {
        iter.stop();
        return;
      }
      // nats.js flags the last replayed entry as an update; the consumer's pending count (delta) is exact.
      let replaying = true;
      for await (const e of iter) {
        if (stopped) break;
        const replayed = replaying;
        if ((e.delta ?? 0) === 0) replaying = false;
        if (!e.key.startsWith(prefix)) continue;
        if (isTombstone(e)) {
          // The initial replay lists current values only; deletes before the watch began are history.
          if (!replayed) queue.push({ key: e.key, value: null, revision: e.revision });
        } else {
          queue.push({ key: e.key, value: decodeValue<T>(e, bucketName), revision: e.revision });
        }
        notify();
      }
    } catch (err) {
      failure = toStoreError(err, bucketName);
    }
    // The upstream ended on its own (connection closed): end the iteration too.
    if (!stopped && failure === undefined) {
      failure = new CutoverError('store.unavailable', `watch on "${bucketName}" ended: connection closed`, {
        retryable: false,
      });
    }
    notify();
  })();

  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopUpstream();
    onStop();
    notify();
  };

  return {
    stop,
    [Symbol.asyncIterator](): AsyncIterator<StoreChange<T>> {
      return {
        async next(): Promise<IteratorResult<StoreChange<T>>> {
          for (;;) {
            if (stopped) return { value: undefined, done: true };
            const change = queue.shift();
            if (change !== undefined) return { value: change, done: false };
            if (failure !== undefined) throw failure;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
        async return(): Promise<IteratorResult<StoreChange<T>>> {
          stop();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
