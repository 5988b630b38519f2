// What instrumentation costs on the cut-over path when no OpenTelemetry SDK is registered: the host's gate
// figures are observable instruments whose callbacks never run, and the one call a pause makes lands on the
// API's no-op histogram. Prints figures (a benchmark line); asserts only behaviour, never a time.
import { describe, expect, it } from 'vitest';
import { Gate } from '../../src/host/gate';
import { instruments, observeHost } from '../../src/observability/telemetry';
import { hostInventory } from '../fixtures/inventory';

const payload = new Uint8Array([1]);
const echo = { hash: 'v1', invoke: async (_op: string, p: Uint8Array) => p };

/** Pause/resume cycles of a gate under `calls` invocations each; returns per-cycle p99 (µs) and calls per second. */
async function cutovers(cycles: number, calls: number) {
  const gate = new Gate({ componentId: 'api' });
  gate.setTarget(echo);
  const lengths: number[] = [];
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    const inflight = Array.from({ length: calls }, () => gate.invoke('echo', payload));
    const t = performance.now();
    await gate.pause();
    gate.setTarget(echo);
    gate.resume();
    lengths.push((performance.now() - t) * 1000);
    await Promise.all(inflight);
  }
  const seconds = (performance.now() - started) / 1000;
  lengths.sort((a, b) => a - b);
  return { p99: lengths[Math.floor(lengths.length * 0.99)] ?? 0, perSecond: Math.round((cycles * calls) / seconds) };
}

describe('instrumentation cost without an SDK', () => {
  it('never runs the host observers and records pauses on the no-op meter', async () => {
    let reads = 0;
    const stop = observeHost(() => {
      reads++;
      return hostInventory({ hostId: 'h1', components: [] });
    });
    const figures = await cutovers(2_000, 20);
    stop();
    expect(reads).toBe(0);

    // The API calls alone: what one pause adds when nothing records.
    const n = 1_000_000;
    const h = instruments().gatePauseDuration;
    const t = performance.now();
    for (let i = 0; i < n; i++) h.record(0.001, { component: 'api' });
    const nsPerRecord = ((performance.now() - t) * 1e6) / n;
    console.log(
      `no SDK: cut-over pause p99 ${figures.p99.toFixed(1)} µs, ${figures.perSecond} invocations/s through the gate; ` +
        `one no-op pause record ${nsPerRecord.toFixed(1)} ns (${((nsPerRecord / 1000 / figures.p99) * 100).toFixed(3)}% of a pause p99)`,
    );
  });
});
