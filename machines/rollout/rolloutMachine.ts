// The rollout statechart (id 'rollout'): one `setup().createMachine()` config with its typed effect stubs,
// guards and assigns: preparing, progressing (batches, gates, pauses, analyses, verification), completing,
// rollingBack and finalizing, to one of its final outcomes. It stays one file on purpose, over the ~400-line
// guideline: one machine is one config, and the layout keeps one machine per folder (`rolloutMachine.ts` beside
// its types and pure helpers), so a reader sees every state, transition and guard together; splitting the
// config would scatter one statechart. Pure planning (`plan.ts`, `canary.ts`, `blueGreen.ts`, `guardrails.ts`)
// and the output (`rolloutOutput.ts`) already live beside it. It must not do I/O: effects are invoked actors
// supplied through `provide()`.
import { and, assign, fromPromise, setup, stopChild } from 'xstate';
import { notProvided } from '../../src/errors';
import { clearCondition, namedHosts, setCondition, setConditions } from './conditions';
import { rolloutOutput } from './rolloutOutput';
import type {
  AnalysisResult,
  BatchApplied,
  BatchGate,
  BatchInput,
  DeadlineInput,
  FinalInput,
  PlanSummary,
  Condition,
  RolloutContext,
  RolloutEvent,
  RolloutInput,
  RolloutOutcome,
  RolloutOutput,
  ProgressEvent,
  Stamp,
  StepInput,
  VerifyResult,
} from './types';

const stub = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw notProvided(name);
  });

const step = ({ context: c }: { context: RolloutContext }): StepInput => ({
  rolloutId: c.rolloutId,
  app: c.app,
  targetVersion: c.targetVersion,
  stableVersion: c.stableVersion,
  strategy: c.strategy,
  kind: c.kind,
});
const batchInput = ({ context }: { context: RolloutContext }): BatchInput => ({
  ...step({ context }),
  batch: context.batch,
  firstDeploy: context.firstDeploy,
  promoted: context.promoted,
});
const finalInput = ({ context }: { context: RolloutContext }): FinalInput => ({
  ...step({ context }),
  outcome: context.outcome ?? 'failed',
});

function errorText(error: unknown): { code: string; reason: string } {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; message?: unknown };
    return {
      code: typeof e.code === 'string' ? e.code : 'invoke.failed',
      reason: typeof e.message === 'string' ? e.message : String(error),
    };
  }
  return { code: 'invoke.failed', reason: String(error) };
}

// Canary gates come with each verified batch; rolling ones are the same after every batch.
const pauseOf = (c: RolloutContext, gate: BatchGate | undefined): BatchGate['pause'] =>
  gate !== undefined ? gate.pause : c.strategy.type === 'rolling' ? c.strategy.pauseAfterBatch : false;
const analysisOf = (c: RolloutContext, gate: BatchGate | undefined): boolean =>
  gate !== undefined ? gate.analysis : c.strategy.type === 'rolling' && c.strategy.analysis !== undefined;
const gateOf = (o: { status: string; gate?: BatchGate }): BatchGate | undefined =>
  o.status === 'passed' ? o.gate : undefined;

const inconclusive = (at: number, reason: string) => ({
  type: 'AnalysisInconclusive',
  status: true,
  reason: 'analysisInconclusive',
  message: reason,
  since: at,
});

/** Why the progress deadline passed: its window, and the hosts of the batch not yet verified. */
function progressDeadlineText(c: RolloutContext): { message: string; hosts: string[] } {
  const window = `no progress within progressDeadlineMs ${c.strategy.progressDeadlineMs}`;
  const u = c.unverified;
  const message = u.count > 0 ? `${window}; not yet verified: ${namedHosts(u.hosts, u.count)}` : window;
  return { message, hosts: u.hosts };
}

/**
 * The orchestrator side of one rollout (docs/rollout-semantics.md). Effects are invoked actors that throw
 * `notProvided` until supplied with `rolloutMachine.provide({ actors })`; deadlines are invoked
 * `deadline` actors with an absolute `at`, so a restored rollout still times out.
 * @example
 * const actor = createActor(rolloutMachine.provide({ actors: myEffects }), { input }).start()
 */
