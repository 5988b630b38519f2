// Generated path tests: every selected path of the component machine replays against a real host on the
// memory adapter (faults injected through the memory runtime and providers, and through `probeEffects` for the
// effects a memory host cannot fail on its own: admit, deadline, pauseGate, resumeGate, disposeInstance, stop),
// with invariants after every step.
import type { AnyActorRef, AnyTransitionDefinition, InspectionEvent, SnapshotFrom } from 'xstate';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, linkKey, specHash, statusOf } from 'cutover';
import { componentMachine } from 'cutover/machines';
import {
  type PathStep,
  componentGuardState,
  componentPathOptions,
  formatCoverage,
  isFullyCovered,
  modelImageRef,
  modelKeepOldForMs,
  replayPath,
  selectPaths,
  transitionKey,
  countsForCoverage,
  walkCoverage,
} from 'cutover/testing';
import type { MemoryImage } from 'cutover/adapters/memory';
import { probeEffects } from '../../src/host/effects/machine';
import { createHostRig, echoImage, fenced, kvSpec, Latch, providerApply } from '../fixtures/host';

type Snap = SnapshotFrom<typeof componentMachine>;
type Step = PathStep<typeof componentMachine>;

const selection = selectPaths(componentMachine, componentPathOptions);
const walkedStates = new Set<string>();
const walkedTransitions = new Set<string>();

/** The outcome the path expects next for an effect (by invoke id), looking ahead from `from`. */
function expected(steps: readonly Step[], from: number, ids: readonly string[]): Step | undefined {
  for (let i = Math.max(0, from); i < steps.length; i++) {
    const t = steps[i]?.event.type ?? '';
    if (ids.some((id) => t === `xstate.done.actor.${id}` || t === `xstate.error.actor.${id}`)) return steps[i];
  }
  return undefined;
}
const typeOf = (step: Step | undefined): string => (step?.event.type as string | undefined) ?? '';
const errorOf = (step: Step | undefined) =>
  step?.event.type.startsWith('xstate.error.actor.')
    ? ((step.event as unknown as { error: Error }).error.message ?? 'failed')
    : undefined;

