/**
 * An app's rollout history (`history.<app>`): reading it, recording a rollout's outcome in it by
 * compare-and-set, pruning it to the limit (the stable revision's newest entry is never dropped) and
 * forgetting what pruning dropped: the rollout's record, its plan and its revision when nothing kept names it.
 * It reads the rollouts this orchestrator drives only to describe them; it must not start, stop or command
 * one, and never touches leases or hosts.
 */
import { hasCode } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { RolloutOutcome } from '../protocol/rollout';
import { type HistoryEntry, HistoryRecord, RolloutRecord, StableRecord, keys } from './records';
import type { Run } from './runs/launch';
import { readRecord } from './storedRecord';

/** What {@link History} works with. */
export interface HistoryContext {
  store: StateStore;
  clock: Clock;
  /** Entries kept per app (the stable one's newest is kept beyond it). */
  limit: number;
  /** The rollout of that id this orchestrator drives, if any. */
  localRun(rolloutId: string): Pick<Run, 'kind' | 'actor'> | undefined;
}

/** Every app's rollout history, pruned as it is written. */
export class History {
  constructor(private readonly o: HistoryContext) {}

  /** The app's entries, newest first (empty when none is stored or the record is invalid). */
  async read(app: string): Promise<HistoryEntry[]> {
    return (await readRecord(this.o.store, keys.history(app), HistoryRecord))?.entries ?? [];
  }

  /** Records (or updates) a rollout's entry, then prunes the history and forgets what it dropped. */
  async record(
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ): Promise<void> {
    const { store, clock } = this.o;
    for (let attempt = 0; ; attempt++) {
      const e = await store.get('cutover', keys.history(app));
      const parsed = e ? HistoryRecord.safeParse(e.value) : null;
      const entries = parsed?.success ? parsed.data.entries : [];
      const run = this.o.localRun(rolloutId);
      const existing = entries.find((x) => x.rolloutId === rolloutId);
      if (existing) {
        existing.outcome = outcome;
        existing.reason = reason;
        existing.at = clock.now();
      } else {
        const ctx = run?.actor.getSnapshot().context;
        entries.unshift({
          version: ctx?.targetVersion ?? '',
          rolloutId,
          kind: run?.kind ?? 'deploy',
          outcome,
          reason,
          at: clock.now(),
        });
      }
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
