// The end of the current event-loop turn, as the memory bus delivers (setImmediate where it exists): hosts send
// a turn's reports then, and the orchestrator lets that turn pass before it reads them.

/** Runs `fn` once the current macrotask and its microtasks are done. */
export const afterTick: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/** Resolves after the current macrotask (and the ones queued before this call) ran. */
export function endOfTick(): Promise<void> {
  return new Promise((resolve) => afterTick(resolve));
}
