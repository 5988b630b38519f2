// What a host puts on its event subject: one component.changed per slot and tick, built when the tick ends,
// after that tick's outcomes; a phase that lasts beyond a tick (a slow download) is still reported.
import { decode, encode, HostReport, specHash, subjects } from 'cutover';
import { describe, expect, it } from 'vitest';
import { apiSpec, createHostRig, echoImage, fenced } from '../fixtures/host';

type Wire = ReturnType<typeof HostReport.parse>;

async function rigWithWatcher(options: Parameters<typeof createHostRig>[0] = {}) {
  const rig = await createHostRig(options);
  const watcher = rig.bus.connect('watcher');
  const wire: Wire[] = [];
  watcher.subscribe(subjects.hostEvents('test', 'h1'), (m) => {
    wire.push(decode(m.data, HostReport));
  });
  const apply = async (version: number) => {
    const reply = await watcher.request(subjects.componentApply('test', 'h1'), encode(fenced(apiSpec(version))), {
      timeoutMs: 1000,
    });
    return reply;
  };
  return { rig, watcher, wire, apply };
}

describe('host reports on the wire', () => {
  it('sends one component.changed and one component.applied for an upgrade that finishes within a tick', async () => {
    const { rig, watcher, wire, apply } = await rigWithWatcher();
    await using _ = rig;
    rig.publishApi(2);
    await apply(1);
    await rig.host.settled();
    await watcher.flush();
    wire.length = 0;
    const listened: string[] = [];
    const off = rig.host.onReport((r) => listened.push(r.type));

    await apply(2);
    await rig.host.settled();
    await watcher.flush();
    off();

    // In-process listeners still hear every phase; the wire carries where the slot ended, after the outcome.
    expect(listened.filter((t) => t === 'component.changed').length).toBeGreaterThanOrEqual(5);
    expect(wire.map((r) => r.type)).toEqual(['component.applied', 'component.changed']);
    const changed = wire[1];
    if (changed?.type !== 'component.changed') throw new Error('expected a component.changed');
    expect(changed.component).toMatchObject({
      id: 'api',
      status: 'running',
      servingHash: specHash(apiSpec(2)),
      lastApply: { hash: specHash(apiSpec(2)), outcome: 'applied' },
    });
    expect(changed.component.pending).toBeUndefined();
  });

  it('reports a phase that outlasts its tick: a slow download shows as downloading, then running', async () => {
    const { rig, watcher, wire, apply } = await rigWithWatcher();
    await using _ = rig;
    rig.runtime.publish(apiSpec(1).imageRef, echoImage('1'));
    rig.runtime.publish(apiSpec(2).imageRef, echoImage('2', undefined, { fetchDelayMs: 5_000 }));
    await apply(1);
    await rig.host.settled();
    await watcher.flush();
    wire.length = 0;

    await apply(2);
    // The download waits on the simulated clock: the tick ends with the slot downloading.
    await new Promise((r) => setImmediate(r));
    await watcher.flush();
    const during = wire.filter((r) => r.type === 'component.changed');
    expect(during.length).toBe(1);
    expect(during[0]?.type === 'component.changed' && during[0].component.pending?.phase).toBe('downloading');

    rig.clock.increment(5_000);
    await rig.host.settled();
    await watcher.flush();
    const types = wire.map((r) => r.type);
    expect(types).toEqual(['component.changed', 'component.applied', 'component.changed']);
    const last = wire[2];
    expect(last?.type === 'component.changed' && last.component.servingHash).toBe(specHash(apiSpec(2)));
  });
});
