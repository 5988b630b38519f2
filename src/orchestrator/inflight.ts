/**
 * Requests to hosts still in flight, per app. A rollout that supersedes another plans only once every request
 * the earlier one sent has settled (answered, refused or timed out), so what those requests started on the
 * hosts already shows in the inventories the new plan is made from. It only counts promises: it must not send,
 * retry or judge anything.
 */

/** The requests in flight per app. */
export class Inflight {
  private readonly byApp = new Map<string, Set<Promise<unknown>>>();

  /** Counts `request` as in flight for `app` until it settles; returns it unchanged. */
  track<T>(app: string, request: Promise<T>): Promise<T> {
    let set = this.byApp.get(app);
    if (set === undefined) {
      set = new Set();
      this.byApp.set(app, set);
    }
    const entry: Promise<unknown> = request.then(
      () => undefined,
      () => undefined,
    );
    set.add(entry);
    void entry.then(() => {
      set.delete(entry);
      if (set.size === 0 && this.byApp.get(app) === set) this.byApp.delete(app);
    });
    return request;
  }

  /** How many requests to `app` are in flight now. */
  count(app: string): number {
    return this.byApp.get(app)?.size ?? 0;
  }

  /** Resolves once every request to `app` in flight now (and any sent meanwhile) has settled. */
  async settled(app: string): Promise<void> {
    for (let set = this.byApp.get(app); set !== undefined && set.size > 0; set = this.byApp.get(app)) {
      await Promise.all([...set]);
    }
  }
}
