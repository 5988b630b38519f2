// The component machine on its own: every effect is a scripted actor supplied with provide() (resolving at once
// unless a test holds or fails it) and deadlines run on a simulated clock, so each test pins one decision of the
// machine exactly: which state follows, what it reports (code and reason), what it records, and what each effect
// is asked to do.
// Imports stay narrow (no package index, no host fixtures): a mutation run re-imports them for every mutant.
import { describe, expect, it } from 'vitest';
import { type Actor, SimulatedClock, createActor, fromPromise } from 'xstate';
import { componentMachine } from '../../machines/component/componentMachine';
import type { ComponentMachineInput } from '../../machines/component/types';
import { CutoverError } from '../../src/errors';
import { specHash } from '../../src/protocol/hash';
import { ComponentSpec } from '../../src/protocol/spec';

/** Version `n` of component `api`: only its image differs (links are the host's business, scripted here). */
const apiSpec = (n: number): ComponentSpec =>
  ComponentSpec.parse({ id: 'api', app: 'shop', imageRef: `file:///fixtures/api-v${n}.wasm` });

const EFFECTS = [
  'admit',
  'fetch',
  'validate',
  'putLinks',
  'pauseGate',
  'swapLink',
  'instantiate',
  'resumeGate',
  'restoreLinks',
  'disposeInstance',
  'stop',
  'deadline',
] as const;
type EffectName = (typeof EFFECTS)[number];
type Script = (input: Record<string, unknown>) => unknown;

interface Held {
  resolve(value?: unknown): void;
  reject(error: unknown): void;
}

const SUPERSEDED = 'superseded by a newer apply';
const hashOf = (n: number) => specHash(apiSpec(n));
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** A component actor whose effects do what `script` says (default: succeed at once), on a simulated clock. */
function machine(input: Partial<ComponentMachineInput> = {}) {
  const clock = new SimulatedClock();
  const calls: Array<{ name: EffectName; input: Record<string, unknown> }> = [];
  const script: Partial<Record<EffectName, Script | undefined>> = {};
  const defaults: Partial<Record<EffectName, Script>> = {
    putLinks: () => ({ at: clock.now(), swaps: 0 }),
    deadline: (i) =>
      new Promise<void>((resolve) => clock.setTimeout(resolve, Math.max(0, (i.at as number) - clock.now()))),
  };
  const actors = Object.fromEntries(
    EFFECTS.map((name) => [
      name,
      fromPromise(async ({ input: i }: { input: Record<string, unknown> }) => {
        calls.push({ name, input: i });
        return (script[name] ?? defaults[name])?.(i);
      }),
    ]),
  );
  const logic = componentMachine.provide({ actors: actors as never });
  const actor: Actor<typeof componentMachine> = createActor(logic, { input: { id: 'api', ...input } });
  const reports: unknown[] = [];
  actor.on('*', (e) => reports.push(e));
  actor.start();
  const t = {
    clock,
    actor,
    calls,
    reports,
    script,
    /** Holds `name` until the test settles it. */
    hold(name: EffectName): Held {
      const held: Held = { resolve: () => undefined, reject: () => undefined };
      script[name] = () =>
        new Promise((resolve, reject) => {
          held.resolve = resolve;
          held.reject = reject;
        });
      return held;
    },
    fail(name: EffectName, error: unknown) {
      script[name] = () => Promise.reject(error);
    },
    apply(n: number, extra: { standby?: boolean; spec?: ComponentSpec } = {}) {
      const spec = extra.spec ?? apiSpec(n);
      actor.send({
        type: 'component.apply',
        spec,
        hash: specHash(spec),
        at: clock.now(),
        ...(extra.standby === true ? { standby: true } : {}),
      });
    },
    get snap() {
      return actor.getSnapshot();
    },
    get context() {
      return actor.getSnapshot().context;
    },
    inputsOf(name: EffectName) {
      return calls.filter((c) => c.name === name).map((c) => c.input);
    },
    /** Installs version `n` (and waits until it serves), then forgets the reports and calls so far. */
    async install(n: number) {
      t.apply(n);
      await flush();
      expect(t.snap.value).toBe('running');
      reports.length = 0;
      calls.length = 0;
    },
  };
  return t;
}

const failed = (n: number, code: string, reason: string) => ({
  type: 'component.failed',
  hash: hashOf(n),
  code,
  reason,
});
const applied = (n: number) => ({ type: 'component.applied', hash: hashOf(n) });