async function replay(pathIndex: number) {
  const path = selection.paths[pathIndex];
  if (path === undefined) throw new Error('no path');
  const steps = [...path.prefix, ...path.steps];
  const listeners = new Set<(s: Snap) => void>();
  const latch = new Latch();
  let holding = false;
  const calls: Array<Promise<unknown>> = [];
  const refused: string[] = [];
  const problems: unknown[] = [];

  // Steps whose event the actor has consumed (microsteps arrive before the effects they start), so an effect
  // asking for its fault sees the outcome the path expects of it.
  let consumed = 0;
  let lastEvent: unknown;
  const faultOf = (...ids: string[]) => errorOf(expected(steps, consumed, ids));
  // Faults of effects the memory host cannot fail on its own, thrown before the real effect runs. Each fails
  // when the path's next outcome of its invocation (or of the one racing it) is its error; disposeInstance
  // (whose success the machine ignores) only when that error is the very next step.
  const racing: Record<string, readonly string[]> = {
    deadline: ['deadline', 'fetch', 'pauseGate'],
    pauseGate: ['pauseGate', 'deadline'],
  };
  const probe = (name: string) => {
    const step = name === 'disposeInstance' ? steps[consumed] : expected(steps, consumed, racing[name] ?? [name]);
    if (
      step === undefined ||
      !['admit', 'deadline', 'pauseGate', 'resumeGate', 'disposeInstance', 'stop'].includes(name)
    )
      return;
    if (step.event.type === `xstate.error.actor.${name}`) throw (step.event as unknown as { error: Error }).error;
  };
  await using rig = await createHostRig({
    fetchTimeoutMs: 100,
    drainTimeoutMs: 50,
    linkTimeoutMs: 60_000,
    provider: { refuse: () => faultOf('putLinks', 'swapLink', 'restoreLinks') },
    inspect: (e: InspectionEvent) => {
      const snap = (e as { snapshot?: Snap }).snapshot;
      if (snap?.context?.kind !== 'component' || e.actorRef.sessionId !== e.rootId) return;
      probeEffects((e.actorRef as AnyActorRef).system, probe);
      if (e.type === '@xstate.microstep') {
        const ev = (e as { event: { type: string } }).event;
        if (ev !== lastEvent && steps[consumed]?.event.type === ev.type) {
          lastEvent = ev;
          consumed++;
        }
        for (const t of (e as unknown as { _transitions: AnyTransitionDefinition[] })._transitions) {
          if (countsForCoverage(t)) walkedTransitions.add(transitionKey(t));
        }
      }
      if (e.type === '@xstate.snapshot') {
        for (const n of snap._nodes) if (n.id !== 'component') walkedStates.add(n.id);
        for (const l of listeners) l(snap);
      }
    },
  });
  let currentValue: unknown = '';
  listeners.add((s) => {
    currentValue = s.value;
  });

  for (let n = 1; n <= 4; n++) {
    const image = echoImage(`v${n}`, latch);
    // Getters: the runtime reads its fault fields when each effect runs, so one image serves every step.
    const faulty = {
      ...image,
      get fetchError() {
        return faultOf('fetch');
      },
      get validateError() {
        return faultOf('validate');
      },
      get instantiateError() {
        return faultOf('instantiate');
      },
      get fetchDelayMs() {
        // A fetch whose deadline fires first must not finish in the same clock move.
        return typeOf(expected(steps, consumed, ['fetch', 'deadline'])) === 'xstate.done.actor.deadline' ? 60_000 : 10;
      },
    };
    rig.runtime.publish(modelImageRef(n), faulty as MemoryImage);
  }
  await rig.host.apply(providerApply(kvSpec('kv')));
  await rig.host.apply(providerApply(kvSpec('cache')));

  const later = (fn: () => void) => setTimeout(fn, 0);
  const invoke = () => {
    const call = rig.host.invoke('api', 'echo', new TextEncoder().encode('x')).catch((error: { code?: string }) => {
      refused.push(error.code ?? 'unknown');
    });
    calls.push(call);
  };

  const check = (snap: Snap, step: Step) => {
    const c = snap.context;
    const inv = rig.host.inventory().components.find((x) => x.id === 'api' && x.kind === 'component');
    const gate = rig.host.gate('api');
    // The host reports what the machine is in, and serves what the model says it serves.
    expect(inv?.status ?? 'stopped').toBe(statusOf(snap.value).status);
    expect(c.serving?.hash).toBe(step.state.context.serving?.hash);
    if (inv !== undefined) expect(inv.servingHash).toBe(step.state.context.serving?.hash);
    if (gate !== undefined) {
      const t = gate.totals();
      expect(t.accepted).toBe(t.answered + t.errors + t.inFlight + t.buffered);
      expect(t.errors).toBe(0);
    }
    if (snap.hasTag('serving')) {
      // The gate dispatches in every stable state, to the serving version.
      expect(gate?.open).toBe(true);
      expect(gate?.servingHash).toBe(c.serving?.hash);
    }
    if (snap.matches('running') && c.serving !== undefined) {
      // Exactly the serving spec's links are held at the providers (after a failed upgrade: the previous ones).
      const held = [...(rig.host.provider('kv')?.links() ?? []), ...(rig.host.provider('cache')?.links() ?? [])]
        .map(linkKey)
        .sort();
      expect(held).toEqual(c.serving.spec.links.map(linkKey).sort());
      expect(specHash(c.serving.spec)).toBe(c.serving.hash);
    }
  };

  const driver = {
    observe(listener: (s: Snap) => void) {
      const wrapped = (s: Snap) => {
        listener(s);
      };
      listeners.add(wrapped);
      return () => listeners.delete(wrapped);
    },
    perform(event: Step['event']) {
      if (rig.host.gate('api')?.servingHash !== undefined) invoke();
      const type = event.type as string;
      if (type === 'component.apply' && 'spec' in event) {
        const standby = 'standby' in event && event.standby === true;
        rig.host
          .apply({ ...fenced(event.spec as never), ...(standby ? { mode: 'standby' as const } : {}) })
          .catch((e: unknown) => problems.push(e));
        return;
      }
      if (type === 'component.promote' || type === 'component.revert') {
        const base = { version: PROTOCOL_VERSION, app: 'shop', leaseToken: 1, componentId: 'api' };
        rig.host
          .apply(
            type === 'component.promote'
              ? { ...base, type, keepOldForMs: modelKeepOldForMs }
              : { ...base, type: 'component.revert' },
          )
          .catch((e: unknown) => problems.push(e));
        return;
      }
      if (type === 'component.delete') {
        rig.host
          .apply({
            type: 'component.delete',
            version: PROTOCOL_VERSION,
            app: 'shop',
            leaseToken: 1,
            componentId: 'api',
          })
          .catch((e: unknown) => problems.push(e));
        return;
      }
      if (type === 'xstate.done.actor.fetch' || type === 'xstate.error.actor.fetch')
        later(() => rig.clock.increment(10));
      if (type === 'xstate.done.actor.deadline') {
        const ms = JSON.stringify(currentValue).includes('downloading') ? 100 : 50;
        later(() => rig.clock.increment(ms));
      }
    },
    check(snap: Snap, step: Step, index: number) {
      const intoPause = steps[index + 1]?.state.matches({ cuttingOver: 'pausing' }) === true;
      if (
        (snap.matches('linking') || snap.matches('standby')) &&
        intoPause &&
        typeOf(steps[index + 2]) === 'xstate.done.actor.deadline'
      ) {
        // An in-flight call that outlives the drain deadline: it must still be answered by the old version.
        holding = true;
        latch.close();
        calls.push(
          rig.host.invoke('api', 'hold', new Uint8Array()).catch((e: { code?: string }) => refused.push(e.code ?? '')),
        );
      }
      if (holding && typeOf(step) === 'xstate.done.actor.deadline') later(() => latch.release());
      check(snap, step);
    },
  };

  await replayPath(path, driver, { serialize: componentGuardState, stepTimeoutMs: 3000 });
  latch.release();

  await Promise.all(calls);
  // Zero loss: every accepted call got exactly one answer, and none of them an error.
  const t = rig.host.gate('api')?.totals();
  if (t !== undefined) {
    expect(t.accepted).toBe(t.answered);
    expect(t.errors).toBe(0);
  }
  expect(refused.every((code) => ['invoke.notFound', 'gate.closed'].includes(code))).toBe(true);
  expect(problems).toEqual([]);
}

describe('component machine (generated paths)', () => {
  it('selects a covering set of paths', () => {
    const c = walkCoverage(
      componentMachine,
      { states: selection.states, transitions: selection.transitions },
      selection.paths.length,
    );
    expect(isFullyCovered(c), formatCoverage(c)).toBe(true);
  });

  selection.paths.forEach((path, i) => {
    it(`replays ${path.id}: ${path.description}`, async () => {
      await replay(i);
    });
  });

  afterAll(() => {
    const c = walkCoverage(
      componentMachine,
      { states: walkedStates, transitions: walkedTransitions },
      selection.paths.length,
    );
    console.log(formatCoverage(c));
    if (!isFullyCovered(c)) throw new Error(`component coverage below 100%:\n${formatCoverage(c)}`);
  });
});
