/**
 * An app's rollout history (`history.<app>`): reading it, recording a rollout's outcome in it by
 * compare-and-set, pruning it to the limit (the stable revision's newest entry is never dropped) and
 * forgetting what pruning dropped: the rollout's record, its plan and its revision when nothing kept names it.
 * An entry tells the rollout's story: versions, strategy, start and finish, its analyses with their verdicts
 * (recorded with the outcome), the promotions people gave, and the time it was held (timed by watching the
 * runs this orchestrator drives). It reads the rollouts only to describe them; it must not start, stop or
 * command one, and never touches leases or hosts.
 */
import { hasCode } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { RolloutOutcome } from '../protocol/rollout';
import { analysisRuns } from './analysisRuns';
import { type HistoryEntry, HistoryRecord, RolloutRecord, StableRecord, keys } from './records';
import type { Run } from './runs/launch';
import { stateString } from './status';
import { pauseOf } from './statusFacts';
import { readRecord } from './storedRecord';

/** What {@link History} works with. */
export interface HistoryContext {
  store: StateStore;
  clock: Clock;
  /** Entries kept per app (the stable one's newest is kept beyond it). */
  limit: number;
  /** The rollout of that id this orchestrator drives, if any. */
  localRun(rolloutId: string): Pick<Run, 'kind' | 'actor' | 'createdAt'> | undefined;
}

/** Measurements of each analysis a history entry keeps (the newest). */
export const HISTORY_MEASUREMENTS = 20;

type LocalRun = NonNullable<ReturnType<HistoryContext['localRun']>>;

/** Every app's rollout history, pruned as it is written. */
export class History {
  /** Rollouts whose holds are being timed here, and the end of their subscription. */
  private readonly tracked = new Map<string, () => void>();

  constructor(private readonly o: HistoryContext) {}

  /** The app's entries, newest first (empty when none is stored or the record is invalid). */
  async read(app: string): Promise<HistoryEntry[]> {
    return (await readRecord(this.o.store, keys.history(app), HistoryRecord))?.entries ?? [];
  }

  /**
   * Records (or updates) a rollout's entry, then prunes the history and forgets what it dropped. A final
   * outcome also records the rollout's analyses (with their verdicts, dry runs' observations included).
   */
  async record(
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ): Promise<void> {
    const { store, clock } = this.o;
    const run = this.o.localRun(rolloutId);
    if (run !== undefined && outcome === 'inProgress') this.watch(app, rolloutId, run);
    const ctx = run?.actor.getSnapshot().context;
    const analyses =
      outcome === 'inProgress' || ctx === undefined
        ? undefined
        : await analysisRuns(store, rolloutId, ctx.strategy)
            // The newest figures of each: a history record stays well under the store's value bound.
            .then((runs) => runs.map((r) => ({ ...r, values: r.values.slice(-HISTORY_MEASUREMENTS) })))
            .catch(() => undefined);
    await this.update(app, rolloutId, (existing) => {
      const now = clock.now();
      const entry = existing ?? this.fresh(rolloutId, run, now);
      entry.outcome = outcome;
      entry.reason = reason;
      entry.at = now;
      if (outcome !== 'inProgress') entry.finishedAt = now;
      if (analyses !== undefined) entry.analyses = analyses;
      return entry;
    });
  }

  /** Notes a promotion a person gave to a rollout (kept in its history entry). */
  async promoted(app: string, rolloutId: string, promotion: { at: number; full: boolean }): Promise<void> {
    const run = this.o.localRun(rolloutId);
    if (run !== undefined) this.watch(app, rolloutId, run);
    await this.update(app, rolloutId, (existing) => {
      const entry = existing ?? this.fresh(rolloutId, run, this.o.clock.now());
      entry.promotions = [...(entry.promotions ?? []), promotion].slice(-100);
      return entry;
    });
  }

  /** Stops timing holds (the orchestrator closes). */
  close(): void {
    for (const stop of this.tracked.values()) stop();
    this.tracked.clear();
  }

  /** A new entry for a rollout, from what its local run knows. */
  private fresh(rolloutId: string, run: LocalRun | undefined, now: number): HistoryEntry {
    const ctx = run?.actor.getSnapshot().context;
    return {
      version: ctx?.targetVersion ?? '',
      rolloutId,
      kind: run?.kind ?? 'deploy',
      outcome: 'inProgress',
      reason: null,
      at: now,
      ...(ctx === undefined ? {} : { stableVersion: ctx.stableVersion, strategy: ctx.strategy.type }),
      ...(run === undefined ? {} : { startedAt: run.createdAt }),
    };
  }

