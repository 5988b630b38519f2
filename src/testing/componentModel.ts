import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { componentMachine } from '../../machines/component/componentMachine';
import type { ComponentContext } from '../../machines/component/types';
import { CutoverError, type ErrorCode } from '../errors';
import { planLinks } from '../host/planLinks';
import { specHash } from '../protocol/hash';
import { ComponentSpec, type DirectedLink } from '../protocol/spec';
import type { PathInput, SelectPathsOptions } from './selectPaths';

type Machine = typeof componentMachine;
type Snap = SnapshotFrom<Machine>;
type Ev = EventFromLogic<Machine>;

/** Image reference of version `n` of the model component. */
export const modelImageRef = (n: number): string => `memory://shop/api:v${n}`;

/**
 * Version `n` of the model component `api`: its `kv` and `cache` links change config with the version's
 * parity (swapped on consecutive upgrades, kept between v1 and v3), and even versions add an `extra` link.
 */
export function modelSpec(n: number): ComponentSpec {
  const parity = String(n % 2);
  const link = (target: string, name: string, config: Record<string, string>): DirectedLink => ({
    source: 'api',
    target,
    namespace: 'wasi',
    package: 'keyvalue',
    interfaces: ['store'],
    name,
    sourceConfig: config,
    targetConfig: {},
    direction: 'outgoing',
  });
  const links = [link('kv', 'default', { bucket: `b${parity}` }), link('cache', 'cache', { ttl: parity })];
  if (n % 2 === 0) links.push(link('kv', 'extra', {}));
  return ComponentSpec.parse({ id: 'api', app: 'shop', imageRef: modelImageRef(n), links });
}

const versionOf = (spec: { imageRef: string } | undefined): number | undefined => {
  const m = spec === undefined ? null : /:v(\d+)$/.exec(spec.imageRef);
  return m?.[1] === undefined ? undefined : Number(m[1]);
};

const applyOf = (n: number): Ev => {
  const spec = modelSpec(n);
  return { type: 'component.apply', spec, hash: specHash(spec), at: 0 };
};

/** The link plan of the apply in flight, as the host computes it. */
function planOf(c: ComponentContext) {
  return planLinks(c.serving?.spec.links ?? [], c.target?.spec.links ?? []);
}

const error = (code: ErrorCode, message: string) => new CutoverError(code, message);

/**
 * Faults of effects no real part of a memory host produces on demand (a replay injects them with
 * `probeEffects`); fetch, validate, instantiate and link faults come from the memory runtime and providers.
 */
const probedFaults: Readonly<Record<string, CutoverError>> = {
  admit: error('invoke.failed', 'admission refused'),
  deadline: error('invoke.failed', 'timer unavailable'),
  pauseGate: error('gate.closed', 'gate closed for good'),
  resumeGate: error('transport.invalidSubject', 'invocation subject refused'),
  disposeInstance: error('invoke.failed', 'instance would not dispose'),
  stop: error('transport.closed', 'connection closed'),
};

/** How long a promote of the model retains the old instance. */
export const modelKeepOldForMs = 50;

