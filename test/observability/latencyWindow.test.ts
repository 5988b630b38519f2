// The gate's latency figures cover a sliding window, so analysis judges recent calls: one early burst of
// slow calls ages out instead of failing a version for good. Counts stay lifetime totals, so readers that
// difference two readings (gateWindow) still see them only grow.
import { type HostInventory, latencyP99Provider, AnalysisSpec } from 'cutover';
import { describe, expect, it } from 'vitest';
import { Gate } from '../../src/host/gate';
import { WindowedHistogram } from '../../src/host/histogram';
import { componentInventory, gateStats, hostInventory } from '../fixtures/inventory';
import { heldTarget, promptly, settled } from '../host/gateHarness';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('windowed latency histogram', () => {
  it('forgets samples older than the window but keeps counting them', () => {
    let now = 0;
    const h = new WindowedHistogram({ windowMs: 60_000, slices: 6, now: () => now });
    for (let i = 0; i < 50; i++) h.record(900);
    expect(h.summary()).toMatchObject({ count: 50, max: 900 });
    now = 30_000;
    for (let i = 0; i < 50; i++) h.record(10);
    // Both inside the window: the burst still dominates p99.
    expect(h.summary().p99).toBeGreaterThanOrEqual(900);
    now = 65_000;
    // The burst's slice has left the window; the recent samples remain.
    expect(h.summary()).toMatchObject({ count: 100, max: 10 });
    expect(h.summary().p99).toBeLessThanOrEqual(12.5);
    now = 200_000;
    expect(h.summary()).toEqual({ count: 100, p50: 0, p99: 0, max: 0 });
  });

  it('moves a slice at a time: a sample stays until its whole slice is older than the window', () => {
    let now = 0;
    const h = new WindowedHistogram({ windowMs: 1_000, slices: 4, now: () => now });
    now = 240;
    h.record(5);
    now = 999;
    expect(h.summary().max).toBe(5);
    now = 1_000;
    expect(h.summary().max).toBe(0);
  });
});

describe('gate latency over its window', () => {
  it('reports the p99 of recent calls, so an early burst of slow calls does not fail the version later', async () => {
    let now = 0;
    const gate = new Gate({ componentId: 'api', now: () => now, latencyWindowMs: 60_000 });
    const v1 = heldTarget('v1');
    gate.setTarget(v1);
    const slow = Array.from({ length: 20 }, () => gate.invoke('echo', bytes('slow')));
    now = 2_000;
    for (let i = 0; i < 20; i++) v1.answerNext();
    await promptly(Promise.all(slow));
    const early = gate.stats().byHash.v1?.latencyMs;
    now = 90_000;
    const fast = Array.from({ length: 20 }, () => gate.invoke('echo', bytes('fast')));
    now = 90_015;
    for (let i = 0; i < 20; i++) v1.answerNext();
    await promptly(Promise.all(fast));
    await settled();
    const later = gate.stats().byHash.v1?.latencyMs;
    console.log(`gate latency: after the burst ${JSON.stringify(early)}, 90 s later ${JSON.stringify(later)}`);
    expect(early).toMatchObject({ count: 20, max: 2_000 });
    expect(later).toMatchObject({ count: 40, max: 15 });

    // The latency analysis reads the windowed p99: the version passes a 250 ms bound once the burst aged out.
    const inventory = (latencyMs: typeof later): HostInventory[] => [
      hostInventory({
        hostId: 'h1',
        components: [
          componentInventory({
            id: 'api',
            app: 'shop',
            servingHash: 'v1',
            gate: gateStats({
              byHash: {
                v1: {
                  accepted: 40,
                  answered: 40,
                  errors: 0,
                  latencyMs: latencyMs ?? { count: 0, p50: 0, p99: 0, max: 0 },
                },
              },
            }),
          }),
        ],
      }),
    ];
    const spec = AnalysisSpec.parse({ provider: 'latencyP99', failureCondition: { max: 250 } });
    const measured = await latencyP99Provider.measure({
      app: 'shop',
      revision: '1',
      hash: 'v1',
      hosts: inventory(later),
      metric: 'latencyP99',
      spec,
    });
    expect(measured).toEqual({ value: 15 });
  });
});
