/**
 * Per-app serialisation of the orchestrator's operations (deploys, commands, scaler passes, takeovers), so
 * two of them on one app never interleave. It owns only the chain of pending operations per app; it must
 * not know what the operations do.
 */

/** One promise chain per app: each operation starts once the previous one of that app has settled. */
export class AppLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every operation queued before on `app`, whether it succeeded or failed. */
  run<T>(app: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(app) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.tails.set(
      app,
      next.catch(() => undefined),
    );
    return next;
  }
}
