// What an idle component keeps: its actor lets a finished invocation go instead of holding it until the state
// is left (a component spends its life in `running`; at 10,000 hosts that was ~2 KB each).
import type { ActorRefLike, SnapshotFrom } from 'xstate';
import type { componentMachine } from 'cutover/machines';
import { describe, expect, it } from 'vitest';
import { apiSpec, createHostRig } from '../fixtures/host';

describe('an idle component', () => {
  it('holds no finished invocation once it runs, after an install and after an upgrade', async () => {
    // The first actor a host starts is the component's own; its invocations come after it.
    const actors: ActorRefLike[] = [];
    await using rig = await createHostRig({
      inspect: (e) => {
        if (e.type === '@xstate.actor') actors.push(e.actorRef);
      },
    });
    rig.publishApi(2);
    await rig.host.apply(apiSpec(1));
    await rig.host.settled();
    const first = actors[0];
    if (first === undefined) throw new Error('no actor seen');
    const root = { getSnapshot: () => first.getSnapshot() as SnapshotFrom<typeof componentMachine> };
    expect(root.getSnapshot().value).toBe('running');
    expect(Object.keys(root.getSnapshot().children)).toEqual([]);

    await rig.host.apply(apiSpec(2));
    await rig.host.settled();
    expect(root.getSnapshot().value).toBe('running');
    expect(root.getSnapshot().context.serving?.hash).toBe(rig.host.inventory().components[0]?.servingHash);
    expect(Object.keys(root.getSnapshot().children)).toEqual([]);
  });
});
