/**
 * The periodic scaler pass: for every app with a stable revision that no rollout drives and no rollout
 * holds the scaler of, it reconciles the hosts to the stable specs wherever placement puts them (one pass
 * every `pollMs`, or on demand for one app). It must not start, stop or command a rollout, write any record,
 * or take an app whose lease another orchestrator holds.
 */
import { hasCode, isCutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { HeldLeases } from './heldLeases';
import type { LatticeClient } from './latticeClient';
import { reconcileThrough } from './reconcile';
import { AppRecord, StableRecord, keys } from './records';
import type { Revisions } from './revisions';
import type { ScalerHolds } from './scalers';
import { readRecord } from './storedRecord';

/** What {@link ScalerPass} works with. */
export interface ScalerPassContext {
  store: StateStore;
  clock: Clock;
  client: LatticeClient;
  scalers: ScalerHolds;
  revisions: Revisions;
  leases: HeldLeases;
  /** Whether a rollout of the app is driven here (it then owns the hosts of the app). */
  driving(app: string): boolean;
  /** Period of the pass (ms). */
  pollMs: number;
  /** False turns the periodic pass off (one app can still be reconciled on demand). */
  enabled: boolean;
}

/** Keeps every idle app on its stable revision. */
export class ScalerPass {
  private timer: unknown;
  private stopped = false;

  constructor(private readonly o: ScalerPassContext) {}

  /** One pass for an app: stable specs wherever placement puts them, unless a rollout drives or holds it. */
  async reconcileApp(app: string): Promise<void> {
    const { store } = this.o;
    if (this.o.driving(app)) return;
    const holders = await this.o.scalers.holders(app);
    if (holders.length > 0) return;
    const stable = await readRecord(store, keys.stable(app), StableRecord);
    if (!stable) return;
    const revision = await this.o.revisions.load(app, stable.version, false);
    try {
      await this.o.leases.token(app);
    } catch (e) {
      if (hasCode(e, 'lease.held')) return;
      throw e;
    }
    // Like a rollout's sends: each one only under a live lease (checked again before every attempt).
    const signal = new AbortController().signal;
    await reconcileThrough(
      this.o.client,
      app,
      revision,
      (hostId, op) => this.o.client.control(hostId, app, () => this.o.leases.sendToken(app, signal), op),
      { send: true },
    );
  }

  /** One pass over every app with a stable revision; an app's cutover error does not stop the others. */
  async pass(): Promise<void> {
    const { store } = this.o;
    const apps = (await store.keys('cutover', 'stable.')).map((k) => k.slice('stable.'.length));
    for (const token of apps) {
      const stable = await store.get('cutover', `stable.${token}`);
      const parsed = stable ? StableRecord.safeParse(stable.value) : null;
      if (!parsed?.success) continue;
      const appRec = await readRecord(store, `app.${token}`, AppRecord);
      if (!appRec) continue;
      try {
        await this.reconcileApp(appRec.app);
      } catch (e) {
        if (!isCutoverError(e)) throw e;
      }
    }
  }

  /** Runs a pass every `pollMs` until {@link ScalerPass.stop} (when enabled). */
  schedule(): void {
    if (this.stopped || !this.o.enabled) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.pass()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, this.o.pollMs);
  }

  /** Stops the periodic pass (synchronously). */
  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
  }
}
