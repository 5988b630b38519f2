import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/** The kind of a state node, as XState names it. */
export type GraphStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** What triggers a transition. */
export type GraphTriggerKind = 'event' | 'always' | 'after' | 'done' | 'error' | 'snapshot' | 'doneState';

/** One state node of a machine definition, reduced to what a diagram shows. */
export interface GraphState {
  /** XState's unique id, e.g. `component.cuttingOver.pausing`. */
  readonly id: string;
  readonly key: string;
  readonly path: readonly string[];
  readonly type: GraphStateType;
  readonly history?: 'shallow' | 'deep';
  /** Ids of the initial child states (compound states only). */
  readonly initial: readonly string[];
  /** Invoked actors by source name. */
  readonly invokes: readonly string[];
  /** Named entry/exit actions (inline ones are left out). */
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  readonly tags: readonly string[];
  readonly children: readonly GraphState[];
}

/** One transition candidate of a machine definition; no targets means targetless (stays in `source`). */
export interface GraphTransition {
  readonly source: string;
  readonly targets: readonly string[];
  readonly kind: GraphTriggerKind;
  /** The raw event descriptor, e.g. `xstate.done.actor.fetch`. */
  readonly event: string;
  /** The readable trigger: `component.apply`, `done: fetch`, `error: fetch`, `after 5000ms`, `always`. */
  readonly trigger: string;
  readonly guard?: string;
  readonly actions: readonly string[];
  readonly reenter: boolean;
}

/** A machine definition as a tree of states plus a flat, definition-ordered list of transitions. */
export interface MachineGraph {
  readonly id: string;
  readonly root: GraphState;
  readonly transitions: readonly GraphTransition[];
}

/**
 * Reads the definition of any XState v5 machine (no actor is started) into a diagram-ready graph.
 * @example
 * const { root, transitions } = machineGraph(componentMachine);
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const transitions: GraphTransition[] = [];
  const root = visit(machine.root, transitions);
  return { id: machine.root.id, root, transitions };
}

/** `event [guard] / action1, action2`: the conventional statechart label of a transition. */
export function transitionLabel(t: Pick<GraphTransition, 'trigger' | 'guard' | 'actions'>): string {
  const guard = t.guard === undefined ? '' : ` [${t.guard}]`;
  const actions = t.actions.length === 0 ? '' : ` / ${t.actions.join(', ')}`;
  return `${t.trigger}${guard}${actions}`;
}

/** Every state of the tree, parents before children, in definition order. */
export function allStates(root: GraphState): GraphState[] {
  const out: GraphState[] = [];
  const walk = (s: GraphState): void => {
    out.push(s);
    for (const c of s.children) walk(c);
  };
  walk(root);
  return out;
}

function visit(node: AnyStateNode, transitions: GraphTransition[]): GraphState {
  const invokeNames = new Map<string, string>();
  const invokes = node.invoke.map((inv, i) => invokeName(inv.id, inv.src, `${i}.${node.id}`));
  for (const [i, inv] of node.invoke.entries()) invokeNames.set(inv.id, invokes[i] ?? inv.id);
  const delays = new Map<string, string>();
  for (const d of node.after) delays.set(d.eventType, delayName(d.delay));

  for (const [descriptor, candidates] of node.transitions) {
    for (const t of candidates) transitions.push(edge(t, descriptor, invokeNames, delays));
  }
  for (const t of node.always ?? []) transitions.push(edge(t, '', invokeNames, delays));

  const children = Object.values(node.states).map((child) => visit(child, transitions));
  const initial = node.type === 'compound' ? (node.initial?.target ?? []).map((s) => s.id) : [];
  return {
    id: node.id,
    key: node.key,
    path: node.path,
    type: node.type,
    ...(node.type === 'history' && node.history !== false ? { history: node.history } : {}),
    initial,
    invokes,
    entry: namedActions(node.entry),
    exit: namedActions(node.exit),
    tags: [...node.tags],
    children,
  };
}

