import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/** Every state node of a machine worth covering: the root and history pseudo-states are not counted. */
export function machineStates(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      if (child.type === 'history') continue;
      out.push(child.id);
      walk(child);
    }
  };
  walk(machine.root);
  return out.sort();
}

/** A transition's identity for coverage: source node + event + target nodes (targetless = its source). */
export function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source.id;
  const event = t.eventType === '' ? 'always' : t.eventType;
  const target =
    t.target === undefined || t.target.length === 0 ? source : t.target.map((n: AnyStateNode) => n.id).join(',');
  return `${source} -- ${event} --> ${target}`;
}

const ignoredEvent = (type: string) => type.startsWith('xstate.done.state.') || type === '*';

/** Every transition a machine defines (history pseudo-states and `xstate.done.state.*` left out), deduplicated. */
export function machineTransitions(machine: AnyStateMachine): string[] {
  const out = new Set<string>();
  const walk = (node: AnyStateNode) => {
    if (node.type === 'history') return;
    for (const [type, list] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
      if (ignoredEvent(type)) continue;
      for (const t of list) out.add(transitionKey(t));
    }
    for (const t of (node.always ?? []) as AnyTransitionDefinition[]) out.add(transitionKey(t));
    for (const child of Object.values(node.states) as AnyStateNode[]) walk(child);
  };
  walk(machine.root);
  return [...out].sort();
}

/** True for transitions that count towards coverage. */
export function countsForCoverage(t: AnyTransitionDefinition): boolean {
  return !ignoredEvent(t.eventType) && t.source.type !== 'history';
}
