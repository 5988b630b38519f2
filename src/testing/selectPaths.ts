import {
  __unsafe_getAllOwnEventDescriptors,
  type ActorLogic,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  type EventFromLogic,
  type InputFrom,
  type InspectionEvent,
  type SnapshotFrom,
  createActor,
  fromCallback,
} from 'xstate';
import { getAdjacencyMap, getSimplePaths } from 'xstate/graph';
import { countsForCoverage, machineStates, machineTransitions, transitionKey } from './machineGraph';

/** One entry of the input matrix: a machine input, optionally with events that bring it to a start state. */
export interface PathInput<TMachine extends AnyStateMachine> {
  readonly name: string;
  readonly input: InputFrom<TMachine>;
  readonly prefix?: readonly EventFromLogic<TMachine>[];
}

/** Options of {@link selectPaths}. */
export interface SelectPathsOptions<TMachine extends AnyStateMachine> {
  /** The input matrix: paths are generated from each entry and selected together. */
  readonly inputs: readonly PathInput<TMachine>[];
  /**
   * Realistic events for an event type the current state handles (its own descriptors, including
   * `xstate.done.actor.*` / `xstate.error.actor.*`); return [] to leave the type out in this state.
   * Unhandled types fall back to `{ type }` (done events get `output: undefined`, error events an Error).
   */
  readonly events?: (type: string, snapshot: SnapshotFrom<TMachine>) => readonly EventFromLogic<TMachine>[] | undefined;
  /** What guards read, as a JSON-able value; states with equal value and projection are one vertex. */
  readonly serialize?: (snapshot: SnapshotFrom<TMachine>) => unknown;
  /** Paths longer than this are dropped (default 24). */
  readonly maxDepth?: number;
  /** Upper bound on traversal work (default 20,000 vertices). */
  readonly limit?: number;
  /**
   * Candidate paths: `simple` takes every simple path of `xstate/graph` (exponential: small machines only);
   * `edges` (default) takes, for every edge of the adjacency map, the shortest path to its source plus that
   * edge, so every reachable transition has a short candidate however large the graph.
   */
  readonly strategy?: 'simple' | 'edges';
}

/** A step of a selected path: the event sent and the state it led to, with the transitions it took. */
export interface PathStep<TMachine extends AnyStateMachine> {
  readonly event: EventFromLogic<TMachine>;
  readonly state: SnapshotFrom<TMachine>;
  readonly transitions: readonly string[];
}

/** A selected path: replay `steps` from the input (after its prefix). */
export interface SelectedPath<TMachine extends AnyStateMachine> {
  readonly id: string;
  readonly inputName: string;
  readonly input: InputFrom<TMachine>;
  /** Steps from the initial state to the start of the path (the input's prefix); replay them first. */
  readonly prefix: readonly PathStep<TMachine>[];
  readonly steps: readonly PathStep<TMachine>[];
  /** States and transitions this path covered first. */
  readonly adds: readonly string[];
  readonly description: string;
}

/** The selection with what it covers. */
export interface PathSelection<TMachine extends AnyStateMachine> {
  readonly machine: TMachine;
  readonly paths: readonly SelectedPath<TMachine>[];
  readonly states: readonly string[];
  readonly transitions: readonly string[];
}

const snap = (s: unknown): AnyMachineSnapshot => s as AnyMachineSnapshot;
const IGNORED = (type: string) =>
  type === '' || type === '*' || type.startsWith('xstate.done.state.') || type === 'xstate.init';

function defaultEvents(type: string): { type: string; [k: string]: unknown }[] {
  if (type.startsWith('xstate.done.actor.'))
    return [{ type, output: undefined, actorId: type.slice('xstate.done.actor.'.length) }];
  if (type.startsWith('xstate.error.actor.')) {
    const actorId = type.slice('xstate.error.actor.'.length);
    return [{ type, error: new Error(`${actorId} failed`), actorId }];
  }
  return [{ type }];
}

/** States (node ids) a snapshot is in, the root left out. */
function statesOf(snapshot: { _nodes: readonly { id: string; type: string }[] }, rootId: string): string[] {
  return snapshot._nodes.filter((n) => n.id !== rootId && n.type !== 'history').map((n) => n.id);
}

