// nats-server stopped for 15 s and for 45 s during a rolling apply: the rollout waits the
// outage out (transport and store) and ends as it would have without it, every host on the exact version,
// and no invocation a host accepted is lost. Real nats-server, real reconnects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutageRig, startOutageRig } from './natsOutageRig';

describe('outage during a rolling apply', () => {
  let rig: OutageRig;
  beforeAll(async () => {
    rig = await startOutageRig();
    await rig.install('1');
  });
  afterAll(async () => {
    await rig?.[Symbol.asyncDispose]();
  });

  it.each([
    [15_000, '2'],
    [45_000, '3'],
  ])('waits out %i ms without NATS and ends completed (%s)', { timeout: 120_000 }, async (outageMs, version) => {
    const r = await rig.outageDuring('apply', version, outageMs);
    console.log(
      JSON.stringify({
        scenario: 'apply',
        outageMs: r.outageMs,
        outcome: r.outcome.outcome,
        reason: r.outcome.reason,
        continuedAfterMs: r.continuedAfterMs,
        calls: r.calls,
        gate: r.gate,
        lost: r.gate.accepted - r.gate.answered,
        conditions: r.conditions,
      }),
    );
    expect(r.outcome.outcome, r.outcome.reason ?? '').toBe('completed');
    expect(r.serving).toEqual([rig.hashOf(version), rig.hashOf(version), rig.hashOf(version)]);
    expect(r.gate.accepted - r.gate.answered).toBe(0);
    // While it waited, the rollout said so.
    expect(r.conditions).toContain('TransportUnavailable');
    expect(r.calls.answered).toBeGreaterThan(0);
  });
});
