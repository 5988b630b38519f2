import type { Clock } from '../../ports/clock';

/**
 * An abort signal that fires `ms` from now on `clock` (wall time when no clock is given); `cancel` drops
 * the timer once the call is over.
 */
export function clockTimeout(clock: Clock | undefined, ms: number): { signal: AbortSignal; cancel(): void } {
  if (clock === undefined) return { signal: AbortSignal.timeout(ms), cancel: () => {} };
  const timer = new AbortController();
  const handle = clock.setTimeout(() => timer.abort(new Error(`timed out after ${ms} ms`)), ms);
  return { signal: timer.signal, cancel: () => clock.clearTimeout(handle) };
}