/**
 * Selects a covering set of paths through `machine`: simple paths from `xstate/graph` over each input of
 * the matrix, then greedily, for each state and transition not yet covered, the shortest path covering it.
 * @example
 * const { paths } = selectPaths(componentMachine, { inputs: [{ name: 'fresh', input: { id: 'api' } }], events })
 */
export function selectPaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  options: SelectPathsOptions<TMachine>,
): PathSelection<TMachine> {
  type Snap = SnapshotFrom<TMachine>;
  type Ev = EventFromLogic<TMachine>;
  const maxDepth = options.maxDepth ?? 24;
  const rootId = machine.root.id;

  // A scope whose system reports microsteps, so each explored step knows the transitions it took.
  let captured: AnyTransitionDefinition[] = [];
  const probe = createActor(
    fromCallback(() => undefined),
    {
      inspect: (e: InspectionEvent) => {
        if (e.type === '@xstate.microstep') captured.push(...(e._transitions as AnyTransitionDefinition[]));
      },
    },
  );
  const scope = {
    self: probe,
    logger: () => undefined,
    id: '',
    sessionId: 'paths',
    defer: () => undefined,
    system: probe.system,
    stopChild: () => undefined,
    emit: () => undefined,
    actionExecutor: () => undefined,
  };
  const serializeState = (s: Snap) => JSON.stringify({ value: snap(s).value, guards: options.serialize?.(s) ?? null });
  const serializeEvent = (e: Ev) =>
    JSON.stringify(e, (_k, v: unknown) => (v instanceof Error ? { error: v.message } : v));
  const taken = new Map<string, string[]>();
  const transition = (s: Snap, e: Ev): Snap => {
    captured = [];
    // The scope is a structural stand-in for xstate's internal ActorScope.
    const next = machine.transition(s, e, scope as unknown as Parameters<TMachine['transition']>[2]) as Snap;
    taken.set(`${serializeState(s)}|${serializeEvent(e)}`, captured.filter(countsForCoverage).map(transitionKey));
    return next;
  };
  const eventsFor = (s: Snap): Ev[] => {
    if (snap(s).status !== 'active') return [];
    const types = [...new Set(__unsafe_getAllOwnEventDescriptors(s) as string[])].filter((t) => !IGNORED(t)).sort();
    return types.flatMap((t) => [...(options.events?.(t, s) ?? (defaultEvents(t) as Ev[]))]);
  };

  const candidates: Array<{
    entry: PathInput<TMachine>;
    prefix: PathStep<TMachine>[];
    steps: PathStep<TMachine>[];
    covers: Set<string>;
  }> = [];
  for (const entry of options.inputs) {
    let start = machine.getInitialSnapshot(
      scope as unknown as Parameters<TMachine['getInitialSnapshot']>[0],
      entry.input,
    ) as Snap;
    const prefix: PathStep<TMachine>[] = [];
    const prefixCovers = new Set<string>(statesOf(start as never, rootId).map((st) => `state ${st}`));
    for (const e of entry.prefix ?? []) {
      const before = start;
      start = transition(start, e);
      const transitions = taken.get(`${serializeState(before)}|${serializeEvent(e)}`) ?? [];
      prefix.push({ event: e, state: start, transitions });
      for (const t of transitions) prefixCovers.add(`transition ${t}`);
      for (const st of statesOf(start as never, rootId)) prefixCovers.add(`state ${st}`);
    }
    const logic = {
      config: undefined,
      transition,
      getInitialSnapshot: () => start,
      getPersistedSnapshot: (s: Snap) => s,
    } as unknown as ActorLogic<Snap, Ev, InputFrom<TMachine>>;
    const traversal = {
      fromState: start,
      events: eventsFor,
      serializeState: (st: Snap) => serializeState(st),
      serializeEvent: (e: Ev) => serializeEvent(e),
      limit: options.limit ?? 20_000,
    };
    const found =
      options.strategy === 'simple'
        ? (getSimplePaths(logic as unknown as TMachine, traversal as never) as unknown as RawPath<Snap, Ev>[])
        : edgePaths<Snap, Ev>(
            getAdjacencyMap(logic, traversal) as never,
            serializeState(start),
            maxDepth,
            serializeState,
          );
    for (const path of found) {
      // After xstate/graph's own reshaping, steps[0] is the start (event xstate.init) and each later step
      // holds the state AFTER its event.
      const raw = path.steps;
      if (raw.length < 2 || raw.length - 1 > maxDepth) continue;
      const steps: PathStep<TMachine>[] = [];
      const covers = new Set<string>(prefixCovers);
      for (let i = 1; i < raw.length; i++) {
        const before = raw[i - 1]?.state as Snap;
        const step = raw[i];
        if (step === undefined) continue;
        const after = step.state as Snap;
        const key = `${serializeState(before)}|${serializeEvent(step.event as Ev)}`;
        const transitions = taken.get(key) ?? [];
        steps.push({ event: step.event as Ev, state: after, transitions });
        for (const t of transitions) covers.add(`transition ${t}`);
        for (const st of statesOf(after as never, rootId)) covers.add(`state ${st}`);
      }
      candidates.push({ entry, prefix, steps, covers });
    }
  }

  // Greedy: each uncovered item in a stable order takes the shortest candidate covering it.
  const goals = [
    ...machineStates(machine).map((s) => `state ${s}`),
    ...machineTransitions(machine).map((t) => `transition ${t}`),
  ];
  const covered = new Set<string>();
  const chosen: SelectedPath<TMachine>[] = [];
  const byLength = [...candidates].sort(
    (a, b) => a.prefix.length + a.steps.length - (b.prefix.length + b.steps.length),
  );
  for (const goal of goals) {
    if (covered.has(goal)) continue;
    const pick = byLength.find((c) => c.covers.has(goal));
    if (pick === undefined) continue;
    const adds = [...pick.covers].filter((c) => !covered.has(c));
    for (const c of pick.covers) covered.add(c);
    const description = pick.steps.map((s) => `${s.event.type} → ${JSON.stringify(snap(s.state).value)}`).join(', ');
    chosen.push({
      id: `${pick.entry.name}#${chosen.length + 1}`,
      inputName: pick.entry.name,
      input: pick.entry.input,
      prefix: pick.prefix,
      steps: pick.steps,
      adds,
      description: `${pick.entry.name}: ${description}`,
    });
  }
  return {
    machine,
    paths: chosen,
    states: [...covered].filter((c) => c.startsWith('state ')).map((c) => c.slice(6)),
    transitions: [...covered].filter((c) => c.startsWith('transition ')).map((c) => c.slice(11)),
  };
}

