import type { Clock } from 'cutover';

/** A pending deadline; `cancel` is idempotent. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  readonly at: number;
  readonly seq: number;
  fire: (() => void) | undefined;
}

/**
 * Many deadlines on one clock timer (a min-heap by instant). A timer per request costs far more than
 * the request itself on a busy bus; here a request adds one heap entry and cancels it lazily.
 */
export class Deadlines {
  readonly #clock: Clock;
  #heap: Entry[] = [];
  #cancelled = 0;
  #seq = 0;
  #timer: unknown;
  #armedAt = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls `fire` once `ms` have passed on the clock, unless cancelled first. */
  after(ms: number, fire: () => void): Deadline {
    const entry: Entry = {
      at: this.#clock.now() + Math.max(0, ms),
      seq: ++this.#seq,
      fire,
      cancel: () => {
        if (entry.fire === undefined) return;
        entry.fire = undefined;
        this.#cancelled++;
        if (this.#cancelled > 1024 && this.#cancelled * 2 > this.#heap.length) this.#compact();
      },
    };
    this.#push(entry);
    if (entry.at < this.#armedAt) this.#arm(entry.at);
    return entry;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = this.#clock.setTimeout(this.#tick, Math.max(0, at - this.#clock.now()));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    const due: Array<() => void> = [];
    let head = this.#heap[0];
    while (head !== undefined && (head.fire === undefined || head.at <= now)) {
      this.#pop();
      if (head.fire !== undefined) {
        due.push(head.fire);
        head.fire = undefined;
      } else this.#cancelled--;
      head = this.#heap[0];
    }
    // Re-arm before firing: a fired callback may add deadlines of its own.
    if (head !== undefined) this.#arm(Math.max(head.at, now + 1));
    for (const fire of due) fire();
  };

  #compact(): void {
    const live = this.#heap.filter((e) => e.fire !== undefined);
    this.#heap = [];
    this.#cancelled = 0;
    for (const e of live) this.#push(e);
    if (this.#heap.length === 0) this.#disarm();
  }

  #less(i: number, j: number): boolean {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const h = this.#heap;
    const t = h[i]!;
    h[i] = h[j]!;
    h[j] = t;
  }

  #push(entry: Entry): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (h.length === 0 || last === undefined) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(l, m)) m = l;
      if (r < h.length && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
