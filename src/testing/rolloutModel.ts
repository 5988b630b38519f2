// The rollout machine as a model for generated path tests and `cutover paths rollout`: an input matrix,
// realistic events per state, and a projection of what the guards read.
import {
  type AnyTransitionDefinition,
  type EventFromLogic,
  type SnapshotFrom,
  __unsafe_getAllOwnEventDescriptors,
  initialTransition,
  transition,
} from 'xstate';
import { rolloutMachine } from '../../machines/rollout/rolloutMachine';
import { RolloutInput } from '../protocol/rollout';
import { Strategy } from '../protocol/strategy';
import { countsForCoverage, machineStates, machineTransitions, transitionKey } from './machineGraph';
import type { PathInput, SelectPathsOptions } from './selectPaths';

type Machine = typeof rolloutMachine;
type Snap = SnapshotFrom<Machine>;
type Ev = EventFromLogic<Machine>;

/** Batches a matrix entry plans, read back from its rollout id (`paths-b2-…`). */
export function plannedBatches(rolloutId: string): number {
  const m = /-b(\d+)-/.exec(rolloutId);
  return m?.[1] === undefined ? 1 : Number(m[1]);
}

const done = (id: string, output: unknown): Ev =>
  ({ type: `xstate.done.actor.${id}`, output, actorId: id }) as unknown as Ev;

/** Realistic events for each event type a rollout state handles; `undefined` falls back to the default. */
export function rolloutEvents(type: string, s: Snap): Ev[] | undefined {
  const c = s.context;
  const at = 0;
  const paused = s.hasTag('paused');
  switch (type) {
    case 'rollout.pause':
      return c.paused ? [] : [{ type, at }];
    case 'rollout.resume':
      return c.paused || paused ? [{ type, at }] : [];
    case 'rollout.promote':
      return c.promoted === 'full'
        ? []
        : [
            { type, at },
            { type, full: true, at },
          ];
    case 'rollout.abort':
      return [{ type, reason: 'operator abort', at }];
    case 'rollout.supersede':
      return [{ type, by: 'next', at }];
    case 'xstate.done.actor.planRollout':
      return [0, plannedBatches(c.rolloutId)].map((batches) =>
        done('planRollout', { at, batches, firstDeploy: c.stableVersion === null }),
      );
    case 'xstate.done.actor.verifyBatch':
      return [
        done('verifyBatch', { status: 'passed', at }),
        done('verifyBatch', { status: 'failed', at, code: 'validate.failed', reason: 'host failed validation' }),
      ];
    case 'xstate.done.actor.analyze':
      return [
        done('analyze', { status: 'passed', at }),
        done('analyze', { status: 'failed', at, reason: 'error rate 0.200 over 0.05' }),
        done('analyze', { status: 'inconclusive', at, reason: 'no data' }),
      ];
    case 'xstate.done.actor.backgroundAnalysis':
      return [
        done('backgroundAnalysis', { status: 'failed', at, reason: 'background analysis "errorRate" failed' }),
        done('backgroundAnalysis', { status: 'inconclusive', at, reason: 'no data' }),
      ];
    case 'xstate.done.actor.progressDeadline':
      // Fired after the last progress (it expires), or fired while progress had pushed it on (it re-arms).
      return [done('progressDeadline', { at: Number.MAX_SAFE_INTEGER }), done('progressDeadline', { at: -1 })];
    case 'xstate.done.actor.verifyRollback':
      return [
        done('verifyRollback', { status: 'passed', at }),
        done('verifyRollback', { status: 'failed', at, code: 'validate.failed', reason: 'stable failed' }),
      ];
    default:
      if (type.startsWith('xstate.done.actor.')) return [done(type.slice('xstate.done.actor.'.length), { at })];
      return undefined;
  }
}

/** What the rollout's guards read, as one vertex key. */
export function rolloutGuardState(s: Snap): unknown {
  const c = s.context;
  return {
    paused: c.paused,
    last: c.batch + 1 >= c.batches,
    firstDeploy: c.firstDeploy,
    promoted: c.promoted,
    outcome: c.outcome,
    deadline: c.progressDeadlineAt !== null,
  };
}

const strategies = {
  'analysis and pauses': Strategy.parse({
    type: 'rolling',
    maxParallel: 1,
    maxUnavailable: 1,
    pauseAfterBatch: { durationMs: 1000 },
    analysis: { maxErrorRate: 0.05 },
  }),
  'analysis, deadline only reported': Strategy.parse({
    type: 'rolling',
    maxParallel: 1,
    maxUnavailable: 1,
    analysis: { maxErrorRate: 0.05 },
    progressDeadlineAbort: false,
  }),
  'pauses, deadline only reported': Strategy.parse({
    type: 'rolling',
    maxParallel: 1,
    maxUnavailable: 1,
    pauseAfterBatch: {},
    progressDeadlineAbort: false,
  }),
} as const;
type StrategyName = keyof typeof strategies;

/** The input matrix: {1, 2 batches} × {fresh install, upgrade} × {analysis and pauses, analysis, pauses}. */
export const rolloutInputs: readonly PathInput<Machine>[] = [1, 2].flatMap((batches) =>
  (['fresh', 'upgrade'] as const).flatMap((kind) =>
    (Object.keys(strategies) as StrategyName[]).map((s, i) => ({
      name: `${batches} batch${batches > 1 ? 'es' : ''}, ${kind}, ${s}`,
      input: RolloutInput.parse({
        rolloutId: `paths-b${batches}-${kind}-s${i}`,
        app: 'shop',
        targetVersion: '2',
        stableVersion: kind === 'fresh' ? null : '1',
        strategy: strategies[s],
        at: 0,
      }),
    })),
  ),
);

