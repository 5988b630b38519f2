// A simulated clock for tests: the project's Clock port (now, setTimeout, clearTimeout) on virtual time,
// moved on by hand. `increment`/`set` fire due timers at once (XState's SimulatedClock API, so it also drives
// machines directly); `advance`, `runDue` and `runAll` let promises and I/O callbacks settle between timers,
// so an effect that awaits something before setting its next timer still sees it fire on time.
import type { Clock } from '../ports/clock';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** Options of {@link SimulatedClock.runAll}. */
export interface RunAllOptions {
  /** Gives up (with an error naming the count) after firing this many timers (default 10,000). */
  maxTimers?: number;
}

/** Lets pending promise callbacks and `setImmediate` callbacks (memory bus deliveries) run, `rounds` turns. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * Virtual time for a whole test lattice: give the same instance to hosts, orchestrators, the memory bus
 * and the memory runtime, or their timeouts run on real time while simulated time races ahead.
 * Timers fire in order of their instant (ties in the order they were set), each with `now()` equal to it.
 * @example
 * const clock = new SimulatedClock(1_000);
 * clock.setTimeout(() => console.log(clock.now()), 500);
 * await clock.advance(500); // logs 1500
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.#now = start;
  }

  /** The current simulated instant (ms). */
  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    this.#timers.set(id, { id, at: this.#now + delay, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The instant of the next timer, or undefined when none is set. */
  nextAt(): number | undefined {
    return this.#next()?.at;
  }

  /** Moves time `ms` forward at once, firing every timer due on the way (synchronously, in order). */
  increment(ms: number): void {
    this.set(this.#now + ms);
  }

  /** Moves time to `at` (never backwards), firing every timer due on the way (synchronously, in order). */
  set(at: number): void {
    if (at < this.#now) throw new RangeError(`cannot move a simulated clock back from ${this.#now} to ${at}`);
    for (let t = this.#next(); t !== undefined && t.at <= at; t = this.#next()) this.#fire(t);
    this.#now = at;
  }

  /**
   * Moves time `ms` forward one timer at a time, letting promises and memory-bus deliveries settle before
   * each timer and at the end: what an effect does after an await, and the timers it sets, happen in order.
   */
  async advance(ms: number, settleRounds = 10): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle(settleRounds);
      const t = this.#next();
      if (t === undefined || t.at > target) break;
      this.#fire(t);
    }
    this.#now = target;
    await settle(settleRounds);
  }

  /** Fires the timers due now (and those they set due now), settling between them; returns how many fired. */
  async runDue(settleRounds = 10): Promise<number> {
    let fired = 0;
    for (;;) {
      await settle(settleRounds);
      const t = this.#next();
      if (t === undefined || t.at > this.#now) return fired;
      this.#fire(t);
      fired++;
    }
  }

  /**
   * Jumps from timer to timer until none is left, settling between them; returns how many fired. A lattice
   * with periodic timers (heartbeats, lease renewals) never runs out: use {@link SimulatedClock.advance} there.
   */
  async runAll(options: RunAllOptions = {}, settleRounds = 10): Promise<number> {
    const max = options.maxTimers ?? 10_000;
    let fired = 0;
    for (;;) {
      await settle(settleRounds);
      const t = this.#next();
      if (t === undefined) return fired;
      if (fired >= max) throw new Error(`runAll fired ${fired} timers and more keep coming (a periodic timer?)`);
      this.#fire(t);
      fired++;
    }
  }

  #next(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers.values()) if (best === undefined || t.at < best.at) best = t;
    return best;
  }

  #fire(t: Timer): void {
    this.#timers.delete(t.id);
    if (t.at > this.#now) this.#now = t.at;
    t.fn();
  }
}

/** A {@link SimulatedClock} starting at `start` ms (default 0). */
export function createSimulatedClock(start = 0): SimulatedClock {
  return new SimulatedClock(start);
}