describe('component machine: a first install', () => {
  it('goes through every step to running, reports applied once, and records what serves', async () => {
    const m = machine();
    expect(m.snap.value).toBe('idle');
    const seen: unknown[] = [];
    m.actor.subscribe((s) => {
      if (JSON.stringify(s.value) !== JSON.stringify(seen.at(-1))) seen.push(s.value);
    });
    m.clock.set(40);
    m.apply(1);
    await flush();
    expect(seen).toEqual([
      'pending',
      'downloading',
      'validating',
      'linking',
      { cuttingOver: 'replacing' },
      { cuttingOver: 'resuming' },
      'running',
    ]);
    expect(m.reports).toEqual([applied(1)]);
    expect(m.context).toMatchObject({
      serving: { spec: apiSpec(1), hash: hashOf(1), at: 40 },
      target: undefined,
      next: undefined,
      failure: undefined,
      lastApply: { hash: hashOf(1), outcome: 'applied' },
      swapsDone: 0,
      swapsTotal: 0,
      promoted: false,
    });
    expect(Object.keys(m.context.serving ?? {}).sort()).toEqual(['at', 'hash', 'spec']);
    expect(m.context.lastApply).toEqual({ hash: hashOf(1), outcome: 'applied' });
  });

  it('starts from its input: id, kind, and the fetch and drain timeouts (60 s and 5 s by default)', () => {
    expect(machine().context).toMatchObject({
      id: 'api',
      kind: 'component',
      fetchTimeoutMs: 60_000,
      drainTimeoutMs: 5_000,
      serving: undefined,
      target: undefined,
      next: undefined,
      pauseDeadline: 0,
      swapsTotal: 0,
      swapsDone: 0,
      failure: undefined,
      disposeFailure: undefined,
      lastApply: undefined,
      retained: undefined,
      retainUntil: 0,
      promoted: false,
    });
    expect(machine({ kind: 'provider', fetchTimeoutMs: 7, drainTimeoutMs: 9 }).context).toMatchObject({
      kind: 'provider',
      fetchTimeoutMs: 7,
      drainTimeoutMs: 9,
    });
  });

  it('hands each effect the component, the target and what serves', async () => {
    const m = machine({ kind: 'provider' });
    m.clock.set(100);
    m.apply(1);
    await flush();
    const target = { spec: apiSpec(1), hash: hashOf(1), at: 100 };
    for (const name of ['admit', 'fetch', 'validate', 'putLinks', 'instantiate', 'resumeGate'] as const)
      expect(m.inputsOf(name), name).toEqual([{ id: 'api', kind: 'provider', target, serving: undefined }]);
    // The download deadline counts from the apply's arrival; old instances go, keeping the one that serves.
    expect(m.inputsOf('deadline')).toEqual([{ at: 100 + 60_000 }]);
    expect(m.inputsOf('disposeInstance')).toEqual([{ id: 'api', kind: 'provider', keep: hashOf(1) }]);
  });

  it('tags each state: busy while an apply runs, paused in the cut-over, serving or terminal at rest', async () => {
    const m = machine();
    const pause = m.hold('instantiate');
    m.apply(1);
    await flush();
    expect(m.snap.hasTag('busy') && m.snap.hasTag('paused')).toBe(true);
    pause.resolve();
    await flush();
    expect([m.snap.hasTag('serving'), m.snap.hasTag('busy'), m.snap.hasTag('paused')]).toEqual([true, false, false]);
    m.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(m.snap.value).toBe('stopped');
    expect(m.snap.hasTag('terminal')).toBe(true);
    expect(m.snap.status).toBe('done');
  });
});

