/**
 * The app leases this orchestrator holds: acquiring them, renewing them every third of the TTL, giving one
 * up, and the fencing token every send to hosts carries ({@link HeldLeases.token} is the one place a send gets
 * it). A lease found lost on renewal is reported through `onLost`, the one place that stops driving the app.
 * It wraps `createLeases` (the store-level compare-and-set in `lease.ts`) and must not touch runs, actors or
 * any record other than the lease records.
 */
import { hasCode } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import { type Lease, type Leases, createLeases } from './lease';

/** What {@link HeldLeases} works with. */
export interface HeldLeasesContext {
  store: StateStore;
  clock: Clock;
  /** This orchestrator's name as a lease holder. */
  holder: string;
  ttlMs: number;
  /** Called when renewing finds the app's lease taken over: stop driving the app here. */
  onLost(app: string): void;
}

/** The leases held by one orchestrator, kept alive by a renewal timer until {@link HeldLeases.stop}. */
export class HeldLeases {
  private readonly leases: Leases;
  private readonly held = new Map<string, Lease>();
  private timer: unknown;
  private stopped = false;

  constructor(private readonly o: HeldLeasesContext) {
    this.leases = createLeases(o.store, { holder: o.holder, ttlMs: o.ttlMs, clock: o.clock });
  }

  /** Takes (or renews) the app's lease and holds it; `lease.held` when another orchestrator has it. */
  async acquire(app: string): Promise<Lease> {
    const lease = await this.leases.acquire(app);
    this.held.set(app, lease);
    return lease;
  }

  /** The fencing token for a send to the app's hosts: the held lease's, acquiring the lease when none is held. */
  async token(app: string): Promise<number> {
    return (this.held.get(app) ?? (await this.acquire(app))).token;
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

  private async renewAll(): Promise<void> {
    for (const [app, lease] of this.held) {
      try {
        this.held.set(app, await this.leases.renew(lease));
      } catch (e) {
        if (hasCode(e, 'lease.stale')) {
          // Another orchestrator took the app over: stop driving it here (its snapshot stays for the new holder).
          this.held.delete(app);
          this.o.onLost(app);
        }
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
