// A superseded rollout stops sending at once (memory adapter, simulated clock): with one host that handles
// its control messages 100 ms late, nothing of the superseded rollout leaves after the instant it was
// superseded, the next rollout plans only after the earlier one's requests settled, and its `completed` is
// true on every host, with scalers off (nothing would repair it later).
import { Message, type MessageOf, decode, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { slowTransport } from '../fixtures/faults';
import { drive, revision, settle, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({
    version,
    components: [{ id: 'api', image: `mem://api:${version}` }],
    providers: [{ id: 'kv', image: `mem://kv:${version}` }],
  });
const hashOf = (version: string) => specHash(rev(version).components[0]?.spec ?? ({} as never), 'component');

describe('supersede', () => {
  it('sends nothing of the superseded rollout after it was superseded, and the next one completes on every host', async () => {
    await using lat = await testLattice(3, {
      hostTransport: (hostId, t, clock) => (hostId === 'h2' ? slowTransport(t, clock, 100) : t),
    });
    for (const v of ['1', '2', '3'])
      lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
    const sent: Array<{ at: number; hostId: string; version: string }> = [];
    lat.bus.connect('spy').subscribe('wasmbus.ctl.v2alpha1.test.host.*.>', (msg) => {
      try {
        const m = decode(msg.data, Message);
        if (m.type === 'component.apply' || m.type === 'provider.apply') {
          const spec = (m as MessageOf<'component.apply'>).spec;
          sent.push({ at: lat.clock.now(), hostId: msg.subject.split('.')[5] ?? '', version: spec.imageRef.slice(-1) });
        }
      } catch {
        // Inventory requests and fences are not applies.
      }
    });
    const orch = await lat.orchestrator({ requestTimeoutMs: 2_000 });
    expect((await drive(lat.clock, (await orch.deploy(rev('1'))).done)).outcome).toBe('completed');

    // v2 to every host at once; each host gets its provider, then its component (h2 answers 100 ms late).
    const v2 = await orch.deploy(rev('2'), { strategy: { type: 'rolling', maxParallel: '100%' } });
    await until(lat.clock, () => sent.some((s) => s.version === '2' && s.hostId === 'h2'), 10);
    const supersededAt = lat.clock.now();
    let v3Handle: Awaited<ReturnType<typeof orch.deploy>> | undefined;
    const deploying = orch.deploy(rev('3'), { strategy: { type: 'rolling', maxParallel: '100%' } }).then((h) => {
      v3Handle = h;
    });
    // The new rollout waits for h2 to answer what it was sent: time has to pass for that.
    await until(lat.clock, () => v3Handle !== undefined, 20);
    await deploying;
    const v3 = v3Handle;
    if (!v3) throw new Error('no v3');
    expect((await drive(lat.clock, v3.done)).outcome).toBe('completed');
    expect((await drive(lat.clock, v2.done)).outcome).toBe('superseded');
    // Long after: nothing of v2 lands late, every host stays on v3.
    for (let i = 0; i < 20; i++) {
      lat.clock.increment(500);
      await settle(2);
    }
    const late = sent.filter((s) => s.version === '2' && s.at > supersededAt);
    console.log(
      JSON.stringify({
        supersededAt,
        v2Sends: sent.filter((s) => s.version === '2').length,
        afterSupersede: late.length,
      }),
    );
    expect(late).toEqual([]);
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual([hashOf('3'), hashOf('3'), hashOf('3')]);
    const inventories = [...lat.hosts.values()].map((h) => h.inventory().components.find((c) => c.id === 'api'));
    expect(inventories.map((c) => c?.pending)).toEqual([undefined, undefined, undefined]);
  });
});