describe('component machine: failures before the cut-over', () => {
  const steps = ['admit', 'fetch', 'validate', 'putLinks'] as const;
  for (const name of steps) {
    it(`fails a first install when ${name} fails, reporting its code and message`, async () => {
      const m = machine();
      m.fail(name, new CutoverError('link.failed', `${name} broke`));
      m.apply(1);
      await flush();
      expect(m.snap.value).toBe('failed');
      expect(m.snap.hasTag('terminal')).toBe(true);
      expect(m.reports).toEqual([failed(1, 'link.failed', `${name} broke`)]);
      expect(m.context.lastApply).toEqual({
        hash: hashOf(1),
        outcome: 'failed',
        code: 'link.failed',
        reason: `${name} broke`,
      });
      expect(m.context.target).toBeUndefined();
      expect(m.inputsOf('disposeInstance')).toEqual([{ id: 'api', kind: 'component', keep: undefined }]);
    });

    it(`keeps the old version serving when ${name} of an upgrade fails`, async () => {
      const m = machine();
      await m.install(1);
      m.fail(name, new Error('plain error'));
      m.apply(2);
      await flush();
      expect(m.snap.value).toBe('running');
      expect(m.context.serving?.hash).toBe(hashOf(1));
      expect(m.reports).toEqual([failed(2, 'invoke.failed', 'plain error')]);
    });
  }

  it('reports a thrown non-error as invoke.failed with its text', async () => {
    const m = machine();
    m.fail('validate', 'not an error object');
    m.apply(1);
    await flush();
    expect(m.reports).toEqual([failed(1, 'invoke.failed', 'not an error object')]);
  });

  it('times out a download at the fetch deadline, naming the image, and never reports twice', async () => {
    const m = machine({ fetchTimeoutMs: 1000 });
    const fetch = m.hold('fetch');
    m.apply(1);
    await flush();
    m.clock.increment(999);
    await flush();
    expect(m.snap.value).toBe('downloading');
    m.clock.increment(1);
    await flush();
    expect(m.snap.value).toBe('failed');
    const reason = `fetch of "${apiSpec(1).imageRef}" timed out`;
    expect(m.reports).toEqual([failed(1, 'timeout', reason)]);
    expect(m.context.lastApply).toEqual({ hash: hashOf(1), outcome: 'failed', code: 'timeout', reason });
    fetch.resolve();
    await flush();
    expect(m.reports).toHaveLength(1);
  });

  it('fails an apply whose download deadline cannot be armed, keeping the old version', async () => {
    const m = machine();
    await m.install(1);
    m.fail('deadline', new CutoverError('invoke.failed', 'no timer'));
    m.hold('fetch');
    m.apply(2);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([failed(2, 'invoke.failed', 'no timer')]);
  });
});

