/** Time as cutover sees it: wall time plus timers, so tests can use a simulated clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. Timers are unref'd so an idle cutover never keeps a process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Resolves at the absolute instant `at` of `clock`, so a deadline restored from a snapshot still fires
 * at the time it was first set (XState does not persist `after` timers).
 */
export function waitUntil(clock: Clock, at: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const handle = clock.setTimeout(resolve, Math.max(0, at - clock.now()));
    signal?.addEventListener('abort', () => clock.clearTimeout(handle), { once: true });
  });
}