interface RawPath<S, E> {
  steps: Array<{ state: S; event: E | { type: 'xstate.init' } }>;
}

/** For every edge, the BFS-shortest path to its source plus the edge, shaped like xstate/graph paths. */
function edgePaths<S, E>(
  adjacency: Record<string, { state: S; transitions: Record<string, { event: E; state: S }> }>,
  startKey: string,
  maxDepth: number,
  keyOf: (state: S) => string,
): RawPath<S, E>[] {
  const start = adjacency[startKey];
  if (start === undefined) return [];
  const shortest = new Map<string, RawPath<S, E>>([
    [startKey, { steps: [{ state: start.state, event: { type: 'xstate.init' } }] }],
  ]);
  const queue = [startKey];
  const out: RawPath<S, E>[] = [];
  while (queue.length > 0) {
    const key = queue.shift() as string;
    const path = shortest.get(key) as RawPath<S, E>;
    const vertex = adjacency[key];
    if (vertex === undefined || path.steps.length > maxDepth) continue;
    for (const edge of Object.values(vertex.transitions)) {
      const next: RawPath<S, E> = { steps: [...path.steps, { state: edge.state, event: edge.event }] };
      out.push(next);
      const nextKey = keyOf(edge.state);
      if (!shortest.has(nextKey)) {
        shortest.set(nextKey, next);
        queue.push(nextKey);
      }
    }
  }
  return out;
}