describe('component machine: the cut-over', () => {
  it('waits for the pause, swaps every changed link from the first, then replaces and resumes', async () => {
    const m = machine({ drainTimeoutMs: 300 });
    await m.install(1);
    m.script.putLinks = () => ({ at: 500, swaps: 2 });
    const pause = m.hold('pauseGate');
    const serving = m.context.serving;
    m.apply(2);
    await flush();
    expect(m.snap.value).toEqual({ cuttingOver: 'pausing' });
    expect(m.context).toMatchObject({ swapsTotal: 2, swapsDone: 0, pauseDeadline: 800 });
    expect(m.inputsOf('deadline').at(-1)).toEqual({ at: 800 });
    pause.resolve();
    await flush();
    expect(m.inputsOf('swapLink')).toEqual([
      { id: 'api', kind: 'component', target: m.inputsOf('admit')[0]?.target, serving, index: 0 },
    ]);
    expect(m.snap.value).toBe('running');
    expect(m.context).toMatchObject({ swapsDone: 0, swapsTotal: 0, serving: { hash: hashOf(2) } });
    expect(m.reports).toEqual([applied(2)]);
  });

  it('goes on to swap when the drain deadline passes before the gate is paused', async () => {
    const m = machine({ drainTimeoutMs: 300 });
    await m.install(1);
    m.script.putLinks = () => ({ at: m.clock.now(), swaps: 1 });
    m.hold('pauseGate');
    const swap = m.hold('swapLink');
    m.apply(2);
    await flush();
    m.clock.increment(299);
    await flush();
    expect(m.snap.value).toEqual({ cuttingOver: 'pausing' });
    m.clock.increment(1);
    await flush();
    expect(m.snap.value).toEqual({ cuttingOver: 'swappingLinks' });
    swap.resolve();
    await flush();
    expect(m.snap.value).toBe('running');
  });

  it('goes straight to replacing when no link changes, whether paused or past the deadline', async () => {
    const m = machine({ drainTimeoutMs: 10 });
    await m.install(1);
    m.hold('pauseGate');
    const replace = m.hold('instantiate');
    m.apply(2);
    await flush();
    m.clock.increment(10);
    await flush();
    expect(m.snap.value).toEqual({ cuttingOver: 'replacing' });
    expect(m.inputsOf('swapLink')).toEqual([]);
    replace.resolve();
    await flush();
    expect(m.snap.value).toBe('running');
  });

  // How many swaps the restore is told were done: all of them once swappingLinks finished, else none.
  const restoring = { pauseGate: 0, swapLink: 0, instantiate: 1, resumeGate: 1 } as const;
  for (const [name, swapped] of Object.entries(restoring) as Array<[keyof typeof restoring, number]>) {
    it(`restores and keeps serving the old version when ${name} fails`, async () => {
      const m = machine();
      await m.install(1);
      m.script.putLinks = () => ({ at: 0, swaps: 1 });
      m.fail(name, new CutoverError('gate.closed', `${name} refused`));
      m.apply(2);
      await flush();
      expect(m.snap.value).toBe('running');
      expect(m.context.serving?.hash).toBe(hashOf(1));
      expect(m.reports).toEqual([failed(2, 'gate.closed', `${name} refused`)]);
      expect(m.inputsOf('restoreLinks')).toEqual([
        {
          id: 'api',
          kind: 'component',
          serving: m.context.serving,
          target: { spec: apiSpec(2), hash: hashOf(2), at: 0 },
          swapped,
        },
      ]);
      expect(m.context.failure).toEqual({ code: 'gate.closed', reason: `${name} refused` });
    });
  }

  it('restores when the drain deadline cannot be armed', async () => {
    const m = machine();
    await m.install(1);
    m.hold('pauseGate');
    let deadlines = 0;
    m.script.deadline = (i) => {
      deadlines++;
      // The download deadline works; the drain deadline does not.
      if (deadlines === 2) return Promise.reject(new CutoverError('invoke.failed', 'no timer'));
      return new Promise<void>((resolve) => m.clock.setTimeout(resolve, (i.at as number) - m.clock.now()));
    };
    m.apply(2);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([failed(2, 'invoke.failed', 'no timer')]);
  });

  it('fails a first install whose cut-over fails, with nothing serving', async () => {
    const m = machine();
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    m.apply(1);
    await flush();
    expect(m.snap.value).toBe('failed');
    expect(m.context.serving).toBeUndefined();
    expect(m.reports).toEqual([failed(1, 'instantiate.failed', 'out of memory')]);
  });

  it('ends unhealthy, still serving, when the restore cannot put every link back, naming both failures', async () => {
    const m = machine();
    await m.install(1);
    m.fail('swapLink', new CutoverError('link.failed', 'port in use'));
    m.fail('restoreLinks', new CutoverError('link.failed', 'provider gone'));
    m.script.putLinks = () => ({ at: 0, swaps: 1 });
    m.apply(2);
    await flush();
    expect(m.snap.value).toBe('unhealthy');
    expect(m.snap.hasTag('serving')).toBe(true);
    const reason = 'port in use; restore incomplete: provider gone';
    expect(m.reports).toEqual([failed(2, 'link.failed', reason)]);
    expect(m.context.lastApply).toEqual({ hash: hashOf(2), outcome: 'failed', code: 'link.failed', reason });
    // An unhealthy component takes the next apply.
    m.script.restoreLinks = undefined;
    m.script.swapLink = undefined;
    m.apply(3);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.serving?.hash).toBe(hashOf(3));
  });

  it('ends failed when a first install cannot be restored either', async () => {
    const m = machine();
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    m.fail('restoreLinks', 'provider gone');
    m.apply(1);
    await flush();
    expect(m.snap.value).toBe('failed');
    expect(m.reports).toEqual([failed(1, 'instantiate.failed', 'out of memory; restore incomplete: provider gone')]);
  });
});