/** Realistic events for each event type a component state handles. */
export function componentEvents(type: string, s: Snap): Ev[] | undefined {
  const c = s.context;
  switch (type) {
    case 'component.apply': {
      const used = [
        versionOf(c.serving?.spec),
        versionOf(c.retained?.spec),
        versionOf(c.target?.spec),
        c.next?.kind === 'apply' ? versionOf(c.next.spec) : undefined,
      ];
      let fresh = 1;
      while (used.includes(fresh)) fresh++;
      const versions = new Set([fresh, ...used.filter((v): v is number => v !== undefined)]);
      const applies = [...versions].sort().map(applyOf);
      // Blue-green: a fresh version as a standby beside what serves.
      return c.serving === undefined ? applies : [...applies, { ...applyOf(fresh), standby: true } as Ev];
    }
    case 'component.delete':
      return [{ type, at: 0 }];
    case 'component.promote':
      return [{ type, at: 0, keepOldForMs: modelKeepOldForMs }];
    case 'component.revert':
      return [{ type, at: 0 }];
    case 'xstate.done.actor.putLinks':
      return [{ type, output: { at: 0, swaps: planOf(c).swap.length }, actorId: 'putLinks' } as unknown as Ev];
    case 'xstate.error.actor.putLinks':
      return planOf(c).add.length > 0
        ? [
            {
              type,
              error: error('link.failed', 'link refused: tls certificate missing'),
              actorId: 'putLinks',
            } as unknown as Ev,
          ]
        : [];
    case 'xstate.error.actor.fetch':
      return [{ type, error: error('fetch.failed', 'registry unreachable'), actorId: 'fetch' } as unknown as Ev];
    case 'xstate.error.actor.validate':
      return [{ type, error: error('validate.failed', 'bad module'), actorId: 'validate' } as unknown as Ev];
    case 'xstate.error.actor.instantiate':
      return [{ type, error: error('instantiate.failed', 'out of memory'), actorId: 'instantiate' } as unknown as Ev];
    case 'xstate.error.actor.swapLink':
      return [{ type, error: error('link.failed', 'link refused: port in use'), actorId: 'swapLink' } as unknown as Ev];
    case 'xstate.error.actor.restoreLinks': {
      const plan = planOf(c);
      const restorable = plan.add.length > 0 || (c.failure !== undefined && c.swapsTotal > 0);
      return restorable
        ? [
            {
              type,
              error: error('link.failed', 'link refused: provider gone'),
              actorId: 'restoreLinks',
            } as unknown as Ev,
          ]
        : [];
    }
    default: {
      const actorId = type.startsWith('xstate.error.actor.') ? type.slice('xstate.error.actor.'.length) : '';
      const fault = probedFaults[actorId];
      return fault === undefined ? undefined : [{ type, error: fault, actorId } as unknown as Ev];
    }
  }
}

/** What the component machine's guards read (relative to the event generator), as one vertex key. */
export function componentGuardState(s: Snap): unknown {
  const c = s.context;
  const plan = c.target === undefined ? undefined : planOf(c);
  return {
    serving: c.serving !== undefined,
    target: c.target !== undefined,
    next:
      c.next === undefined
        ? 'none'
        : c.next.kind === 'delete'
          ? 'delete'
          : c.next.hash === c.serving?.hash
            ? 'serving'
            : 'apply',
    swaps: c.swapsTotal === 0 ? 'none' : c.swapsDone + 1 >= c.swapsTotal ? 'last' : 'more',
    failed: c.failure !== undefined,
    adds: (plan?.add.length ?? 0) > 0,
    swapPlan: (plan?.swap.length ?? 0) > 0,
    standby: c.target?.standby === true,
    promoted: c.promoted,
    retained: c.retained !== undefined,
  };
}

const install: Ev[] = [
  applyOf(1),
  { type: 'xstate.done.actor.admit', output: undefined, actorId: 'admit' } as unknown as Ev,
  { type: 'xstate.done.actor.fetch', output: undefined, actorId: 'fetch' } as unknown as Ev,
  { type: 'xstate.done.actor.validate', output: undefined, actorId: 'validate' } as unknown as Ev,
  { type: 'xstate.done.actor.putLinks', output: { at: 0, swaps: 0 }, actorId: 'putLinks' } as unknown as Ev,
  { type: 'xstate.done.actor.instantiate', output: undefined, actorId: 'instantiate' } as unknown as Ev,
  { type: 'xstate.done.actor.resumeGate', output: undefined, actorId: 'resumeGate' } as unknown as Ev,
];

/** The input matrix: a fresh install, and an upgrade of a running v1. */
export const componentInputs: readonly PathInput<Machine>[] = [
  { name: 'fresh install', input: { id: 'api', kind: 'component', fetchTimeoutMs: 100, drainTimeoutMs: 50 } },
  {
    name: 'upgrade',
    input: { id: 'api', kind: 'component', fetchTimeoutMs: 100, drainTimeoutMs: 50 },
    prefix: install,
  },
];

/** Path selection options for the component machine (used by the model test and `cutover paths`). */
export const componentPathOptions: SelectPathsOptions<Machine> = {
  inputs: componentInputs,
  events: componentEvents,
  serialize: componentGuardState,
  maxDepth: 16,
};

export { componentMachine };
