// The component statechart (id 'component'): one `setup().createMachine()` config with its typed effect stubs,
// guards and assigns, for one workload on one host: pending, downloading, validating, linking, cuttingOver
// (gate closed), standby/retained, restoring, running/unhealthy/failed and stopping. It stays one file on
// purpose, over the ~400-line guideline: one machine is one config, and the layout keeps one machine per folder
// (`componentMachine.ts` beside `types.ts`), so a reader sees every state, transition and guard together;
// splitting the config would scatter one statechart. It must not do I/O: effects are invoked actors the host
// supplies through `provide()`. Every invoked effect has an error path, so every accepted apply ends in exactly one
// `component.applied` or `component.failed` (before the cut-over: the old version never stopped serving; from the
// cut-over on: `restoring` puts the old links and instance back); only a disposal failing changes no outcome.
import { assign, emit, enqueueActions, fromPromise, setup, stopChild } from 'xstate';
import { isCutoverError, notProvided } from '../../src/errors';
import type {
  ComponentContext,
  ComponentEmitted,
  ComponentEvent,
  ComponentMachineInput,
  DeadlineInput,
  Desired,
  DisposeInput,
  EffectInput,
  LinkedOutput,
  RestoreInput,
  SwapInput,
} from './types';

const stub = <TOutput, TInput>(name: string) =>
  fromPromise<TOutput, TInput>(async () => {
    throw notProvided(name);
  });

/** A thrown effect error as `{ code, reason }` for lastApply and reports. */
function failureOf(error: unknown): { code: string; reason: string } {
  if (isCutoverError(error)) return { code: error.code, reason: error.message };
  if (error instanceof Error) return { code: 'invoke.failed', reason: error.message };
  return { code: 'invoke.failed', reason: String(error) };
}

const effectInput = ({ context }: { context: ComponentContext }): EffectInput => ({
  id: context.id,
  kind: context.kind,
  target: context.target,
  serving: context.serving,
});

// A failure before cut-over: the old instance never stopped serving; the effect undid its own links.
const abandon = (record: 'recordFailure' | 'recordTimeout') =>
  [
    { guard: 'hasServing', target: '#component.running', actions: [record, 'reportFailed', 'finishFailed'] },
    { target: '#component.failed', actions: [record, 'reportFailed', 'finishFailed'] },
  ] as const;

// A failure from the cut-over on: put back swapped links, remove new ones, and serve the old instance again.
const restore = { target: '#component.restoring', actions: 'recordFailure' } as const;

const stopped = [
  { guard: 'nextIsApply', target: '#component.pending', actions: ['clearServing', 'promoteNext'] },
  { target: '#component.stopped', actions: 'clearServing' },
] as const;

const SUPERSEDED = 'superseded by a newer apply';

type ApplyEvent = Extract<ComponentEvent, { type: 'component.apply' }>;
const asDesired = (e: ApplyEvent): Desired => ({
  spec: e.spec,
  hash: e.hash,
  at: e.at,
  ...(e.standby === true ? { standby: true } : {}),
});

/**
 * The life of one component (or provider) instance on a host: download, validate, link, then a
 * zero-loss cut-over from the serving instance to the new one, with restore on failure (docs/architecture.md, docs/rollout-semantics.md).
 * @example
 * const actor = createActor(componentMachine.provide({ actors: { fetch, validate, ... } }), { input: { id: 'api' } })
 */