describe('component machine: newer work while an apply runs', () => {
  for (const state of ['admit', 'fetch', 'validate'] as const) {
    it(`replaces the target at once while in ${state}, reporting the old one superseded`, async () => {
      const m = machine();
      m.hold(state);
      m.apply(1);
      await flush();
      m.apply(1);
      await flush();
      expect(m.reports).toEqual([]);
      m.script[state] = undefined;
      m.apply(2);
      await flush();
      expect(m.snap.value).toBe('running');
      expect(m.reports).toEqual([failed(1, 'superseded', SUPERSEDED), applied(2)]);
      expect(m.context.serving?.hash).toBe(hashOf(2));
    });

    it(`goes back to the serving version without a cut-over when it is re-applied while in ${state}`, async () => {
      const m = machine();
      await m.install(1);
      m.hold(state);
      m.apply(2);
      await flush();
      m.apply(1);
      await flush();
      expect(m.snap.value).toBe('running');
      expect(m.reports).toEqual([failed(2, 'superseded', SUPERSEDED), applied(1)]);
      expect(m.context.lastApply).toEqual({
        hash: hashOf(2),
        outcome: 'superseded',
        code: 'superseded',
        reason: SUPERSEDED,
      });
      expect(m.context.target).toBeUndefined();
      expect(m.inputsOf('instantiate')).toEqual([]);
    });

    it(`stops at once on a delete while in ${state}, reporting the apply superseded`, async () => {
      const m = machine();
      m.hold(state);
      m.apply(1);
      await flush();
      m.actor.send({ type: 'component.delete', at: 0 });
      await flush();
      expect(m.snap.value).toBe('stopped');
      expect(m.reports).toEqual([failed(1, 'superseded', SUPERSEDED)]);
    });
  }

  it('queues newer work behind linking, reports a queued apply replaced by a newer one, then runs the newest', async () => {
    const m = machine();
    await m.install(1);
    const link = m.hold('putLinks');
    m.apply(2);
    await flush();
    m.apply(2);
    m.apply(3);
    m.apply(3);
    expect(m.context.next).toMatchObject({ kind: 'apply', hash: hashOf(3) });
    m.apply(4);
    await flush();
    expect(m.reports).toEqual([failed(3, 'superseded', SUPERSEDED)]);
    expect(m.context.next).toEqual({ kind: 'apply', spec: apiSpec(4), hash: hashOf(4), at: 0 });
    m.script.putLinks = undefined;
    link.resolve({ at: 0, swaps: 0 });
    await flush();
    // The apply that was linking gives way (its links undone), and the newest one runs.
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([failed(3, 'superseded', SUPERSEDED), failed(2, 'superseded', SUPERSEDED), applied(4)]);
    expect(m.inputsOf('restoreLinks')).toHaveLength(1);
    expect(m.context.next).toBeUndefined();
  });

  it('queues a delete behind the cut-over, reports the queued apply it replaces, then stops', async () => {
    const m = machine();
    await m.install(1);
    const replace = m.hold('instantiate');
    m.apply(2);
    await flush();
    m.apply(3);
    m.actor.send({ type: 'component.delete', at: 5 });
    expect(m.context.next).toEqual({ kind: 'delete', at: 5 });
    replace.resolve();
    await flush();
    expect(m.reports).toEqual([failed(3, 'superseded', SUPERSEDED), applied(2)]);
    expect(m.snap.value).toBe('stopped');
    expect(m.context.serving).toBeUndefined();
  });

  it('joins a repeat of the apply in the cut-over and runs the one queued behind it next', async () => {
    const m = machine();
    await m.install(1);
    const replace = m.hold('instantiate');
    m.apply(2);
    await flush();
    m.apply(3);
    m.apply(2);
    expect(m.context.next?.kind === 'apply' && m.context.next.hash).toBe(hashOf(3));
    m.script.instantiate = undefined;
    replace.resolve();
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.serving?.hash).toBe(hashOf(3));
  });

  it('answers a queued apply of the version that ends up serving with applied, and clears the queue', async () => {
    const m = machine();
    await m.install(1);
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    const restore = m.hold('restoreLinks');
    m.apply(2);
    await flush();
    m.apply(1);
    m.apply(1);
    restore.resolve();
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([failed(2, 'instantiate.failed', 'out of memory'), applied(1)]);
    expect(m.context.next).toBeUndefined();
    expect(m.inputsOf('admit')).toHaveLength(1);
  });

  it('runs an apply queued behind a failed first install', async () => {
    const m = machine();
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    const restore = m.hold('restoreLinks');
    m.apply(1);
    await flush();
    m.apply(2);
    m.script.instantiate = undefined;
    restore.resolve();
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([failed(1, 'instantiate.failed', 'out of memory'), applied(2)]);
  });

  it('stops after a restore when a delete was queued, on an unhealthy component too', async () => {
    const m = machine();
    await m.install(1);
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    const restore = m.hold('restoreLinks');
    m.apply(2);
    await flush();
    m.actor.send({ type: 'component.delete', at: 0 });
    restore.reject(new CutoverError('link.failed', 'provider gone'));
    await flush();
    expect(m.snap.value).toBe('stopped');
  });

  it('runs an apply queued while stopping once the stop is over, from nothing', async () => {
    const m = machine();
    await m.install(1);
    const stop = m.hold('stop');
    m.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(m.snap.value).toBe('stopping');
    m.apply(2);
    m.apply(2);
    m.apply(3);
    expect(m.reports).toEqual([failed(2, 'superseded', SUPERSEDED)]);
    stop.reject(new Error('best effort'));
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.inputsOf('admit').at(-1)).toMatchObject({ serving: undefined, target: { hash: hashOf(3) } });
  });
});