/** Path selection options for the rollout machine (the generated path test and `cutover paths rollout`). */
export const rolloutPathOptions: SelectPathsOptions<Machine> = {
  inputs: rolloutInputs,
  events: rolloutEvents,
  serialize: rolloutGuardState,
  maxDepth: 16,
};

export { rolloutMachine };

/** One step of a rollout path: the event and the state it led to, with the transitions it took. */
export interface RolloutPathStep {
  event: Ev;
  state: Snap;
  transitions: string[];
}

/** A selected rollout path, replayed from its input. */
export interface RolloutPath {
  id: string;
  inputName: string;
  input: RolloutInput;
  steps: RolloutPathStep[];
  /** States and transitions this path covered first. */
  adds: string[];
  description: string;
}

const stateIds = (value: unknown, prefix: string): string[] => {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...stateIds(v, `${prefix}.${k}`)]);
};

/**
 * A covering set of rollout paths. Simple-path enumeration explodes on this machine (pause, resume and
 * promote are accepted almost everywhere), so the graph is walked breadth-first instead: every edge
 * (state × realistic event) yields the shortest path ending in it, and greedily, for each state and
 * transition not yet covered, the shortest such path covering it is chosen.
 * @example
 * const { paths, states, transitions } = selectRolloutPaths()
 */
export function selectRolloutPaths(inputs: readonly PathInput<Machine>[] = rolloutInputs): {
  paths: RolloutPath[];
  states: string[];
  transitions: string[];
} {
  const key = (s: Snap) => JSON.stringify({ value: s.value, status: s.status, guards: rolloutGuardState(s) });
  const candidates: Array<{ entry: PathInput<Machine>; steps: RolloutPathStep[]; covers: Set<string> }> = [];
  for (const entry of inputs) {
    const [start] = initialTransition(rolloutMachine, entry.input);
    const startCovers = new Set(stateIds(start.value, rolloutMachine.id).map((id) => `state ${id}`));
    const seen = new Set([key(start)]);
    const queue: Array<{ snap: Snap; steps: RolloutPathStep[]; covers: Set<string> }> = [
      { snap: start, steps: [], covers: startCovers },
    ];
    while (queue.length > 0) {
      const { snap, steps, covers } = queue.shift() as (typeof queue)[number];
      if (snap.status !== 'active') continue;
      const types = [...new Set(__unsafe_getAllOwnEventDescriptors(snap) as string[])]
        .filter((t) => t !== '*' && !t.startsWith('xstate.done.state.') && t !== 'xstate.init')
        .sort();
      for (const type of types) {
        const events = rolloutEvents(type, snap) ?? [defaultEvent(type)];
        for (const event of events) {
          const taken = (rolloutMachine.getTransitionData(snap, event) as AnyTransitionDefinition[]).filter(
            countsForCoverage,
          );
          if (taken.length === 0) continue;
          const [next] = transition(rolloutMachine, snap, event);
          const transitions = taken.map(transitionKey);
          const step = { event, state: next, transitions };
          const nextCovers = new Set(covers);
          for (const t of transitions) nextCovers.add(`transition ${t}`);
          for (const id of stateIds(next.value, rolloutMachine.id)) nextCovers.add(`state ${id}`);
          const path = [...steps, step];
          candidates.push({ entry, steps: path, covers: nextCovers });
          const k = key(next);
          if (!seen.has(k)) {
            seen.add(k);
            queue.push({ snap: next, steps: path, covers: nextCovers });
          }
        }
      }
    }
  }
  const goals = [
    ...machineStates(rolloutMachine).map((s) => `state ${s}`),
    ...machineTransitions(rolloutMachine).map((t) => `transition ${t}`),
  ];
  const covered = new Set<string>();
  const paths: RolloutPath[] = [];
  const byLength = [...candidates].sort((a, b) => a.steps.length - b.steps.length);
  for (const goal of goals) {
    if (covered.has(goal)) continue;
    const pick = byLength.find((c) => c.covers.has(goal));
    if (!pick) continue;
    const adds = [...pick.covers].filter((c) => !covered.has(c));
    for (const c of pick.covers) covered.add(c);
    paths.push({
      id: `${pick.entry.name}#${paths.length + 1}`,
      inputName: pick.entry.name,
      input: pick.entry.input,
      steps: pick.steps,
      adds,
      description: `${pick.entry.name}: ${pick.steps.map((s) => `${s.event.type} → ${JSON.stringify(s.state.value)}`).join(', ')}`,
    });
  }
  return {
    paths,
    states: [...covered].filter((c) => c.startsWith('state ')).map((c) => c.slice(6)),
    transitions: [...covered].filter((c) => c.startsWith('transition ')).map((c) => c.slice(11)),
  };
}

function defaultEvent(type: string): Ev {
  if (type.startsWith('xstate.error.actor.')) {
    const actorId = type.slice('xstate.error.actor.'.length);
    return { type, error: new Error(`${actorId} failed`), actorId } as unknown as Ev;
  }
  return { type } as unknown as Ev;
}
