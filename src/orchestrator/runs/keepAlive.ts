/**
 * Keeps the process alive while a rollout is in flight. Every other timer of cutover is unref'd (an idle
 * cutover never keeps a process alive), so without this a script that awaits `rollout.done` would exit
 * (code 13, "unsettled top-level await") the moment the rollout waits on a timer. One ref'd real-time interval
 * exists while at least one run is held; it is released when the last run's `done` settles or the run stops
 * here (close, lost lease or record). It is a real-time handle on purpose: it only pins the event loop, it
 * never fires anything, so a simulated clock is unaffected.
 */
export class KeepAlive {
  private readonly held = new Set<object>();
  private handle: ReturnType<typeof setInterval> | undefined;

  /** Holds the process open for `owner` until {@link release} is called for it (idempotent). */
  hold(owner: object): void {
    this.held.add(owner);
    // An interval far apart costs nothing; its only effect is a ref'd handle on the event loop.
    this.handle ??= setInterval(() => undefined, 1 << 30);
  }

  /** Lets go of `owner`; the handle goes once nothing is held. */
  release(owner: object): void {
    this.held.delete(owner);
    if (this.held.size === 0 && this.handle !== undefined) {
      clearInterval(this.handle);
      this.handle = undefined;
    }
  }

  /** How many runs hold the process open now. */
  get size(): number {
    return this.held.size;
  }
}