describe('component machine: at rest', () => {
  it('answers an apply of the serving version with applied, and any other with a new apply', async () => {
    const m = machine();
    await m.install(1);
    m.apply(1);
    await flush();
    expect(m.reports).toEqual([applied(1)]);
    expect(m.inputsOf('admit')).toEqual([]);
    m.apply(2);
    await flush();
    expect(m.context.serving?.hash).toBe(hashOf(2));
  });

  it('takes a new apply after a failed first install', async () => {
    const m = machine();
    m.fail('fetch', new CutoverError('fetch.failed', 'registry unreachable'));
    m.apply(1);
    await flush();
    m.script.fetch = undefined;
    m.apply(1);
    await flush();
    expect(m.snap.value).toBe('running');
  });

  it('stops from failed, and from unhealthy', async () => {
    const m = machine();
    m.fail('fetch', new CutoverError('fetch.failed', 'registry unreachable'));
    m.apply(1);
    await flush();
    m.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(m.snap.value).toBe('stopped');
    const u = machine();
    await u.install(1);
    u.fail('instantiate', 'x');
    u.fail('restoreLinks', 'y');
    u.apply(2);
    await flush();
    expect(u.snap.value).toBe('unhealthy');
    u.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(u.snap.value).toBe('stopped');
  });

  it('records old instances that would not dispose without changing what serves or reports', async () => {
    const m = machine();
    m.fail('disposeInstance', new CutoverError('invoke.failed', 'instance would not dispose'));
    m.apply(1);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.disposeFailure).toEqual({ code: 'invoke.failed', reason: 'instance would not dispose' });
    expect(m.reports).toEqual([applied(1)]);
  });
});

describe('component machine: blue-green', () => {
  async function standby() {
    const m = machine({ drainTimeoutMs: 100 });
    await m.install(1);
    m.clock.set(1000);
    m.apply(2, { standby: true });
    await flush();
    return m;
  }

  it('links a standby beside the serving version and reports it applied while the old one serves', async () => {
    const m = await standby();
    expect(m.snap.value).toBe('standby');
    expect(m.snap.hasTag('serving')).toBe(true);
    expect(m.reports).toEqual([applied(2)]);
    expect(m.context.serving?.hash).toBe(hashOf(1));
    expect(m.context.target).toEqual({ spec: apiSpec(2), hash: hashOf(2), at: 1000, standby: true });
    m.apply(2, { standby: true });
    await flush();
    expect(m.reports).toHaveLength(1);
  });

  it('installs a first standby like any first install: there is nothing beside which to wait', async () => {
    const m = machine();
    m.apply(1, { standby: true });
    await flush();
    expect(m.snap.value).toBe('running');
  });

  it('promotes: cuts over, retains the old version until keepOldForMs has passed, then disposes it', async () => {
    const m = await standby();
    m.clock.set(2000);
    const pause = m.hold('pauseGate');
    m.actor.send({ type: 'component.promote', at: 2000, keepOldForMs: 500 });
    await flush();
    expect(m.context).toMatchObject({ promoted: true, retainUntil: 2500, pauseDeadline: 2100 });
    pause.resolve();
    await flush();
    expect(m.snap.value).toBe('retained');
    expect(m.reports).toEqual([applied(2), applied(2)]);
    expect(m.context.serving).toEqual({ spec: apiSpec(2), hash: hashOf(2), at: 1000 });
    expect(m.context.retained?.hash).toBe(hashOf(1));
    expect(m.context.promoted).toBe(false);
    expect(m.inputsOf('deadline').at(-1)).toEqual({ at: 2500 });
    m.clock.increment(499);
    await flush();
    expect(m.snap.value).toBe('retained');
    m.clock.increment(1);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.retained).toBeUndefined();
  });

  it('disposes the retained version when its deadline cannot be armed', async () => {
    const m = await standby();
    m.fail('deadline', new CutoverError('invoke.failed', 'no timer'));
    m.actor.send({ type: 'component.promote', at: 0, keepOldForMs: 500 });
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.retained).toBeUndefined();
  });

  async function retained() {
    const m = await standby();
    m.actor.send({ type: 'component.promote', at: 1000, keepOldForMs: 10_000 });
    await flush();
    expect(m.snap.value).toBe('retained');
    m.reports.length = 0;
    m.calls.length = 0;
    return m;
  }

  it('reverts from retained to the old version at once: no download, no validation', async () => {
    const m = await retained();
    m.actor.send({ type: 'component.revert', at: 0 });
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.serving?.hash).toBe(hashOf(1));
    expect(m.reports).toEqual([applied(1)]);
    expect(m.inputsOf('fetch')).toEqual([]);
    expect(m.inputsOf('putLinks')).toHaveLength(1);
  });

  it('treats an apply of the retained version as the same instant revert', async () => {
    const m = await retained();
    m.apply(1);
    await flush();
    expect(m.context.serving?.hash).toBe(hashOf(1));
    expect(m.inputsOf('fetch')).toEqual([]);
  });

  it('in retained: answers the serving version applied, starts a new apply for another, and stops on delete', async () => {
    const m = await retained();
    m.apply(2);
    await flush();
    expect(m.snap.value).toBe('retained');
    expect(m.reports).toEqual([applied(2)]);
    m.apply(3);
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.serving?.hash).toBe(hashOf(3));
    expect(m.inputsOf('fetch')).toHaveLength(1);
    expect(m.context.retained).toBeUndefined();
    const d = await retained();
    d.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(d.snap.value).toBe('stopped');
    expect(d.context.retained).toBeUndefined();
  });

  it('reverts a standby: restores and reports it failed as aborted', async () => {
    const m = await standby();
    m.actor.send({ type: 'component.revert', at: 0 });
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.reports).toEqual([applied(2), failed(2, 'aborted', 'standby reverted')]);
    expect(m.context.serving?.hash).toBe(hashOf(1));
  });

  it('gives way to a newer apply or a delete while in standby', async () => {
    const m = await standby();
    m.apply(3);
    await flush();
    expect(m.reports).toEqual([applied(2), failed(2, 'superseded', SUPERSEDED), applied(3)]);
    const d = await standby();
    d.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(d.snap.value).toBe('stopped');
  });

  it('a promote that fails keeps the old version and leaves no promotion behind', async () => {
    const m = await standby();
    m.fail('instantiate', new CutoverError('instantiate.failed', 'out of memory'));
    m.actor.send({ type: 'component.promote', at: 0, keepOldForMs: 500 });
    await flush();
    expect(m.snap.value).toBe('running');
    expect(m.context.promoted).toBe(false);
    m.script.instantiate = undefined;
    m.apply(3);
    await flush();
    // A plain upgrade afterwards ends running, not retained.
    expect(m.snap.value).toBe('running');
    expect(m.context.retained).toBeUndefined();
  });
});

