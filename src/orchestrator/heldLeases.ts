/**
 * The app leases this orchestrator holds: acquiring them (a lease that changed hands is fenced on the hosts
 * before anything else may use its token), renewing them every third of the TTL, giving one up, and the
 * fencing token every send to hosts carries: {@link HeldLeases.sendToken} hands it out only while the lease has
 * more than the safety margin left on this orchestrator's clock, and waits through renewals otherwise. A lease
 * found taken over is reported through `onLost`, the one place that stops driving the app. It wraps
 * `createLeases` (the store-level compare-and-set in `lease.ts`) and must not touch runs, actors or any record
 * other than the lease records.
 */
import { instruments } from '../observability/telemetry';
import { CutoverError, hasCode } from '../errors';
import { type Clock, waitUntil } from '../ports/clock';
import type { StateStore } from '../ports/store';
import { type Lease, type Leases, createLeases } from './lease';
import type { Outages } from './outages';
import { isUnavailable } from './outages';
import { outageBackoff } from './patientStore';

/** What {@link HeldLeases} works with. */
export interface HeldLeasesContext {
  store: StateStore;
  clock: Clock;
  /** This orchestrator's name as a lease holder. */
  holder: string;
  ttlMs: number;
  /** A send needs this much of the lease left on our clock (ms); default a third of the TTL. */
  safetyMs?: number;
  /**
   * Raises the fencing token on the app's hosts to `token` (a lease that changed hands); throws `lease.stale`
   * when a host holds a higher one. Runs before the token may be used.
   */
  fence(app: string, token: number): Promise<void>;
  /** Called when renewing finds the app's lease taken over: stop driving the app here. */
  onLost(app: string): void;
  outages?: Outages;
}

/** The leases held by one orchestrator, kept alive by a renewal timer until {@link HeldLeases.stop}. */
export class HeldLeases {
  private readonly leases: Leases;
  private readonly held = new Map<string, Lease>();
  /** `app:token` pairs already fenced on the hosts. */
  private readonly fenced = new Set<string>();
  private readonly refreshing = new Map<string, Promise<unknown>>();
  private timer: unknown;
  private stopped = false;
  /** Figures for tests and operators: fences run, sends refused for want of a live lease. */
  readonly stats = { fences: 0, waitsForLease: 0 };

  constructor(private readonly o: HeldLeasesContext) {
    this.leases = createLeases(o.store, { holder: o.holder, ttlMs: o.ttlMs, clock: o.clock });
  }

  private get safetyMs(): number {
    return this.o.safetyMs ?? Math.floor(this.o.ttlMs / 3);
  }

  /**
   * Takes (or renews) the app's lease and holds it; `lease.held` when another orchestrator has it. A token this
   * orchestrator did not hold before (the lease changed hands, token > 1) is fenced on the hosts first.
   */
  async acquire(app: string): Promise<Lease> {
    const lease = await this.leases.acquire(app);
    const key = `${app}:${lease.token}`;
    if (this.held.get(app)?.token !== lease.token) instruments().leaseChanges.add(1, { app, change: 'acquired' });
    if (lease.token > 1 && !this.fenced.has(key) && this.held.get(app)?.token !== lease.token) {
      this.stats.fences++;
      instruments().leaseChanges.add(1, { app, change: 'fenced' });
      await this.o.fence(app, lease.token);
    }
    this.fenced.add(key);
    this.held.set(app, lease);
    return lease;
  }

  /** The fencing token for a send to the app's hosts: the held lease's, acquiring the lease when none is held. */
  async token(app: string): Promise<number> {
    return (this.held.get(app) ?? (await this.acquire(app))).token;
  }

  /** The held lease of `app` while it has more than the safety margin left on our clock, else undefined. */
  live(app: string): Lease | undefined {
    const lease = this.held.get(app);
    return lease !== undefined && lease.expiresAt - this.o.clock.now() > this.safetyMs ? lease : undefined;
  }

  /**
   * The token a send may carry now. Not live (renewals failing, e.g. the store is out): renews now, waiting
   * with backoff until it is, or `signal` aborts. Taken over by another orchestrator: `lease.stale` (and the
   * app's run is stopped through `onLost`). Not held at all: acquires it (fencing first).
   */
  async sendToken(app: string, signal: AbortSignal): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const live = this.live(app);
      if (live !== undefined) return live.token;
      if (signal.aborted) throw new CutoverError('aborted', `no send for "${app}": the rollout step was stopped`);
      if (attempt === 0) this.stats.waitsForLease++;
      try {
        await this.refresh(app);
        this.o.outages?.clear('store');
      } catch (e) {
        if (hasCode(e, 'lease.stale')) throw e;
        if (!isUnavailable(e)) throw e;
        this.o.outages?.mark('store', e);
        await waitUntil(this.o.clock, this.o.clock.now() + outageBackoff(attempt), signal);
      }
    }
  }

  /** One renewal (or acquisition) of the app's lease at a time, however many sends wait for it. */
  private refresh(app: string): Promise<unknown> {
    let p = this.refreshing.get(app);
    if (p === undefined) {
      const lease = this.held.get(app);
      p = (lease === undefined ? this.acquire(app) : this.renewOne(lease).then((r) => this.held.set(app, r))).finally(
        () => this.refreshing.delete(app),
      );
      this.refreshing.set(app, p);
    }
    return p;
  }

  /** Renews `lease`; on `lease.stale` stops holding it and reports the loss before throwing. */
  private async renewOne(lease: Lease): Promise<Lease> {
    try {
      return await this.leases.renew(lease);
    } catch (e) {
      if (hasCode(e, 'lease.stale') && this.held.get(lease.app) === lease) {
        // Another orchestrator took the app over: stop driving it here (its snapshot stays for the new holder).
        this.held.delete(lease.app);
        instruments().leaseChanges.add(1, { app: lease.app, change: 'lost' });
        this.o.onLost(lease.app);
      }
      throw e;
    }
  }

  /** Stops holding the app's lease and releases it (best effort), so another orchestrator can take the app over. */
  drop(app: string): void {
    const lease = this.held.get(app);
    if (!lease) return;
    this.held.delete(app);
    this.leases.release(lease).catch(() => undefined);
  }

  /** The holder of the app's live lease as stored now, or null when nobody holds it. */
  async liveHolder(app: string): Promise<string | null> {
    const lease = await this.leases.current(app);
    return lease !== null && lease.expiresAt > this.o.clock.now() ? lease.holder : null;
  }

  /** Renews every held lease every third of the TTL until {@link HeldLeases.stop}. */
  startRenewing(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(
      () => {
        void this.renewAll().finally(() => this.startRenewing());
      },
      Math.max(1, Math.floor(this.o.ttlMs / 3)),
    );
  }

  /**
   * Renews every held lease. A renewal that fails for another reason (the store is out) keeps the lease as it
   * was: it runs out on our clock, and from the safety margin on no send may use it until a renewal succeeds.
   */
  private async renewAll(): Promise<void> {
    for (const [app, lease] of [...this.held]) {
      try {
        const renewed = await this.renewOne(lease);
        if (this.held.get(app) === lease) this.held.set(app, renewed);
      } catch (e) {
        if (isUnavailable(e)) this.o.outages?.mark('store', e);
      }
    }
  }

  /** Stops renewing (synchronously); the leases stay held until {@link HeldLeases.releaseAll}. */
  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
  }

  /** Releases every held lease (best effort) and forgets them. */
  async releaseAll(): Promise<void> {
    for (const lease of this.held.values()) await this.leases.release(lease).catch(() => undefined);
    this.held.clear();
  }
}
