// Every duration a rollout decides on comes from the injected Clock (DESIGN §3): here the hosts' gate latency
// figures, which a latencyP99 analysis judges. On real memory hosts with a simulated clock.
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }] });

describe('durations on the clock', () => {
  it('measures gate latency on the host clock: calls taking 500 simulated ms fail a p99 bound of 300 ms', async () => {
    await using lat = await testLattice(2);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    // v2 answers after 500 ms of the (simulated) clock and at once in wall time.
    lat.runtime.publish('mem://api:2', {
      version: '2',
      operations: { handle: (p) => new Promise<Uint8Array>((resolve) => lat.clock.setTimeout(() => resolve(p), 500)) },
    });
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(rev('1'))).done)).outcome).toBe('completed');
    const h = await orch.deploy(rev('2'), {
      strategy: {
        type: 'canary',
        steps: [
          { setHosts: 1 },
          {
            analysis: {
              provider: 'latencyP99',
              intervalMs: 10_000,
              count: 2,
              failureCondition: { metric: 'latencyP99', max: 300 },
            },
          },
        ],
      },
    });
    let finished = false;
    void h.done.then(() => {
      finished = true;
    });
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 400 && !finished; i++) {
      await settle(3);
      for (const host of lat.hosts.values())
        calls.push(host.invoke('api', 'handle', new Uint8Array([i % 256])).catch(() => undefined));
      lat.clock.increment(250);
    }
    const out = await h.done;
    await Promise.all(calls);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
    expect(out.reason).toContain('latencyP99');
  });
});