describe('component machine: tags and queued blue-green work', () => {
  it('is busy in every step of an apply, a restore and a stop', async () => {
    const steps = [
      ['admit', 'pending'],
      ['fetch', 'downloading'],
      ['validate', 'validating'],
      ['putLinks', 'linking'],
    ] as const;
    for (const [effect, state] of steps) {
      const m = machine();
      m.hold(effect);
      m.apply(1);
      await flush();
      expect(m.snap.value).toBe(state);
      expect([m.snap.hasTag('busy'), m.snap.hasTag('serving'), m.snap.hasTag('terminal')], state).toEqual([
        true,
        false,
        false,
      ]);
    }
    const r = machine();
    r.fail('instantiate', 'x');
    r.hold('restoreLinks');
    r.apply(1);
    await flush();
    expect(r.snap.value).toBe('restoring');
    expect(r.snap.hasTag('busy')).toBe(true);
    const s = machine();
    await s.install(1);
    s.hold('stop');
    s.actor.send({ type: 'component.delete', at: 0 });
    await flush();
    expect(s.snap.value).toBe('stopping');
    expect([s.snap.hasTag('busy'), s.snap.hasTag('serving')]).toEqual([true, false]);
  });

  it('serves, and is neither busy nor terminal, when running, unhealthy, in standby or retained; failed is terminal', async () => {
    const m = machine();
    await m.install(1);
    const tags = () => (['busy', 'serving', 'terminal', 'paused'] as const).filter((t) => m.snap.hasTag(t));
    expect(tags()).toEqual(['serving']);
    m.apply(2, { standby: true });
    await flush();
    expect([m.snap.value, tags()]).toEqual(['standby', ['serving']]);
    m.actor.send({ type: 'component.promote', at: 0, keepOldForMs: 100 });
    await flush();
    expect([m.snap.value, tags()]).toEqual(['retained', ['serving']]);
    m.fail('instantiate', 'x');
    m.fail('restoreLinks', 'y');
    m.apply(3);
    await flush();
    expect([m.snap.value, tags()]).toEqual(['unhealthy', ['serving']]);
    expect(m.inputsOf('disposeInstance').at(-1)).toEqual({ id: 'api', kind: 'component', keep: hashOf(2) });
    const f = machine();
    f.fail('fetch', 'x');
    f.apply(1);
    await flush();
    expect((['busy', 'serving', 'terminal'] as const).filter((t) => f.snap.hasTag(t))).toEqual(['terminal']);
  });

  it('keeps a queued standby apply a standby when it runs', async () => {
    const m = machine();
    await m.install(1);
    const link = m.hold('putLinks');
    m.apply(2);
    await flush();
    m.clock.set(77);
    m.apply(3, { standby: true });
    expect(m.context.next).toEqual({ kind: 'apply', spec: apiSpec(3), hash: hashOf(3), at: 77, standby: true });
    m.script.putLinks = undefined;
    link.resolve({ at: 0, swaps: 0 });
    await flush();
    expect(m.snap.value).toBe('standby');
    expect(m.context.target).toEqual({ spec: apiSpec(3), hash: hashOf(3), at: 77, standby: true });
  });

  it('promotes a queued plain apply without a standby flag', async () => {
    const m = machine();
    await m.install(1);
    const link = m.hold('putLinks');
    m.apply(2);
    await flush();
    m.apply(3);
    expect(m.context.next).toEqual({ kind: 'apply', spec: apiSpec(3), hash: hashOf(3), at: 0 });
    const admit = m.hold('admit');
    m.script.putLinks = undefined;
    link.resolve({ at: 0, swaps: 0 });
    await flush();
    expect(m.snap.value).toBe('pending');
    expect(m.context.target).toEqual({ spec: apiSpec(3), hash: hashOf(3), at: 0 });
    expect(m.context).toMatchObject({ next: undefined, failure: undefined, swapsDone: 0, swapsTotal: 0 });
    admit.resolve();
  });

  it('reverts from retained with a clean slate: the retained version is the target, nothing retained or failed', async () => {
    const m = machine();
    await m.install(1);
    m.apply(2, { standby: true });
    await flush();
    m.actor.send({ type: 'component.promote', at: 0, keepOldForMs: 100 });
    await flush();
    const link = m.hold('putLinks');
    m.actor.send({ type: 'component.revert', at: 0 });
    await flush();
    expect(m.snap.value).toBe('linking');
    expect(m.context).toMatchObject({
      target: { spec: apiSpec(1), hash: hashOf(1), at: 0 },
      retained: undefined,
      failure: undefined,
      swapsDone: 0,
      swapsTotal: 0,
    });
    link.resolve({ at: 0, swaps: 0 });
  });
});

