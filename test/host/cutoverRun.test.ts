// The gate-closed part of a cut-over runs straight through on the host: the machine follows it afterwards, and
// link calls share one timeout timer, so the window holds nothing but the drain, the swaps and the switch.
import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { apiSpec, createHostRig, fenced, kvSpec, providerApply } from '../fixtures/host';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('host cut-over run', () => {
  it('takes no machine step while the gate is closed, and swaps the changed link inside that window', async () => {
    const stepsWhileClosed: string[] = [];
    const swapsSeen: boolean[] = [];
    await using rig = await createHostRig({
      provider: {
        refuse: (l, op) => {
          if (op === 'put' && l.sourceConfig.bucket === 'v2') swapsSeen.push(rig.host.gate('api')?.paused ?? false);
          return undefined;
        },
      },
      inspect: (e: InspectionEvent) => {
        const snap = (e as { snapshot?: { context?: { kind?: string }; value?: unknown } }).snapshot;
        if (e.type !== '@xstate.microstep' || snap?.context?.kind !== 'component') return;
        if (rig.host.gate('api')?.paused === true) stepsWhileClosed.push(JSON.stringify(snap.value));
      },
    });
    rig.publishApi(2);
    await rig.host.apply(providerApply(kvSpec('kv')));
    await rig.host.apply(providerApply(kvSpec('cache')));
    await rig.host.apply(fenced(apiSpec(1)));
    const calls = Array.from({ length: 8 }, (_, i) => rig.echo(`${i}`));
    const outcome = await rig.host.apply(fenced(apiSpec(2)));
    expect(outcome.type).toBe('component.applied');
    expect(swapsSeen).toEqual([true]);
    expect(stepsWhileClosed).toEqual([]);
    expect((await Promise.all(calls)).every((answer) => answer.startsWith('v1:') || answer.startsWith('v2:'))).toBe(
      true,
    );
    expect(await rig.echo('x')).toBe('v2:x');
    expect(rig.host.gate('api')?.pauses.count).toBe(1);
  });

  it('times out a link call made while the timer of an earlier call is armed, at its own deadline', async () => {
    await using rig = await createHostRig({
      linkTimeoutMs: 50,
      provider: { hang: (l, op) => op === 'put' && l.sourceConfig.bucket === 'v2' },
    });
    rig.publishApi(2);
    await rig.host.apply(providerApply(kvSpec('kv')));
    await rig.host.apply(providerApply(kvSpec('cache')));
    // The link puts of v1 arm the timer; the hanging swap of v2 starts 30 ms later, so it is due 30 ms after it.
    await rig.host.apply(fenced(apiSpec(1)));
    rig.clock.increment(30);
    let settled = false;
    const outcome = rig.host.apply(fenced(apiSpec(2))).finally(() => {
      settled = true;
    });
    await tick();
    rig.clock.increment(20);
    await tick();
    expect(settled).toBe(false);
    rig.clock.increment(30);
    expect(await outcome).toMatchObject({ type: 'component.failed', code: 'link.timeout' });
    expect(await rig.echo('x')).toBe('v1:x');
  });
});
