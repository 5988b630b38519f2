import { hasCode } from '../errors';
import type { StateStore } from '../ports/store';

/**
 * Coalesced writes of one key: one write in flight, the latest value wins, `flush()` resolves once
 * everything scheduled so far is durable. Writes are compare-and-set on the key's revision, so a
 * second writer (another orchestrator that took the rollout over) makes this one stop: `onLost`.
 */
export class Persister {
  private latest: unknown = undefined;
  private pending = false;
  private writing: Promise<void> | null = null;
  private failure: unknown = null;
  /** Values whose write failed without an answer: the store may hold one of them all the same. */
  private unconfirmed: string[] = [];
  writes = 0;
  largestBytes = 0;
  lost = false;

  constructor(
    private readonly store: StateStore,
    private readonly key: string,
    private revision: number,
    private readonly onLost: (error: unknown) => void,
  ) {}

  schedule(value: unknown): void {
    if (this.lost) return;
    this.latest = value;
    this.pending = true;
    if (!this.writing) this.writing = this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.pending && !this.lost) {
        this.pending = false;
        const value = this.latest;
        const json = JSON.stringify(value);
        if (json.length > this.largestBytes) this.largestBytes = json.length;
        try {
          this.revision = await this.store.put('cutover', this.key, value, { expectedRevision: this.revision });
          this.writes++;
          this.unconfirmed = [];
        } catch (e) {
          if (hasCode(e, 'store.conflict') && this.unconfirmed.length > 0) {
            // A write whose reply was lost (a server restart, a timeout) may have landed: a conflict with our
            // own value is not another writer, so adopt its revision and write the latest again.
            const adopted = await this.adoptOwnWrite().catch(() => undefined);
            if (adopted !== false) {
              this.pending = true;
              if (adopted === undefined) await new Promise((r) => setTimeout(r, 10));
              continue;
            }
          }
          if (hasCode(e, 'store.conflict')) {
            this.lost = true;
            this.failure = e;
            this.onLost(e);
            return;
          }
          // A transient store failure: the next schedule (or flush) writes the latest again.
          if (!this.unconfirmed.includes(json)) this.unconfirmed.push(json);
          this.failure = e;
          this.pending = true;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      this.writing = null;
    }
  }

  /** True (revision adopted) when the stored value is one of ours whose write went unanswered; false when not. */
  private async adoptOwnWrite(): Promise<boolean> {
    const entry = await this.store.get('cutover', this.key);
    if (entry === null || !this.unconfirmed.includes(JSON.stringify(entry.value))) return false;
    this.revision = entry.revision;
    this.unconfirmed = [];
    return true;
  }

  /** Resolves when the latest scheduled value is durable; throws when this writer lost the key. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.lost) throw this.failure ?? new Error('persister lost its key');
    if (this.pending) {
      this.writing = this.loop();
      await this.flush();
    }
  }
}