function edge(
  t: AnyTransitionDefinition,
  descriptor: string,
  invokeNames: ReadonlyMap<string, string>,
  delays: ReadonlyMap<string, string>,
): GraphTransition {
  const { kind, trigger } = describeTrigger(descriptor, t.source.id, invokeNames, delays);
  const guard = guardName(t.guard);
  return {
    source: t.source.id,
    targets: (t.target ?? []).map((s) => s.id),
    kind,
    event: descriptor,
    trigger,
    ...(guard === undefined ? {} : { guard }),
    actions: namedActions(t.actions),
    reenter: t.reenter,
  };
}

const PREFIX = {
  doneActor: 'xstate.done.actor.',
  errorActor: 'xstate.error.actor.',
  snapshot: 'xstate.snapshot.',
  doneState: 'xstate.done.state.',
  after: 'xstate.after.',
} as const;

function describeTrigger(
  descriptor: string,
  sourceId: string,
  invokeNames: ReadonlyMap<string, string>,
  delays: ReadonlyMap<string, string>,
): { kind: GraphTriggerKind; trigger: string } {
  if (descriptor === '') return { kind: 'always', trigger: 'always' };
  const actor = (prefix: string) => {
    const id = descriptor.slice(prefix.length);
    return invokeNames.get(id) ?? id;
  };
  if (descriptor.startsWith(PREFIX.doneActor)) return { kind: 'done', trigger: `done: ${actor(PREFIX.doneActor)}` };
  if (descriptor.startsWith(PREFIX.errorActor)) return { kind: 'error', trigger: `error: ${actor(PREFIX.errorActor)}` };
  if (descriptor.startsWith(PREFIX.snapshot))
    return { kind: 'snapshot', trigger: `snapshot: ${actor(PREFIX.snapshot)}` };
  if (descriptor === `${PREFIX.doneState}${sourceId}`) return { kind: 'doneState', trigger: 'done' };
  if (descriptor.startsWith(PREFIX.after)) {
    return { kind: 'after', trigger: `after ${delays.get(descriptor) ?? descriptor.slice(PREFIX.after.length)}` };
  }
  return { kind: 'event', trigger: descriptor };
}

// XState names an invocation without an explicit id `<index>.<stateId>` and inline logic
// `xstate.invoke.<that id>`; neither says anything to a reader, so fall back to the other name.
function invokeName(id: string, src: unknown, generatedId: string): string {
  if (typeof src === 'string' && !src.startsWith('xstate.invoke.')) return src;
  return id === generatedId ? 'inline' : id;
}

function delayName(delay: unknown): string {
  if (typeof delay === 'number') return `${delay}ms`;
  if (typeof delay === 'string') return delay;
  return 'delay';
}

/** Named actions only: strings and `{ type }` objects; inline functions and built-ins (`xstate.*`) are left out. */
function namedActions(actions: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (typeof a === 'string') out.push(a);
    else if (isTyped(a) && !a.type.startsWith('xstate.')) out.push(a.type);
  }
  return out;
}

/** A readable guard: its name, `!g`, `a && b`, `a || b`, `in state`, or `inline`. */
function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown; stateValue?: unknown };
    if (Array.isArray(fn.guards)) {
      const parts = fn.guards.map((g: unknown) => {
        const name = guardName(g) ?? 'inline';
        return /\s/.test(name) ? `(${name})` : name;
      });
      if (fn.name === 'not') return `!${parts[0] ?? 'inline'}`;
      if (fn.name === 'and') return parts.join(' && ');
      if (fn.name === 'or') return parts.join(' || ');
    }
    if (fn.name === 'stateIn' && fn.stateValue !== undefined) {
      return `in ${typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue)}`;
    }
    // An arrow function written as `guard: (...) => …` takes the property's name.
    return fn.name && fn.name !== 'guard' ? fn.name : 'inline';
  }
  if (isTyped(guard)) return guard.type;
  return 'inline';
}

function isTyped(value: unknown): value is { type: string } {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
