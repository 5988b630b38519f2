/**
 * Resuming unfinished rollouts: once at start, then every `everyMs`, so the rollouts of an orchestrator that
 * died (its lease expired or was released) are taken over. For each active record nobody drives here it
 * takes the app's lease, under the app's lock, and restores the run from the stored snapshot
 * (level-triggered effects make re-running them safe). An invalid record or one that cannot be restored is
 * reported once and left alone. It must not write rollout records itself nor command a run.
 */
import type { Snapshot } from 'xstate';
import { CutoverError, hasCode, isCutoverError, toCutoverError } from '../../errors';
import type { Clock } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import type { RolloutInput } from '../../protocol/rollout';
import type { AppLocks } from '../appLocks';
import type { HeldLeases } from '../heldLeases';
import { RolloutRecord, keys } from '../records';
import type { Runs } from './runs';

/** What {@link Takeover} works with. */
export interface TakeoverContext {
  store: StateStore;
  clock: Clock;
  runs: Runs;
  leases: HeldLeases;
  locks: AppLocks;
  /** Period of the look for rollouts to take over (ms); 0 turns the periodic look off. */
  everyMs: number;
  problem(e: CutoverError): void;
  onResume: ((rolloutId: string, app: string) => void) | undefined;
}

/** A record validated by {@link RolloutRecord} is a persisted snapshot of the rollout machine. */
function asSnapshot(snapshot: RolloutRecord['snapshot']): Snapshot<unknown> {
  return snapshot as unknown as Snapshot<unknown>;
}

/** Finds the unfinished rollouts nobody drives and drives them here. */
export class Takeover {
  /** Invalid records already reported. */
  private readonly reported = new Set<string>();
  /** Rollouts that could not be restored (reported once, not retried). */
  private readonly failed = new Set<string>();
  private timer: unknown;
  private stopped = false;

  constructor(private readonly o: TakeoverContext) {}

  /** One pass over the stored rollouts; at `startup` it also resumes records of apps already driven here. */
  async resumeUnfinished(startup: boolean): Promise<void> {
    const { store } = this.o;
    for (const key of await store.keys('cutover', keys.rolloutPrefix)) {
      if (this.stopped) return;
      const e = await store.get('cutover', key);
      if (!e) continue;
      const parsed = RolloutRecord.safeParse(e.value);
      if (!parsed.success) {
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        this.o.problem(
          new CutoverError('snapshot.invalid', `rollout record "${key}" is invalid; left untouched`, {
            cause: parsed.error,
          }),
        );
        continue;
      }
      const rec = parsed.data;
      // Under the app's lock, so a deploy of the same app never interleaves with a takeover.
      await this.o.locks.run(rec.app, () => this.adopt(rec, e.revision, startup));
    }
  }

  /** Takes the app's lease and restores the run of `rec` (stored at `revision`), unless it is not to be driven here. */
  private async adopt(rec: RolloutRecord, revision: number, startup: boolean): Promise<void> {
    const { runs } = this.o;
    // One that cannot be restored is reported once, not retried forever.
    if (rec.snapshot.status !== 'active' || runs.get(rec.id) || this.failed.has(rec.id)) return;
    // Later passes leave alone an app this orchestrator already drives (a stale record of it).
    if (!startup && runs.active(rec.app)) return;
    try {
      await this.o.leases.acquire(rec.app);
    } catch (err) {
      if (hasCode(err, 'lease.held')) return;
      throw err;
    }
    try {
      // Its input as it started (what the actor resumes from is the stored snapshot).
      const c = rec.snapshot.context;
      const { rolloutId, targetVersion, stableVersion, strategy } = c;
      const input: RolloutInput = {
        rolloutId,
        app: c.app,
        targetVersion,
        stableVersion,
        strategy,
        kind: c.kind,
        startPaused: c.paused,
        at: rec.createdAt,
      };
      const { id, app, kind, parent, supersedes, createdAt } = rec;
      runs.launch({ id, app, kind, parent, supersedes, createdAt }, revision, {
        snapshot: asSnapshot(rec.snapshot),
        input,
      });
      this.o.onResume?.(rec.id, rec.app);
    } catch (err) {
      this.failed.add(rec.id);
      this.o.problem(
        new CutoverError(
          'snapshot.invalid',
          `rollout "${rec.id}" could not be restored: ${toCutoverError(err).message}`,
          {
            cause: err,
          },
        ),
      );
    }
  }

  /** Looks again every `everyMs` until {@link Takeover.stop}; problems found are reported, never thrown. */
  schedule(): void {
    if (this.stopped || this.o.everyMs <= 0) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.resumeUnfinished(false)
        .catch((e: unknown) => {
          if (isCutoverError(e)) this.o.problem(e);
        })
        .finally(() => this.schedule());
    }, this.o.everyMs);
  }

  /** Stops looking (synchronously); a pass under way ends at its next record. */
  stop(): void {
    this.stopped = true;
    this.o.clock.clearTimeout(this.timer);
  }
}