describe('component machine: what a failed restore and a missing effect report', () => {
  it('reports an apply that gave way to queued work superseded, naming a restore that could not finish', async () => {
    const m = machine();
    await m.install(1);
    const link = m.hold('putLinks');
    m.apply(2);
    await flush();
    m.apply(3);
    m.fail('restoreLinks', new CutoverError('link.failed', 'provider gone'));
    m.hold('admit');
    link.resolve({ at: 0, swaps: 0 });
    await flush();
    const reason = `${SUPERSEDED}; restore incomplete: provider gone`;
    expect(m.reports).toEqual([failed(2, 'superseded', reason)]);
    // Unhealthy for a moment, then on with the queued apply.
    expect(m.snap.value).toBe('pending');
    expect(m.context.lastApply).toEqual({ hash: hashOf(2), outcome: 'superseded', code: 'superseded', reason });
    expect(m.context.target?.hash).toBe(hashOf(3));
  });

  it('records an apply that gave way after its restore as superseded', async () => {
    const m = machine();
    await m.install(1);
    const link = m.hold('putLinks');
    m.apply(2);
    await flush();
    m.apply(3);
    m.hold('admit');
    link.resolve({ at: 0, swaps: 0 });
    await flush();
    expect(m.context.lastApply).toEqual({
      hash: hashOf(2),
      outcome: 'superseded',
      code: 'superseded',
      reason: SUPERSEDED,
    });
  });

  it('fails the apply with notProvided, naming the effect, when a host did not supply it', async () => {
    const actor = createActor(componentMachine, { input: { id: 'api' } });
    const reports: unknown[] = [];
    actor.on('*', (e) => reports.push(e));
    actor.start();
    actor.send({ type: 'component.apply', spec: apiSpec(1), hash: hashOf(1), at: 0 });
    await flush();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(reports).toEqual([
      { type: 'component.failed', hash: hashOf(1), code: 'notProvided', reason: expect.stringContaining('"admit"') },
    ]);
    expect(actor.getSnapshot().context.disposeFailure).toEqual({
      code: 'notProvided',
      reason: expect.stringContaining('"disposeInstance"'),
    });
  });
});