export const rolloutMachine = setup({
  types: {} as {
    context: RolloutContext;
    events: RolloutEvent;
    input: RolloutInput;
    output: RolloutOutput;
    tags: 'busy' | 'terminal' | 'paused';
  },
  actors: {
    suspendScalers: stub<Stamp, StepInput>('suspendScalers'),
    markUpgrading: stub<Stamp, StepInput>('markUpgrading'),
    planRollout: stub<PlanSummary, StepInput>('planRollout'),
    applyBatch: stub<BatchApplied, BatchInput>('applyBatch'),
    verifyBatch: stub<VerifyResult, BatchInput>('verifyBatch'),
    analyze: stub<AnalysisResult, BatchInput>('analyze'),
    // Optional: a scheduler without background analysis need not provide it, so the default never finishes.
    backgroundAnalysis: fromPromise<AnalysisResult, BatchInput>(
      ({ signal }) =>
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
    ),
    complete: stub<Stamp, FinalInput>('complete'),
    rollback: stub<Stamp, StepInput>('rollback'),
    verifyRollback: stub<VerifyResult, StepInput>('verifyRollback'),
    resumeScalers: stub<Stamp, FinalInput>('resumeScalers'),
    deadline: stub<Stamp, DeadlineInput>('deadline'),
  },
  guards: {
    planIsEmpty: (_, p: { batches: number }) => p.batches === 0,
    isPaused: ({ context }) => context.paused,
    isLastBatch: ({ context }) => context.batch + 1 >= context.batches,
    failedResult: (_, p: { status: string }) => p.status === 'failed',
    inconclusiveResult: (_, p: { status: string }) => p.status === 'inconclusive',
    needsAnalysis: ({ context }, p: { gate: BatchGate | undefined }) =>
      analysisOf(context, p.gate) && !context.firstDeploy && context.promoted !== 'full',
    // A full promote skips analysis, background analysis included.
    backgroundVerdictIs: ({ context }, p: { status: string; wanted: 'failed' | 'inconclusive' }) =>
      p.status === p.wanted && !context.firstDeploy && context.promoted !== 'full',
    pausesAfterBatch: ({ context }, p: { gate: BatchGate | undefined }) =>
      pauseOf(context, p.gate) !== false && !context.firstDeploy && context.promoted === 'no',
    // A promote given outside a pause ends the next one: it moves on at once, the promote used up.
    skipsPauseAfterBatch: ({ context }, p: { gate: BatchGate | undefined }) =>
      pauseOf(context, p.gate) !== false && !context.firstDeploy && context.promoted === 'step',
    // Only a pause or a hold sets `heldAt` (and leaving one clears it).
    isHeld: ({ context }) => context.heldAt !== null,
    isFullPromote: ({ event }) => event.type === 'rollout.promote' && event.full === true,
    isFullPromoteOfLastBatch: ({ context, event }) =>
      event.type === 'rollout.promote' && event.full === true && context.batch + 1 >= context.batches,
    // The deadline was pushed while its timer ran (a host verified, a measurement): re-arm instead of expiring.
    progressMovedOn: ({ context }, p: { at: number }) =>
      context.progressDeadlineAt !== null && context.progressDeadlineAt > p.at,
    abortsOnProgressDeadline: ({ context }) => context.strategy.progressDeadlineAbort,
    outcomeIs: ({ context }, p: { outcome: RolloutOutcome }) => context.outcome === p.outcome,
  },
  actions: {
    setPaused: assign({ paused: true }),
    clearPaused: assign({ paused: false }),
    // Inside a pause a plain promote ends that pause (the caller moves on); elsewhere it ends the next one.
    promote: assign({
      paused: false,
      promoted: ({ context }, p: { full: boolean; inPause?: boolean }) =>
        p.full || context.promoted === 'full' ? 'full' : p.inPause === true ? context.promoted : 'step',
    }),
    usePromote: assign({ promoted: ({ context }) => (context.promoted === 'step' ? 'no' : context.promoted) }),
    // A full promote ends the background analysis now; its run is marked cancelled when the rollout ends.
    stopBackground: stopChild('backgroundAnalysis'),
    recordHostProgress: assign(({ context }, p: ProgressEvent) => {
      const moved = p.measured === true || (p.verified !== undefined && p.verified > context.verified);
      return {
        verified: Math.max(context.verified, p.verified ?? 0),
        unverified: p.unverified ?? context.unverified,
        ...(moved
          ? {
              progressDeadlineAt: p.at + context.strategy.progressDeadlineMs,
              conditions: clearCondition(context.conditions, 'ProgressDeadlineExceeded', p.at, 'progress resumed'),
            }
          : {}),
      };
    }),
    recordPlan: assign(({ context }, p: PlanSummary) => ({
      batches: p.batches,
      firstDeploy: context.firstDeploy || p.firstDeploy,
      progressDeadlineAt: p.at + context.strategy.progressDeadlineMs,
    })),
    recordProgress: assign(
      ({ context }, p: { at: number; conditions?: Condition[] | undefined; cleared?: string[] | undefined }) => ({
        progressDeadlineAt: p.at + context.strategy.progressDeadlineMs,
        conditions: [...(p.cleared ?? []), 'ProgressDeadlineExceeded'].reduce(
          (list, type) =>
            clearCondition(list, type, p.at, type === 'ProgressDeadlineExceeded' ? 'progress resumed' : undefined),
          setConditions(context.conditions, p.conditions),
        ),
      }),
    ),
    nextBatch: assign({
      batch: ({ context }) => context.batch + 1,
      verified: 0,
      unverified: { hosts: [], count: 0 },
    }),
    // Never below the batch in flight: a re-plan that finds nothing left still ends with this batch.
    recordBatches: assign({
      batches: ({ context }, p: { batches: number | undefined }) =>
        p.batches === undefined ? context.batches : Math.max(context.batch + 1, p.batches),
    }),
    holdAt: assign({ heldAt: (_, p: { at: number }) => p.at }),
    startPause: assign(({ context }, p: { at: number; gate: BatchGate | undefined }) => {
      const pause = pauseOf(context, p.gate);
      const ms = pause === false ? undefined : pause.durationMs;
      return { heldAt: p.at, pauseUntil: ms === undefined ? null : p.at + ms };
    }),
    // Time spent held or paused does not count against the progress deadline.
    unhold: assign(({ context }, p: { at: number }) => ({
      heldAt: null,
      pauseUntil: null,
      progressDeadlineAt:
        context.progressDeadlineAt === null || context.heldAt === null
          ? context.progressDeadlineAt
          : context.progressDeadlineAt + Math.max(0, p.at - context.heldAt),
    })),
    markFailed: assign(({ context }, p: { code: string; reason: string; conditions?: Condition[] | undefined }) => ({
      outcome: 'rolledBack' as const,
      code: p.code,
      reason: p.reason,
      conditions: setConditions(context.conditions, p.conditions),
    })),
    markError: assign((_, p: { error: unknown; outcome: RolloutOutcome }) => ({
      outcome: p.outcome,
      ...errorText(p.error),
    })),
    markAborted: assign({
      outcome: 'aborted' as const,
      code: 'aborted',
      reason: (_, p: { reason: string | undefined }) => p.reason ?? 'aborted by request',
    }),
    markProgressDeadline: assign(({ context }, p: { at: number }) => {
      const t = progressDeadlineText(context);
      return {
        outcome: 'rolledBack' as const,
        code: 'progressDeadline',
        reason: `progressDeadline: ${t.message}`,
        conditions: setCondition(context.conditions, {
          type: 'ProgressDeadlineExceeded',
          status: true,
          reason: 'progressDeadline',
          message: t.message,
          since: p.at,
          hosts: t.hosts,
        }),
      };
    }),
    noteProgressDeadline: assign(({ context }, p: { at: number }) => {
      const t = progressDeadlineText(context);
      return {
        progressDeadlineAt: null,
        conditions: setCondition(context.conditions, {
          type: 'ProgressDeadlineExceeded',
          status: true,
          reason: 'progressDeadline',
          message: t.message,
          since: p.at,
          hosts: t.hosts,
        }),
      };
    }),
    markCompleted: assign({ outcome: 'completed' as const, code: null, reason: 'completed' }),
    markSuperseded: assign({
      outcome: 'superseded' as const,
      code: 'superseded',
      supersededBy: (_, p: { by: string }) => p.by,
      reason: (_, p: { by: string }) => `superseded by rollout "${p.by}"`,
    }),
    startRollbackClock: assign({
      // A rollback gets at least ten minutes: a host may finish a slow download before it can take the stable spec.
      rollbackDeadlineAt: ({ context }, p: { at: number }) =>
        p.at + Math.max(context.strategy.progressDeadlineMs, 600_000),
    }),
    markRollbackFailed: assign(({ context }, p: { code: string; reason: string }) => ({
      outcome: 'failed' as const,
      code: p.code,
      reason: `rollback failed: ${p.reason}${context.reason ? ` (after: ${context.reason})` : ''}`,
    })),
    addConditions: assign({
      conditions: ({ context }, p: { conditions?: Condition[] | undefined }) =>
        setConditions(context.conditions, p.conditions),
    }),
  },
}).createMachine({
  id: 'rollout',
  context: ({ input }) => ({
    rolloutId: input.rolloutId,
    app: input.app,
    kind: input.kind,
    targetVersion: input.targetVersion,
    stableVersion: input.stableVersion,
    strategy: input.strategy,
    firstDeploy: input.stableVersion === null,
    batch: 0,
    batches: 0,
    paused: input.startPaused,
    promoted: input.kind === 'undo' ? 'full' : 'no',
    verified: 0,
    unverified: { hosts: [], count: 0 },
    progressDeadlineAt: null,
    heldAt: null,
    pauseUntil: null,
    rollbackDeadlineAt: null,
    outcome: null,
    code: null,
    reason: null,
    conditions: [],
    supersededBy: null,
  }),
  output: ({ context }) => rolloutOutput(context),
  initial: 'preparing',
  states: {
    preparing: {
      tags: ['busy'],
      initial: 'suspendingScalers',
      on: {
        'rollout.pause': { actions: 'setPaused' },
        'rollout.resume': { actions: 'clearPaused' },
        'rollout.promote': { actions: { type: 'promote', params: ({ event }) => ({ full: event.full === true }) } },
        'rollout.abort': {
          target: 'rollingBack',
          actions: { type: 'markAborted', params: ({ event }) => ({ reason: event.reason }) },
        },
        'rollout.supersede': {
          target: 'superseded',
          actions: { type: 'markSuperseded', params: ({ event }) => ({ by: event.by }) },
        },
      },
      states: {
        suspendingScalers: {
          invoke: {
            id: 'suspendScalers',
            src: 'suspendScalers',
            input: step,
            onDone: 'markingUpgrading',
            onError: {
              target: '#rollout.finalizing',
              actions: {
                type: 'markError',
                params: ({ event }) => ({ error: event.error, outcome: 'failed' as const }),
              },
            },
          },
        },
        markingUpgrading: {
          invoke: {
            id: 'markUpgrading',
            src: 'markUpgrading',
            input: step,
            onDone: 'planning',
            onError: {
              target: '#rollout.finalizing',
              actions: {
                type: 'markError',
                params: ({ event }) => ({ error: event.error, outcome: 'failed' as const }),
              },
            },
          },
        },
        planning: {
          invoke: {
            id: 'planRollout',
            src: 'planRollout',
            input: step,
            onDone: [
              {
                guard: { type: 'planIsEmpty', params: ({ event }) => ({ batches: event.output.batches }) },
                target: '#rollout.completing',
                actions: { type: 'recordPlan', params: ({ event }) => event.output },
              },
              {
                guard: 'isPaused',
                target: '#rollout.progressing.held',
                actions: [
                  { type: 'recordPlan', params: ({ event }) => event.output },
                  { type: 'holdAt', params: ({ event }) => ({ at: event.output.at }) },
                ],
              },
              {
                target: '#rollout.progressing',
                actions: { type: 'recordPlan', params: ({ event }) => event.output },
              },
            ],
            onError: {
              target: '#rollout.finalizing',
              actions: {
                type: 'markError',
                params: ({ event }) => ({ error: event.error, outcome: 'failed' as const }),
              },
            },
          },
        },
      },
    },
    progressing: {
      tags: ['busy'],
      initial: 'applying',
      // Runs beside every step (canary backgroundAnalysis); a strategy without one never finishes it.
      invoke: {
        id: 'backgroundAnalysis',
        src: 'backgroundAnalysis',
        input: batchInput,
        onDone: [
          {
            guard: {
              type: 'backgroundVerdictIs',
              params: ({ event }) => ({ status: event.output.status, wanted: 'failed' as const }),
            },
            target: 'rollingBack',
            actions: {
              type: 'markFailed',
              params: ({ event }) => ({
                code: 'analysis.failed',
                reason: event.output.status === 'passed' ? 'analysis failed' : event.output.reason,
              }),
            },
          },
          {
            // Inconclusive holds the rollout for a person before its next batch (in-flight applies finish).
            guard: {
              type: 'backgroundVerdictIs',
              params: ({ event }) => ({ status: event.output.status, wanted: 'inconclusive' as const }),
            },
            actions: [
              'setPaused',
              {
                type: 'addConditions',
                params: ({ event }) => ({
                  conditions: [
                    inconclusive(
                      event.output.at,
                      event.output.status === 'passed' ? 'inconclusive' : event.output.reason,
                    ),
                  ],
                }),
              },
            ],
          },
        ],
        onError: {
          target: 'rollingBack',
          actions: {
            type: 'markError',
            params: ({ event }) => ({ error: event.error, outcome: 'rolledBack' as const }),
          },
        },
      },
      on: {
        'rollout.pause': { actions: 'setPaused' },
        // In a pause or hold (stepPause, held) resume and promote end it; elsewhere they set what comes next.
        'rollout.resume': [
          {
            guard: 'isHeld',
            target: '.applying',
            actions: ['clearPaused', { type: 'unhold', params: ({ event }) => ({ at: event.at }) }],
          },
          { actions: 'clearPaused' },
        ],
        'rollout.promote': [
          {
            guard: and(['isHeld', 'isFullPromote']),
            target: '.applying',
            actions: [
              { type: 'promote', params: { full: true } },
              'stopBackground',
              { type: 'unhold', params: ({ event }) => ({ at: event.at }) },
            ],
          },
          {
            guard: 'isFullPromote',
            actions: [{ type: 'promote', params: { full: true } }, 'stopBackground'],
          },
          {
            guard: 'isHeld',
            target: '.applying',
            actions: [
              { type: 'promote', params: { full: false, inPause: true } },
              { type: 'unhold', params: ({ event }) => ({ at: event.at }) },
            ],
          },
          { actions: { type: 'promote', params: { full: false } } },
        ],
        'rollout.abort': {
          target: 'rollingBack',
          actions: { type: 'markAborted', params: ({ event }) => ({ reason: event.reason }) },
        },
        'rollout.supersede': {
          target: 'superseded',
          actions: { type: 'markSuperseded', params: ({ event }) => ({ by: event.by }) },
        },
      },
      states: {
        applying: {
          invoke: [
            {
              id: 'applyBatch',
              src: 'applyBatch',
              input: batchInput,
              onDone: {
                target: 'verifying',
                actions: { type: 'recordBatches', params: ({ event }) => ({ batches: event.output.batches }) },
              },
              onError: {
                target: '#rollout.rollingBack',
                actions: {
                  type: 'markError',
                  params: ({ event }) => ({ error: event.error, outcome: 'rolledBack' as const }),
                },
              },
            },
            {
              id: 'progressDeadline',
              src: 'deadline',
              input: ({ context }) => ({ at: context.progressDeadlineAt ?? Number.POSITIVE_INFINITY }),
              onDone: [
                {
                  guard: 'abortsOnProgressDeadline',
                  target: '#rollout.rollingBack',
                  actions: { type: 'markProgressDeadline', params: ({ event }) => event.output },
                },
                { actions: { type: 'noteProgressDeadline', params: ({ event }) => event.output } },
              ],
            },
          ],
        },
        verifying: {
          on: {
            'rollout.progress': { actions: { type: 'recordHostProgress', params: ({ event }) => event } },
          },
          invoke: [
            {
              id: 'verifyBatch',
              src: 'verifyBatch',
              input: batchInput,
              onDone: [
                {
                  guard: { type: 'failedResult', params: ({ event }) => ({ status: event.output.status }) },
                  target: '#rollout.rollingBack',
                  actions: {
                    type: 'markFailed',
                    params: ({ event }) =>
                      event.output.status === 'failed'
                        ? { code: event.output.code, reason: event.output.reason, conditions: event.output.conditions }
                        : { code: 'verify.failed', reason: 'verification failed' },
                  },
                },
                {
                  guard: { type: 'needsAnalysis', params: ({ event }) => ({ gate: gateOf(event.output) }) },
                  target: 'analyzing',
                  actions: { type: 'recordProgress', params: ({ event }) => event.output },
                },
                {
                  guard: 'isLastBatch',
                  target: '#rollout.completing',
                  actions: { type: 'recordProgress', params: ({ event }) => event.output },
                },
                {
                  guard: { type: 'pausesAfterBatch', params: ({ event }) => ({ gate: gateOf(event.output) }) },
                  target: 'stepPause',
                  actions: [
                    { type: 'recordProgress', params: ({ event }) => event.output },
                    'nextBatch',
                    {
                      type: 'startPause',
                      params: ({ event }) => ({ at: event.output.at, gate: gateOf(event.output) }),
                    },
                  ],
                },
                {
                  guard: { type: 'skipsPauseAfterBatch', params: ({ event }) => ({ gate: gateOf(event.output) }) },
                  target: 'applying',
                  actions: [{ type: 'recordProgress', params: ({ event }) => event.output }, 'nextBatch', 'usePromote'],
                },
                {
                  guard: 'isPaused',
                  target: 'held',
                  actions: [
                    { type: 'recordProgress', params: ({ event }) => event.output },
                    'nextBatch',
                    { type: 'holdAt', params: ({ event }) => event.output },
                  ],
                },
                {
                  target: 'applying',
                  actions: [{ type: 'recordProgress', params: ({ event }) => event.output }, 'nextBatch'],
                },
              ],
              onError: {
                target: '#rollout.rollingBack',
                actions: {
                  type: 'markError',
                  params: ({ event }) => ({ error: event.error, outcome: 'rolledBack' as const }),
                },
              },
            },
            {
              id: 'progressDeadline',
              src: 'deadline',
              input: ({ context }) => ({ at: context.progressDeadlineAt ?? Number.POSITIVE_INFINITY }),
              onDone: [
                {
                  guard: { type: 'progressMovedOn', params: ({ event }) => event.output },
                  target: 'verifying',
                  reenter: true,
                },
                {
                  guard: 'abortsOnProgressDeadline',
                  target: '#rollout.rollingBack',
                  actions: { type: 'markProgressDeadline', params: ({ event }) => event.output },
                },
                { actions: { type: 'noteProgressDeadline', params: ({ event }) => event.output } },
              ],
            },
          ],
        },
        analyzing: {
          on: {
            'rollout.progress': { actions: { type: 'recordHostProgress', params: ({ event }) => event } },
            // A full promote ends the analysis running now and goes on as if it had passed.
            'rollout.promote': [
              {
                guard: 'isFullPromoteOfLastBatch',
                target: '#rollout.completing',
                actions: [
                  { type: 'promote', params: { full: true } },
                  'stopBackground',
                  { type: 'recordProgress', params: ({ event }) => ({ at: event.at }) },
                ],
              },
              {
                guard: 'isFullPromote',
                target: 'applying',
                actions: [
                  { type: 'promote', params: { full: true } },
                  'stopBackground',
                  { type: 'recordProgress', params: ({ event }) => ({ at: event.at }) },
                  'nextBatch',
                ],
              },
            ],
          },
          invoke: [
            {
              id: 'analyze',
              src: 'analyze',
              input: batchInput,
              onDone: [
                {
                  guard: { type: 'failedResult', params: ({ event }) => ({ status: event.output.status }) },
                  target: '#rollout.rollingBack',
                  actions: {
                    type: 'markFailed',
                    params: ({ event }) => ({
                      code: 'analysis.failed',
                      reason: event.output.status === 'passed' ? 'analysis failed' : event.output.reason,
                    }),
                  },
                },
                {
                  guard: { type: 'inconclusiveResult', params: ({ event }) => ({ status: event.output.status }) },
                  target: 'held',
                  actions: [
                    { type: 'holdAt', params: ({ event }) => event.output },
                    {
                      type: 'addConditions',
                      params: ({ event }) => ({
                        conditions: [
                          inconclusive(
                            event.output.at,
                            event.output.status === 'passed' ? 'inconclusive' : event.output.reason,
                          ),
                        ],
                      }),
                    },
                  ],
                },
                {
                  guard: 'isLastBatch',
                  target: '#rollout.completing',
                  actions: { type: 'recordProgress', params: ({ event }) => event.output },
                },
                {
                  guard: { type: 'pausesAfterBatch', params: ({ event }) => ({ gate: gateOf(event.output) }) },
                  target: 'stepPause',
                  actions: [
                    { type: 'recordProgress', params: ({ event }) => event.output },
                    'nextBatch',
                    {
                      type: 'startPause',
                      params: ({ event }) => ({ at: event.output.at, gate: gateOf(event.output) }),
                    },
                  ],
                },
                {
                  guard: { type: 'skipsPauseAfterBatch', params: ({ event }) => ({ gate: gateOf(event.output) }) },
                  target: 'applying',
                  actions: [{ type: 'recordProgress', params: ({ event }) => event.output }, 'nextBatch', 'usePromote'],
                },
                {
                  guard: 'isPaused',
                  target: 'held',
                  actions: [
                    { type: 'recordProgress', params: ({ event }) => event.output },
                    'nextBatch',
                    { type: 'holdAt', params: ({ event }) => event.output },
                  ],
                },
                {
                  target: 'applying',
                  actions: [{ type: 'recordProgress', params: ({ event }) => event.output }, 'nextBatch'],
                },
              ],
              onError: {
                target: '#rollout.rollingBack',
                actions: {
                  type: 'markError',
                  params: ({ event }) => ({ error: event.error, outcome: 'rolledBack' as const }),
                },
              },
            },
            {
              id: 'progressDeadline',
              src: 'deadline',
              input: ({ context }) => ({ at: context.progressDeadlineAt ?? Number.POSITIVE_INFINITY }),
              onDone: [
                {
                  guard: { type: 'progressMovedOn', params: ({ event }) => event.output },
                  target: 'analyzing',
                  reenter: true,
                },
                {
                  guard: 'abortsOnProgressDeadline',
                  target: '#rollout.rollingBack',
                  actions: { type: 'markProgressDeadline', params: ({ event }) => event.output },
                },
                { actions: { type: 'noteProgressDeadline', params: ({ event }) => event.output } },
              ],
            },
          ],
        },
        stepPause: {
          tags: ['paused'],
          invoke: {
            id: 'pauseTimer',
            src: 'deadline',
            input: ({ context }) => ({ at: context.pauseUntil ?? Number.POSITIVE_INFINITY }),
            onDone: [
              {
                guard: 'isPaused',
                target: 'held',
                actions: [
                  { type: 'unhold', params: ({ event }) => event.output },
                  { type: 'holdAt', params: ({ event }) => event.output },
                ],
              },
              { target: 'applying', actions: { type: 'unhold', params: ({ event }) => event.output } },
            ],
          },
        },
        // Left by resume or promote, handled on `progressing` (a hold or pause is what `heldAt` marks).
        held: { tags: ['paused'] },
      },
    },
    completing: {
      tags: ['busy'],
      entry: 'markCompleted',
      invoke: {
        id: 'complete',
        src: 'complete',
        input: finalInput,
        onDone: 'finalizing',
        onError: {
          target: 'finalizing',
          actions: { type: 'markError', params: ({ event }) => ({ error: event.error, outcome: 'failed' as const }) },
        },
      },
    },
    rollingBack: {
      tags: ['busy'],
      initial: 'applying',
      on: {
        'rollout.supersede': {
          target: 'superseded',
          actions: { type: 'markSuperseded', params: ({ event }) => ({ by: event.by }) },
        },
      },
      states: {
        applying: {
          invoke: {
            id: 'rollback',
            src: 'rollback',
            input: step,
            onDone: {
              target: 'verifying',
              actions: { type: 'startRollbackClock', params: ({ event }) => event.output },
            },
            onError: {
              target: '#rollout.finalizing',
              actions: { type: 'markRollbackFailed', params: ({ event }) => errorText(event.error) },
            },
          },
        },
        verifying: {
          invoke: [
            {
              id: 'verifyRollback',
              src: 'verifyRollback',
              input: step,
              onDone: [
                {
                  guard: { type: 'failedResult', params: ({ event }) => ({ status: event.output.status }) },
                  target: '#rollout.finalizing',
                  actions: {
                    type: 'markRollbackFailed',
                    params: ({ event }) =>
                      event.output.status === 'failed'
                        ? { code: event.output.code, reason: event.output.reason }
                        : { code: 'verify.failed', reason: 'verification failed' },
                  },
                },
                {
                  target: '#rollout.finalizing',
                  actions: { type: 'addConditions', params: ({ event }) => event.output },
                },
              ],
              onError: {
                target: '#rollout.finalizing',
                actions: { type: 'markRollbackFailed', params: ({ event }) => errorText(event.error) },
              },
            },
            {
              id: 'rollbackDeadline',
              src: 'deadline',
              input: ({ context }) => ({ at: context.rollbackDeadlineAt ?? Number.POSITIVE_INFINITY }),
              onDone: {
                target: '#rollout.finalizing',
                actions: {
                  type: 'markRollbackFailed',
                  params: () => ({ code: 'timeout', reason: 'hosts did not return to the stable revision in time' }),
                },
              },
            },
          ],
        },
      },
    },
    finalizing: {
      tags: ['busy'],
      invoke: {
        id: 'resumeScalers',
        src: 'resumeScalers',
        input: finalInput,
        onDone: [
          { guard: { type: 'outcomeIs', params: { outcome: 'completed' } }, target: 'completed' },
          { guard: { type: 'outcomeIs', params: { outcome: 'rolledBack' } }, target: 'rolledBack' },
          { guard: { type: 'outcomeIs', params: { outcome: 'aborted' } }, target: 'aborted' },
          { target: 'failed' },
        ],
        onError: {
          target: 'failed',
          actions: { type: 'markError', params: ({ event }) => ({ error: event.error, outcome: 'failed' as const }) },
        },
      },
    },
    completed: { type: 'final', tags: ['terminal'] },
    rolledBack: { type: 'final', tags: ['terminal'] },
    aborted: { type: 'final', tags: ['terminal'] },
    failed: { type: 'final', tags: ['terminal'] },
    superseded: { type: 'final', tags: ['terminal'] },
  },
});

export type RolloutMachine = typeof rolloutMachine;
