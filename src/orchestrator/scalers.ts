import { hasCode } from '../errors';
import type { StateStore } from '../ports/store';
import { ScalerRecord, keys } from './records';

/**
 * Scaler suspension per app, as a set of holders (rollout ids) in the store: a rollout suspends,
 * `finalizing` resumes, a superseding rollout takes the superseded one's place (handover).
 * Compare-and-set, so two writers never lose each other's holders.
 */
export class ScalerHolds {
  constructor(private readonly store: StateStore) {}

  async holders(app: string): Promise<string[]> {
    const e = await this.store.get('cutover', keys.scaler(app));
    if (!e) return [];
    const parsed = ScalerRecord.safeParse(e.value);
    return parsed.success ? parsed.data.holders : [];
  }

  private async update(app: string, change: (holders: string[]) => string[]): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      const e = await this.store.get('cutover', keys.scaler(app));
      const parsed = e ? ScalerRecord.safeParse(e.value) : null;
      const before = parsed?.success ? parsed.data.holders : [];
      const after = change(before);
      try {
        await this.store.put(
          'cutover',
          keys.scaler(app),
          { schema: 1, holders: after },
          { expectedRevision: e?.revision ?? 0 },
        );
        return after;
      } catch (err) {
        if (!hasCode(err, 'store.conflict') || attempt > 20) throw err;
      }
    }
  }

  /** Suspends the app's scaler for `holder`; `handover` (a superseded rollout) stops holding at the same time. */
  suspend(app: string, holder: string, handover: string | null): Promise<string[]> {
    return this.update(app, (hs) => [...new Set([...hs.filter((h) => h !== handover), holder])]);
  }

  resume(app: string, holder: string): Promise<string[]> {
    return this.update(app, (hs) => hs.filter((h) => h !== holder));
  }
}
