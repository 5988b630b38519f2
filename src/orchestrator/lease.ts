import { z } from 'zod';
import { CutoverError, hasCode } from '../errors';
import { type Clock, systemClock } from '../ports/clock';
import type { StateStore, StoreEntry } from '../ports/store';
import { parseWith } from '../protocol/decode';
import { keyToken } from './records';

/** The stored form of an app's lease (bucket `cutover`, key `lease.<app>`). */
export const LeaseRecord = z.strictObject({
  schema: z.literal(1),
  app: z.string().min(1),
  holder: z.string().min(1),
  /** Fencing token: strictly increases per app every time the lease changes hands. */
  token: z.number().int().min(1),
  /** Absolute instant on the holder's clock; 0 after a release. */
  expiresAt: z.number(),
});
export type LeaseRecord = z.output<typeof LeaseRecord>;

/** A held lease: its token rides on every apply so hosts refuse a stale holder. */
export interface Lease {
  readonly app: string;
  readonly holder: string;
  readonly token: number;
  readonly expiresAt: number;
  /** Store revision of the record, for compare-and-set. */
  readonly revision: number;
}

/** Options of {@link createLeases}. */
export interface LeaseOptions {
  /** Who asks (an orchestrator id); the same holder re-acquiring renews. */
  holder: string;
  ttlMs: number;
  clock?: Clock;
}

/** Per-app leases with fencing tokens over any StateStore's compare-and-set. */
export interface Leases {
  /** Takes the app's lease: new (token 1), expired or released (token + 1), or own (renewed, same token). */
  acquire(app: string): Promise<Lease>;
  /** Extends a held lease; `lease.stale` when another holder took it meanwhile. */
  renew(lease: Lease): Promise<Lease>;
  /** Gives the lease up, keeping its token so the next holder's is higher; a lost lease is left alone. */
  release(lease: Lease): Promise<void>;
  /** The app's lease record as stored (possibly expired or released), or null. */
  current(app: string): Promise<Lease | null>;
}

/** Store key of an app's lease in bucket `cutover`. */
export function leaseKey(app: string): string {
  return `lease.${keyToken(app)}`;
}

const ATTEMPTS = 8;

/**
 * Leases over `store`: a record per app written only by compare-and-set, so of two racing acquirers
 * exactly one wins. Expiry is a field of the record (NATS KV has no per-key TTL).
 * @example
 * const leases = createLeases(store, { holder: 'orchestrator-1', ttlMs: 15_000 });
 * const lease = await leases.acquire('shop'); // lease.token fences every apply
 */
export function createLeases(store: StateStore, options: LeaseOptions): Leases {
  const { holder, ttlMs } = options;
  const clock = options.clock ?? systemClock;

  const read = async (app: string): Promise<{ entry: StoreEntry; record: LeaseRecord } | null> => {
    const key = leaseKey(app);
    const entry = await store.get('cutover', key);
    if (entry === null) return null;
    return { entry, record: parseWith(LeaseRecord, entry.value, 'snapshot.invalid', `lease record "${key}"`) };
  };

  const write = async (
    app: string,
    token: number,
    expiresAt: number,
    expectedRevision: number,
    by: string = holder,
  ): Promise<Lease> => {
    const record: LeaseRecord = { schema: 1, app, holder: by, token, expiresAt };
    const revision = await store.put('cutover', leaseKey(app), record, { expectedRevision });
    return { app, holder: by, token, expiresAt, revision };
  };

  /** Runs `attempt` again after a lost compare-and-set; the next read sees the winner's write. */
  const retrying = async <T>(attempt: () => Promise<T>): Promise<T> => {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (error) {
        if (!hasCode(error, 'store.conflict') || i >= ATTEMPTS) throw error;
      }
    }
  };

  const stale = (lease: Lease, now: { record: LeaseRecord } | null): CutoverError =>
    new CutoverError(
      'lease.stale',
      now === null
        ? `lease on "${lease.app}" is gone (held token ${lease.token})`
        : `lease on "${lease.app}" was lost: token ${lease.token} of "${lease.holder}" is now ${now.record.token} of "${now.record.holder}"`,
    );

  const owns = (lease: Lease, now: { record: LeaseRecord } | null): now is { entry: StoreEntry; record: LeaseRecord } =>
    now !== null && now.record.token === lease.token && now.record.holder === lease.holder;

  return {
    acquire: (app) =>
      retrying(async () => {
        const now = await read(app);
        const at = clock.now();
        if (now === null) return write(app, 1, at + ttlMs, 0);
        const { record, entry } = now;
        const live = record.expiresAt > at;
        if (live && record.holder !== holder) {
          throw new CutoverError(
            'lease.held',
            `lease on "${app}" is held by "${record.holder}" until ${new Date(record.expiresAt).toISOString()}`,
          );
        }
        // Own live lease: renew with the same token. Anything else changes hands: a higher token.
        return write(app, live ? record.token : record.token + 1, at + ttlMs, entry.revision);
      }),

    renew: (lease) =>
      retrying(async () => {
        const now = await read(lease.app);
        if (!owns(lease, now)) throw stale(lease, now);
        // Expired but not taken over is still ours: nobody holds a higher token.
        return write(lease.app, lease.token, clock.now() + ttlMs, now.entry.revision, lease.holder);
      }),

    release: (lease) =>
      retrying(async () => {
        const now = await read(lease.app);
        if (!owns(lease, now)) return;
        await write(lease.app, lease.token, 0, now.entry.revision, lease.holder);
      }),

    current: async (app) => {
      const now = await read(app);
      if (now === null) return null;
      const { record, entry } = now;
      return {
        app: record.app,
        holder: record.holder,
        token: record.token,
        expiresAt: record.expiresAt,
        revision: entry.revision,
      };
    },
  };
}