export const componentMachine = setup({
  types: {
    context: {} as ComponentContext,
    events: {} as ComponentEvent,
    input: {} as ComponentMachineInput,
    emitted: {} as ComponentEmitted,
    tags: {} as 'busy' | 'terminal' | 'serving' | 'paused',
  },
  actors: {
    admit: stub<void, EffectInput>('admit'),
    fetch: stub<void, EffectInput>('fetch'),
    validate: stub<void, EffectInput>('validate'),
    putLinks: stub<LinkedOutput, EffectInput>('putLinks'),
    pauseGate: stub<void, EffectInput>('pauseGate'),
    swapLink: stub<void, SwapInput>('swapLink'),
    instantiate: stub<void, EffectInput>('instantiate'),
    resumeGate: stub<void, EffectInput>('resumeGate'),
    restoreLinks: stub<void, RestoreInput>('restoreLinks'),
    disposeInstance: stub<void, DisposeInput>('disposeInstance'),
    stop: stub<void, EffectInput>('stop'),
    deadline: stub<void, DeadlineInput>('deadline'),
  },
  guards: {
    isTargetHash: ({ context, event }) => event.type === 'component.apply' && context.target?.hash === event.hash,
    isServingHash: ({ context, event }) => event.type === 'component.apply' && context.serving?.hash === event.hash,
    isQueuedHash: ({ context, event }) =>
      event.type === 'component.apply' && context.next?.kind === 'apply' && context.next.hash === event.hash,
    hasServing: ({ context }) => context.serving !== undefined,
    hasNext: ({ context }) => context.next !== undefined,
    nextIsServing: ({ context }) => context.next?.kind === 'apply' && context.next.hash === context.serving?.hash,
    nextIsDelete: ({ context }) => context.next?.kind === 'delete',
    nextIsApply: ({ context }) => context.next?.kind === 'apply',
    hasSwaps: ({ context }) => context.swapsTotal > 0,
    isStandbyBeside: ({ context }) => context.target?.standby === true && context.serving !== undefined,
    isPromoted: ({ context }) => context.promoted,
    isRetainedHash: ({ context, event }) => event.type === 'component.apply' && context.retained?.hash === event.hash,
  },
  actions: {
    setTarget: assign({
      target: ({ event }) => (event.type === 'component.apply' ? asDesired(event) : undefined),
      failure: undefined,
      swapsDone: 0,
      swapsTotal: 0,
    }),
    queueApply: assign({
      next: ({ context, event }) =>
        event.type === 'component.apply' ? { kind: 'apply' as const, ...asDesired(event) } : context.next,
    }),
    queueDelete: assign({
      next: ({ event }) => ({ kind: 'delete' as const, at: event.type === 'component.delete' ? event.at : 0 }),
    }),
    promoteNext: assign({
      target: ({ context }) =>
        context.next?.kind === 'apply'
          ? {
              spec: context.next.spec,
              hash: context.next.hash,
              at: context.next.at,
              ...(context.next.standby === true ? { standby: true } : {}),
            }
          : undefined,
      next: undefined,
      failure: undefined,
      swapsDone: 0,
      swapsTotal: 0,
    }),
    clearNext: assign({ next: undefined }),
    // Work queued behind an uninterruptible step is replaced by newer work: the apply it held reports now.
    supersedeQueued: enqueueActions(({ context, enqueue }) => {
      if (context.next?.kind !== 'apply') return;
      enqueue.emit({ type: 'component.failed', hash: context.next.hash, code: 'superseded', reason: SUPERSEDED });
    }),
    reportSuperseded: emit(({ context }) => ({
      type: 'component.failed' as const,
      hash: context.target?.hash ?? '',
      code: 'superseded',
      reason: SUPERSEDED,
    })),
    recordSuperseded: assign({
      lastApply: ({ context }) => ({
        hash: context.target?.hash ?? '',
        outcome: 'superseded' as const,
        code: 'superseded',
        reason: SUPERSEDED,
      }),
      target: undefined,
    }),
    reportServingApplied: emit(({ context }) => ({
      type: 'component.applied' as const,
      hash: context.serving?.hash ?? '',
    })),
    recordFailure: assign({ failure: ({ event }) => failureOf('error' in event ? event.error : event) }),
    finishFailed: assign({
      lastApply: ({ context }) => ({
        hash: context.target?.hash ?? '',
        // As the host reports it: an apply that gave way is superseded, even when its restore then failed.
        outcome:
          (context.failure ?? { code: 'superseded' }).code === 'superseded'
            ? ('superseded' as const)
            : ('failed' as const),
        code: context.failure?.code ?? 'superseded',
        reason: context.failure?.reason ?? SUPERSEDED,
      }),
      target: undefined,
      // A promote that failed leaves no cut-over behind to end in `retained`.
      promoted: false,
    }),
    reportFailed: emit(({ context }) => ({
      type: 'component.failed' as const,
      hash: context.target?.hash ?? '',
      code: context.failure?.code ?? 'superseded',
      reason: context.failure?.reason ?? SUPERSEDED,
    })),
    recordRestoreFailure: assign({
      failure: ({ context, event }) => {
        const restore = failureOf('error' in event ? event.error : event);
        const first = context.failure ?? { code: 'superseded', reason: SUPERSEDED };
        return { code: first.code, reason: `${first.reason}; restore incomplete: ${restore.reason}` };
      },
    }),
    setLinked: assign({
      swapsTotal: ({ event }) => ('output' in event ? (event.output as LinkedOutput).swaps : 0),
      swapsDone: 0,
      pauseDeadline: ({ context, event }) =>
        ('output' in event ? (event.output as LinkedOutput).at : 0) + context.drainTimeoutMs,
    }),
    countSwaps: assign({ swapsDone: ({ context }) => context.swapsTotal }),
    promoteTarget: assign({
      // Served, it is no longer a standby: a later revert back to it is a plain cut-over.
      serving: ({ context }) =>
        context.target === undefined
          ? undefined
          : { spec: context.target.spec, hash: context.target.hash, at: context.target.at },
      lastApply: ({ context }) => ({ hash: context.target?.hash ?? '', outcome: 'applied' as const }),
      target: undefined,
      failure: undefined,
      swapsDone: 0,
      swapsTotal: 0,
    }),
    reportApplied: emit(({ context }) => ({ type: 'component.applied' as const, hash: context.target?.hash ?? '' })),
    recordTimeout: assign({
      failure: ({ context }) => ({
        code: 'timeout',
        reason: `fetch of "${context.target?.spec.imageRef ?? ''}" timed out`,
      }),
    }),
    clearServing: assign({ serving: undefined }),
    recordDisposeFailure: assign({ disposeFailure: ({ event }) => failureOf('error' in event ? event.error : event) }),
    // A settled invocation stays among the snapshot's children until its state is left; `running` is where a
    // component spends its life, so the finished disposer is let go (~2 KB per idle component).
    releaseDisposer: stopChild('disposeInstance'),
    setPromoted: assign({
      promoted: true,
      retainUntil: ({ event }) => (event.type === 'component.promote' ? event.at + event.keepOldForMs : 0),
      // The drain window counts from the promote, not from when the standby was linked.
      pauseDeadline: ({ context, event }) =>
        (event.type === 'component.promote' ? event.at : 0) + context.drainTimeoutMs,
    }),
    retainServing: assign({ retained: ({ context }) => context.serving, promoted: false }),
    clearRetained: assign({ retained: undefined }),
    recordRevert: assign({ failure: { code: 'aborted', reason: 'standby reverted' } }),
    revertToRetained: assign({
      target: ({ context }) => context.retained,
      retained: undefined,
      failure: undefined,
      swapsDone: 0,
      swapsTotal: 0,
    }),
  },
}).createMachine({
  id: 'component',
  context: ({ input }) => ({
    id: input.id,
    kind: input.kind ?? 'component',
    fetchTimeoutMs: input.fetchTimeoutMs ?? 60_000,
    drainTimeoutMs: input.drainTimeoutMs ?? 5_000,
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
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        // A host creates an actor for an apply only; deleting what it never had is answered by the host.
        'component.apply': { target: 'pending', actions: 'setTarget' },
      },
    },
    // pending, downloading and validating hold nothing outside the host yet: a newer apply
    // replaces the target at once, which is the next safe point.
    pending: {
      tags: ['busy'],
      invoke: {
        id: 'admit',
        src: 'admit',
        input: effectInput,
        onDone: 'downloading',
        onError: abandon('recordFailure'),
      },
      on: {
        'component.apply': [
          { guard: 'isTargetHash' },
          {
            guard: 'isServingHash',
            target: 'running',
            actions: ['reportSuperseded', 'recordSuperseded', 'reportServingApplied'],
          },
          { target: 'pending', reenter: true, actions: ['reportSuperseded', 'recordSuperseded', 'setTarget'] },
        ],
        'component.delete': { target: 'stopping', actions: ['reportSuperseded', 'recordSuperseded'] },
      },
    },
    downloading: {
      tags: ['busy'],
      invoke: [
        { id: 'fetch', src: 'fetch', input: effectInput, onDone: 'validating', onError: abandon('recordFailure') },
        {
          id: 'deadline',
          src: 'deadline',
          input: ({ context }) => ({ at: (context.target?.at ?? 0) + context.fetchTimeoutMs }),
          onDone: abandon('recordTimeout'),
          onError: abandon('recordFailure'),
        },
      ],
      on: {
        'component.apply': [
          { guard: 'isTargetHash' },
          {
            guard: 'isServingHash',
            target: 'running',
            actions: ['reportSuperseded', 'recordSuperseded', 'reportServingApplied'],
          },
          { target: 'pending', actions: ['reportSuperseded', 'recordSuperseded', 'setTarget'] },
        ],
        'component.delete': { target: 'stopping', actions: ['reportSuperseded', 'recordSuperseded'] },
      },
    },
    validating: {
      tags: ['busy'],
      invoke: {
        id: 'validate',
        src: 'validate',
        input: effectInput,
        onDone: 'linking',
        onError: abandon('recordFailure'),
      },
      on: {
        'component.apply': [
          { guard: 'isTargetHash' },
          {
            guard: 'isServingHash',
            target: 'running',
            actions: ['reportSuperseded', 'recordSuperseded', 'reportServingApplied'],
          },
          { target: 'pending', actions: ['reportSuperseded', 'recordSuperseded', 'setTarget'] },
        ],
        'component.delete': { target: 'stopping', actions: ['reportSuperseded', 'recordSuperseded'] },
      },
    },
    // Links are being put: stopping halfway would leak them, so newer work waits in `next`.
    linking: {
      tags: ['busy'],
      invoke: {
        id: 'putLinks',
        src: 'putLinks',
        input: effectInput,
        onDone: [
          { guard: 'hasNext', target: 'restoring', actions: 'setLinked' },
          { guard: 'isStandbyBeside', target: 'standby', actions: ['setLinked', 'reportApplied'] },
          { guard: 'hasServing', target: 'cuttingOver', actions: 'setLinked' },
          { target: 'cuttingOver.replacing', actions: 'setLinked' },
        ],
        onError: abandon('recordFailure'),
      },
      on: {
        'component.apply': [
          { guard: 'isTargetHash' },
          { guard: 'isQueuedHash' },
          { actions: ['supersedeQueued', 'queueApply'] },
        ],
        'component.delete': { actions: ['supersedeQueued', 'queueDelete'] },
      },
    },
    cuttingOver: {
      tags: ['busy', 'paused'],
      initial: 'pausing',
      on: {
        'component.apply': [
          { guard: 'isTargetHash' },
          { guard: 'isQueuedHash' },
          { actions: ['supersedeQueued', 'queueApply'] },
        ],
        'component.delete': { actions: ['supersedeQueued', 'queueDelete'] },
      },
      states: {
        pausing: {
          // The deadline starts first, so arming its timer is not part of the gate-closed window.
          invoke: [
            // In-flight calls that outlive the deadline still finish on the old instance, which is kept until running.
            {
              id: 'deadline',
              src: 'deadline',
              input: ({ context }) => ({ at: context.pauseDeadline }),
              onDone: [{ guard: 'hasSwaps', target: 'swappingLinks' }, { target: 'replacing' }],
              onError: restore,
            },
            {
              id: 'pauseGate',
              src: 'pauseGate',
              input: effectInput,
              onDone: [{ guard: 'hasSwaps', target: 'swappingLinks' }, { target: 'replacing' }],
              onError: restore,
            },
          ],
        },
        // One invocation swaps every changed link, one by one in the plan's order: a machine step per link
        // would add a macrostep (and an actor) per link to the window in which the gate is closed.
        swappingLinks: {
          invoke: {
            id: 'swapLink',
            src: 'swapLink',
            input: ({ context }) => ({ ...effectInput({ context }), index: context.swapsDone }),
            onDone: { target: 'replacing', actions: 'countSwaps' },
            onError: restore,
          },
        },
        replacing: {
          invoke: {
            id: 'instantiate',
            src: 'instantiate',
            input: effectInput,
            onDone: 'resuming',
            onError: restore,
          },
        },
        resuming: {
          invoke: {
            id: 'resumeGate',
            src: 'resumeGate',
            input: effectInput,
            onDone: [
              {
                guard: 'isPromoted',
                target: '#component.retained',
                actions: ['reportApplied', 'retainServing', 'promoteTarget'],
              },
              { target: '#component.running', actions: ['reportApplied', 'promoteTarget'] },
            ],
            // The new instance may already take calls: the restore points the gate back at the old one.
            onError: restore,
          },
        },
      },
    },
    // Blue-green: the new instance is linked and instantiated beside the serving one and takes only preview
    // calls; the gate still dispatches to the serving version.
    standby: {
      tags: ['serving'],
      on: {
        'component.promote': { target: 'cuttingOver', actions: 'setPromoted' },
        'component.revert': { target: 'restoring', actions: 'recordRevert' },
        'component.apply': [{ guard: 'isTargetHash' }, { target: 'restoring', actions: 'queueApply' }],
        'component.delete': { target: 'restoring', actions: 'queueDelete' },
      },
    },
    // Promoted: the new version serves; the old instance is kept (not disposed) until `retainUntil` so a revert
    // is a cut-over back with no download or validation.
    retained: {
      tags: ['serving'],
      invoke: {
        id: 'deadline',
        src: 'deadline',
        input: ({ context }) => ({ at: context.retainUntil }),
        onDone: { target: 'running', actions: 'clearRetained' },
        onError: { target: 'running', actions: 'clearRetained' },
      },
      on: {
        'component.revert': { target: 'linking', actions: 'revertToRetained' },
        'component.apply': [
          { guard: 'isServingHash', actions: 'reportServingApplied' },
          // A rollback to the retained version (an orchestrator re-applying stable) is the same instant revert.
          { guard: 'isRetainedHash', target: 'linking', actions: 'revertToRetained' },
          { target: 'pending', actions: ['clearRetained', 'setTarget'] },
        ],
        'component.delete': { target: 'stopping', actions: 'clearRetained' },
      },
    },
    // Puts back swapped links in reverse, removes the new links, and resumes the OLD instance.
    restoring: {
      tags: ['busy'],
      invoke: {
        id: 'restoreLinks',
        src: 'restoreLinks',
        input: ({ context }) => ({ ...effectInput({ context }), swapped: context.swapsDone }),
        onDone: [
          { guard: 'hasServing', target: 'running', actions: ['reportFailed', 'finishFailed'] },
          { target: 'failed', actions: ['reportFailed', 'finishFailed'] },
        ],
        onError: [
          {
            guard: 'hasServing',
            target: 'unhealthy',
            actions: ['recordRestoreFailure', 'reportFailed', 'finishFailed'],
          },
          { target: 'failed', actions: ['recordRestoreFailure', 'reportFailed', 'finishFailed'] },
        ],
      },
      on: {
        'component.apply': [{ guard: 'isQueuedHash' }, { actions: ['supersedeQueued', 'queueApply'] }],
        'component.delete': { actions: ['supersedeQueued', 'queueDelete'] },
      },
    },
    running: {
      tags: ['serving'],
      invoke: {
        id: 'disposeInstance',
        src: 'disposeInstance',
        input: ({ context }) => ({ id: context.id, kind: context.kind, keep: context.serving?.hash }),
        onDone: { actions: 'releaseDisposer' },
        // Old instances that would not go are not an apply's outcome: the state (and what serves) stays.
        onError: { actions: ['recordDisposeFailure', 'releaseDisposer'] },
      },
      always: [
        { guard: 'nextIsServing', actions: ['clearNext', 'reportServingApplied'] },
        { guard: 'nextIsDelete', target: 'stopping', actions: 'clearNext' },
        { guard: 'nextIsApply', target: 'pending', actions: 'promoteNext' },
      ],
      on: {
        'component.apply': [
          { guard: 'isServingHash', actions: 'reportServingApplied' },
          { target: 'pending', actions: 'setTarget' },
        ],
        'component.delete': { target: 'stopping' },
      },
    },
    // Serving, but a restore could not put every link back.
    unhealthy: {
      tags: ['serving'],
      invoke: {
        id: 'disposeInstance',
        src: 'disposeInstance',
        input: ({ context }) => ({ id: context.id, kind: context.kind, keep: context.serving?.hash }),
        onDone: { actions: 'releaseDisposer' },
        // Old instances that would not go are not an apply's outcome: the state (and what serves) stays.
        onError: { actions: ['recordDisposeFailure', 'releaseDisposer'] },
      },
      always: [
        { guard: 'nextIsDelete', target: 'stopping', actions: 'clearNext' },
        { guard: 'nextIsApply', target: 'pending', actions: 'promoteNext' },
      ],
      on: {
        'component.apply': { target: 'pending', actions: 'setTarget' },
        'component.delete': { target: 'stopping' },
      },
    },
    // Nothing serves: a first install failed.
    failed: {
      tags: ['terminal'],
      invoke: {
        id: 'disposeInstance',
        src: 'disposeInstance',
        input: ({ context }) => ({ id: context.id, kind: context.kind, keep: undefined }),
        onDone: { actions: 'releaseDisposer' },
        onError: { actions: ['recordDisposeFailure', 'releaseDisposer'] },
      },
      always: [
        { guard: 'nextIsDelete', target: 'stopping', actions: 'clearNext' },
        { guard: 'nextIsApply', target: 'pending', actions: 'promoteNext' },
      ],
      on: {
        'component.apply': { target: 'pending', actions: 'setTarget' },
        'component.delete': { target: 'stopping' },
      },
    },
    stopping: {
      tags: ['busy'],
      invoke: {
        id: 'stop',
        src: 'stop',
        input: effectInput,
        // stop is best effort (links and instances go whatever happens): a failed one finishes all the same.
        onDone: stopped,
        onError: stopped,
      },
      on: {
        'component.apply': [{ guard: 'isQueuedHash' }, { actions: ['supersedeQueued', 'queueApply'] }],
      },
    },
    stopped: { type: 'final', tags: ['terminal'] },
  },
});

/** The component machine's logic type. */
export type ComponentMachine = typeof componentMachine;
