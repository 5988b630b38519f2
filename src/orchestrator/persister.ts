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
        const bytes = JSON.stringify(value).length;
        if (bytes > this.largestBytes) this.largestBytes = bytes;
        try {
          this.revision = await this.store.put('cutover', this.key, value, { expectedRevision: this.revision });
          this.writes++;
        } catch (e) {
          if (hasCode(e, 'store.conflict')) {
            this.lost = true;
            this.failure = e;
            this.onLost(e);
            return;
          }
          // A transient store failure: the next schedule (or flush) writes the latest again.
          this.failure = e;
          this.pending = true;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      this.writing = null;
    }
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
