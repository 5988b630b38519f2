import { type ComponentSpec, CutoverError, specHash } from 'cutover';
import { componentMachine } from 'cutover/machines';
import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise, waitFor } from 'xstate';
import { apiSpec } from '../fixtures/host';

// A minimal custom host of ~50 lines, as a user with their own runtime would write it: the machine
// decides, these few effects act. Instances are plain functions; links are a Set.
function miniHost(clock: SimulatedClock, failValidate: (spec: ComponentSpec) => boolean = () => false) {
  const instances = new Map<string, (input: string) => string>();
  const links = new Set<string>();
  let serving: ((input: string) => string) | undefined;
  let paused = false;
  const buffer: Array<() => void> = [];
  const reports: string[] = [];
  const logic = componentMachine.provide({
    actors: {
      admit: fromPromise(async () => {}),
      fetch: fromPromise(async () => {}),
      validate: fromPromise(async ({ input }) => {
        const spec = input.target?.spec as ComponentSpec;
        if (failValidate(spec)) throw new CutoverError('validate.failed', `"${spec.imageRef}" does not compile`);
      }),
      putLinks: fromPromise(async ({ input }) => {
        for (const l of input.target?.spec.links ?? []) links.add(`${l.target}:${JSON.stringify(l.sourceConfig)}`);
        return { at: clock.now(), swaps: 0 };
      }),
      pauseGate: fromPromise(async () => {
        paused = true;
      }),
      swapLink: fromPromise(async () => {}),
      instantiate: fromPromise(async ({ input }) => {
        const version = input.target?.spec.imageRef ?? '';
        instances.set(input.target?.hash ?? '', (s) => `${version}:${s}`);
        serving = instances.get(input.target?.hash ?? '');
      }),
      resumeGate: fromPromise(async () => {
        paused = false;
        for (const run of buffer.splice(0)) run();
      }),
      restoreLinks: fromPromise(async () => {
        paused = false;
      }),
      disposeInstance: fromPromise(async ({ input }) => {
        for (const hash of instances.keys()) if (hash !== input.keep) instances.delete(hash);
      }),
      stop: fromPromise(async () => {
        serving = undefined;
      }),
      deadline: fromPromise<void, { at: number }>(
        ({ input }) => new Promise((resolve) => clock.setTimeout(resolve, Math.max(0, input.at - clock.now()))),
      ),
    },
  });
  const actor = createActor(logic, { input: { id: 'api' } });
  actor.on('*', (e) => reports.push(`${e.type}${'code' in e ? `:${e.code}` : ''}`));
  actor.start();
  const invoke = (s: string) =>
    new Promise<string>((resolve) => {
      const run = () => resolve(serving ? serving(s) : 'not serving');
      if (paused) buffer.push(run);
      else run();
    });
  const apply = (spec: ComponentSpec) =>
    actor.send({ type: 'component.apply', spec, hash: specHash(spec), at: clock.now() });
  return { actor, invoke, apply, reports, links, instances };
}

describe('component machine', () => {
  it('runs embedded in a custom host with provide(): install, upgrade, and a failed upgrade keeps serving', async () => {
    const clock = new SimulatedClock();
    const host = miniHost(clock, (spec) => spec.imageRef.includes('v3'));
    host.apply(apiSpec(1));
    await waitFor(host.actor, (s) => s.matches('running'));
    expect(await host.invoke('a')).toBe('file:///fixtures/api-v1.wasm:a');
    host.apply(apiSpec(2));
    await waitFor(host.actor, (s) => s.matches('running') && s.context.serving?.hash === specHash(apiSpec(2)));
    expect(await host.invoke('b')).toBe('file:///fixtures/api-v2.wasm:b');
    host.apply(apiSpec(3));
    await waitFor(host.actor, (s) => s.matches('running') && s.context.lastApply?.outcome === 'failed');
    expect(host.actor.getSnapshot().context.serving?.hash).toBe(specHash(apiSpec(2)));
    expect(host.actor.getSnapshot().context.lastApply).toMatchObject({ code: 'validate.failed' });
    expect(host.reports).toEqual(['component.applied', 'component.applied', 'component.failed:validate.failed']);
  });

  it('supersedes an apply in flight with a newer one and joins a repeat of the same hash', async () => {
    const clock = new SimulatedClock();
    const host = miniHost(clock);
    host.apply(apiSpec(1));
    host.apply(apiSpec(1));
    host.apply(apiSpec(2));
    await waitFor(host.actor, (s) => s.matches('running'));
    expect(host.reports).toEqual(['component.failed:superseded', 'component.applied']);
    expect(host.actor.getSnapshot().context.lastApply).toMatchObject({
      outcome: 'applied',
      hash: specHash(apiSpec(2)),
    });
  });

  it('times out a download from the absolute deadline in its snapshot, even after a restore', async () => {
    const clock = new SimulatedClock();
    const hanging = componentMachine.provide({
      actors: {
        admit: fromPromise(async () => {}),
        fetch: fromPromise(() => new Promise<void>(() => {})),
        deadline: fromPromise<void, { at: number }>(
          ({ input }) => new Promise((resolve) => clock.setTimeout(resolve, Math.max(0, input.at - clock.now()))),
        ),
        disposeInstance: fromPromise(async () => {}),
      },
    });
    const first = createActor(hanging, { input: { id: 'api', fetchTimeoutMs: 1000 } }).start();
    first.send({ type: 'component.apply', spec: apiSpec(1), hash: specHash(apiSpec(1)), at: 0 });
    await waitFor(first, (s) => s.matches('downloading'));
    const persisted = first.getPersistedSnapshot();
    first.stop();
    clock.increment(400);
    const restored = createActor(hanging, { input: { id: 'api' }, snapshot: persisted }).start();
    clock.increment(599);
    expect(restored.getSnapshot().matches('downloading')).toBe(true);
    clock.increment(1);
    await waitFor(restored, (s) => s.matches('failed'));
    expect(restored.getSnapshot().context.lastApply).toMatchObject({ outcome: 'failed', code: 'timeout' });
  });

  it('reports an apply failed with notProvided when a host did not supply an effect, and keeps running', async () => {
    const actor = createActor(componentMachine, { input: { id: 'api' } });
    const reports: unknown[] = [];
    actor.on('component.failed', (e) => reports.push(e));
    actor.start();
    actor.send({ type: 'component.apply', spec: apiSpec(1), hash: specHash(apiSpec(1)), at: 0 });
    await waitFor(actor, (s) => s.matches('failed') && s.context.disposeFailure !== undefined);
    expect(reports).toEqual([
      {
        type: 'component.failed',
        hash: specHash(apiSpec(1)),
        code: 'notProvided',
        reason: expect.stringContaining('admit'),
      },
    ]);
    expect(actor.getSnapshot().status).toBe('active');
    expect(actor.getSnapshot().context.lastApply).toMatchObject({ outcome: 'failed', code: 'notProvided' });
  });
});
