import { CutoverError, hasCode } from '../errors';
import type { StateStore } from '../ports/store';

/** Backoff after a failed write: 10 ms doubling to 2 s, with jitter so orchestrators don't retry in step. */
function backoff(failures: number): number {
  const base = Math.min(10 * 2 ** Math.min(failures, 8), 2_000);
  return base / 2 + Math.random() * (base / 2);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

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
  /** Consecutive failed writes (reset by a success): drives the backoff. */
  private failures = 0;
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
          this.failures = 0;
          this.unconfirmed = [];
        } catch (e) {
          if (hasCode(e, 'store.conflict') && this.unconfirmed.length > 0) {
            // A write whose reply was lost (a server restart, a timeout) may have landed: a conflict with our
            // own value is not another writer, so adopt its revision and write the latest again.
            const adopted = await this.adoptOwnWrite().catch(() => undefined);
            if (adopted !== false) {
              this.pending = true;
              if (adopted === undefined) await sleep(backoff(this.failures++));
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
          await sleep(backoff(this.failures++));
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

  /** True while a scheduled value is not yet durable (a write is in flight or waiting to be retried). */
  get dirty(): boolean {
    return this.pending || this.writing !== null;
  }

  /**
   * Resolves when the latest scheduled value is durable; throws when this writer lost the key. A store that
   * stays unavailable keeps it waiting (the loop retries with backoff) until `signal` aborts or `timeoutMs`
   * passes (real time): then it throws `store.unavailable`, and the value is still written once the store
   * is back, unless this writer lost the key meanwhile.
   */
  async flush(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const { signal, timeoutMs } = options;
    // Already durable: every send of a batch asks, and a race with an abort listener each is pure cost
    // (1,000 sends at once also tripped Node's listener-leak warning on the step's signal).
    if (!this.dirty && !this.lost) return;
    if (signal === undefined && timeoutMs === undefined) return this.flushAll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      const giveUp = (why: string) =>
        reject(
          new CutoverError('store.unavailable', `"${this.key}" is not durable yet: ${why}`, {
            cause: this.failure ?? undefined,
          }),
        );
      if (timeoutMs !== undefined) timer = setTimeout(() => giveUp(`gave up after ${timeoutMs} ms`), timeoutMs);
      if (signal !== undefined) {
        onAbort = () => giveUp('cancelled');
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      const all = this.flushAll();
      // Given up on, it may still fail later (this writer lost the key): that is reported by onLost, not here.
      all.catch(() => undefined);
      await Promise.race([all, stop]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  private async flushAll(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.lost) throw this.failure ?? new Error('persister lost its key');
    if (this.pending) {
      this.writing = this.loop();
      await this.flushAll();
    }
  }
}