  /**
   * Times the holds and pauses of a rollout driven here: each one that ends adds its length to the entry's
   * `heldMs` (a hold under way when the orchestrator stops is not counted). Started for a rollout started
   * here, and for one resumed or taken over (`watch` again is a no-op).
   */
  watch(app: string, rolloutId: string, run: LocalRun): void {
    if (this.tracked.has(rolloutId)) return;
    const holdOf = (snap: ReturnType<LocalRun['actor']['getSnapshot']>) =>
      snap.status === 'active' ? (pauseOf(snap.context, stateString(snap.value))?.since ?? null) : null;
    let since = holdOf(run.actor.getSnapshot());
    let stopped = false;
    let sub: { unsubscribe(): void } | undefined;
    const stop = () => {
      stopped = true;
      sub?.unsubscribe();
      this.tracked.delete(rolloutId);
    };
    sub = run.actor.subscribe({
      next: (snap) => {
        const now = holdOf(snap);
        if (since !== null && now !== since) {
          const ms = Math.max(0, this.o.clock.now() - since);
          void this.update(app, rolloutId, (entry) => {
            if (entry === undefined) return undefined;
            entry.heldMs = (entry.heldMs ?? 0) + ms;
            entry.holds = (entry.holds ?? 0) + 1;
            return entry;
          }).catch(() => undefined);
        }
        since = now;
        if (snap.status !== 'active') stop();
      },
      // Stopped here (superseded, taken over, closed): a hold under way is not counted.
      complete: () => stop(),
      error: () => stop(),
    });
    // An actor already stopped completes the subscription at once.
    if (stopped) sub.unsubscribe();
    else this.tracked.set(rolloutId, stop);
  }

  /**
   * Changes a rollout's entry by compare-and-set (`change` gets it, or undefined when there is none yet, and
   * returns the entry to keep, or undefined to leave history as it is), then prunes and forgets what it dropped.
   */
  private async update(
    app: string,
    rolloutId: string,
    change: (entry: HistoryEntry | undefined) => HistoryEntry | undefined,
  ): Promise<void> {
    const { store } = this.o;
    for (let attempt = 0; ; attempt++) {
      const e = await store.get('cutover', keys.history(app));
      const parsed = e ? HistoryRecord.safeParse(e.value) : null;
      const entries = parsed?.success ? parsed.data.entries : [];
      const index = entries.findIndex((x) => x.rolloutId === rolloutId);
      const next = change(index === -1 ? undefined : entries[index]);
      if (next === undefined) return;
      if (index === -1) entries.unshift(next);
      else entries[index] = next;
      const stable = await readRecord(store, keys.stable(app), StableRecord);
      // Prune to the limit, never dropping the stable revision's newest entry.
      const stableIndex = stable
        ? entries.findIndex((x) => x.version === stable.version && x.outcome === 'completed')
        : -1;
      const kept = entries.filter((_, i) => i < this.o.limit || i === stableIndex);
      try {
        await store.put(
          'cutover',
          keys.history(app),
          { schema: 1, entries: kept },
          { expectedRevision: e?.revision ?? 0 },
        );
        const dropped = entries.filter((x) => !kept.includes(x));
        if (dropped.length > 0) await this.forget(app, dropped, kept, stable?.version ?? null).catch(() => undefined);
        return;
      } catch (err) {
        if (!hasCode(err, 'store.conflict') || attempt > 20) throw err;
      }
    }
  }

  /**
   * What history no longer lists is removed from the store: the rollout's record, its plan (batches, gates,
   * analysis runs) and its revision when no kept entry and not stable names that version. Best effort: a
   * leftover is only space, and the next pruning tries again for nothing it already removed.
   */
  private async forget(
    app: string,
    dropped: readonly HistoryEntry[],
    kept: readonly HistoryEntry[],
    stableVersion: string | null,
  ): Promise<void> {
    const { store } = this.o;
    for (const d of dropped) {
      if (this.o.localRun(d.rolloutId)?.actor.getSnapshot().status === 'active') continue;
      const rec = await readRecord(store, keys.rollout(d.rolloutId), RolloutRecord).catch(() => null);
      if (rec?.snapshot.status === 'active') continue;
      for (const key of await store.keys('cutover', `${keys.plan(d.rolloutId)}.`)) await store.delete('cutover', key);
      await store.delete('cutover', keys.plan(d.rolloutId));
      await store.delete('cutover', keys.rollout(d.rolloutId));
      if (d.version !== stableVersion && !kept.some((k) => k.version === d.version)) {
        await store.delete('cutover', keys.revision(app, d.version));
      }
    }
  }
}
