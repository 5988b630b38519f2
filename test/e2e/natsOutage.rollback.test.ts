// nats-server stopped for 15 s and for 45 s during a rolling rollback: the rollout waits the
// outage out (transport and store) and ends as it would have without it, every host on the exact version,
// and no invocation a host accepted is lost. Real nats-server, real reconnects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutageRig, startOutageRig } from './natsOutageRig';

describe('outage during a rollback', () => {
  let rig: OutageRig;
  beforeAll(async () => {
    rig = await startOutageRig();
    await rig.install('1');
  });
  afterAll(async () => {
    await rig?.[Symbol.asyncDispose]();
  });

  it.each([
    [15_000, 'bad1'],
    [45_000, 'bad2'],
  ])('waits out %i ms without NATS and ends rolledBack (%s)', { timeout: 120_000 }, async (outageMs, version) => {
    const r = await rig.outageDuring('rollback', version, outageMs);
    console.log(
      JSON.stringify({
        scenario: 'rollback',
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
    expect(r.outcome.outcome, r.outcome.reason ?? '').toBe('rolledBack');
    // Back on stable exactly: version 1 on every host, the broken version nowhere.
    expect(r.serving).toEqual([rig.hashOf('1'), rig.hashOf('1'), rig.hashOf('1')]);
    expect(r.gate.accepted - r.gate.answered).toBe(0);
    // While it waited, the rollout said so.
    expect(r.conditions).toContain('TransportUnavailable');
    expect(r.calls.answered).toBeGreaterThan(0);
  });
});
