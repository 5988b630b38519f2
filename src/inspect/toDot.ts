import type { AnyStateMachine } from 'xstate';
import { type GraphState, machineGraph, transitionLabel } from './machineGraph';

/** Options of {@link toDot}. */
export interface DotOptions {
  /** Graphviz `rankdir`; default `TB`. */
  readonly rankdir?: 'TB' | 'LR' | 'BT' | 'RL';
  /** Show transitions without a target as self-loops; default true. */
  readonly targetless?: boolean;
}

/**
 * Graphviz DOT of a machine definition: a cluster per compound or parallel state, the same labels as
 * {@link toMermaid}. Deterministic.
 * @example
 * writeFileSync('rollout.dot', toDot(rolloutMachine)); // dot -Tsvg rollout.dot > rollout.svg
 */
export function toDot(machine: AnyStateMachine, options: DotOptions = {}): string {
  const graph = machineGraph(machine);
  const clusters = new Set<string>();
  const lines: string[] = [
    `digraph ${q(graph.id)} {`,
    '  compound=true;',
    `  rankdir=${options.rankdir ?? 'TB'};`,
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  writeChildren(graph.root, 1, lines, clusters);

  // An edge to or from a cluster attaches to the cluster's anchor and is clipped to its border.
  const end = (stateId: string, side: 'ltail' | 'lhead'): { node: string; attr: string } =>
    clusters.has(stateId)
      ? { node: anchor(stateId), attr: `, ${side}=${q(cluster(stateId))}` }
      : { node: stateId, attr: '' };
  for (const t of graph.transitions) {
    if (t.targets.length === 0 && options.targetless === false) continue;
    const from = end(t.source, 'ltail');
    for (const target of t.targets.length === 0 ? [t.source] : t.targets) {
      const to = end(target, 'lhead');
      // Graphviz refuses ltail/lhead on an edge from a cluster into itself.
      const attrs = from.node === to.node ? '' : `${from.attr}${to.attr}`;
      lines.push(`  ${q(from.node)} -> ${q(to.node)} [label=${q(transitionLabel(t))}${attrs}];`);
    }
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function writeChildren(block: GraphState, depth: number, lines: string[], clusters: Set<string>): void {
  const pad = '  '.repeat(depth);
  if (block.initial.length > 0) {
    const start = `${block.id}#initial`;
    lines.push(`${pad}${q(start)} [shape=point, width=0.15, label=""];`);
    for (const initial of block.initial) {
      const composite = block.children.some((c) => c.id === initial && c.children.length > 0);
      const to = composite ? `${q(anchor(initial))} [lhead=${q(cluster(initial))}]` : q(initial);
      lines.push(`${pad}${q(start)} -> ${to};`);
    }
  }
  for (const child of block.children) writeState(child, depth, lines, clusters);
}

function writeState(state: GraphState, depth: number, lines: string[], clusters: Set<string>): void {
  const pad = '  '.repeat(depth);
  const details = stateDetails(state);
  if (state.children.length > 0) {
    clusters.add(state.id);
    lines.push(`${pad}subgraph ${q(cluster(state.id))} {`);
    const kind = state.type === 'parallel' ? ' (parallel)' : '';
    lines.push(`${pad}  label=${q([`${state.key}${kind}`, ...details].join('\n'))};`);
    lines.push(`${pad}  style=${state.type === 'parallel' ? '"rounded,dashed"' : 'rounded'};`);
    lines.push(`${pad}  ${q(anchor(state.id))} [shape=point, style=invis, width=0, height=0, label=""];`);
    writeChildren(state, depth + 1, lines, clusters);
    lines.push(`${pad}}`);
    return;
  }
  const name = state.type === 'history' ? (state.history === 'deep' ? 'H*' : 'H') : state.key;
  const shape = state.type === 'history' ? ', shape=circle' : state.type === 'final' ? ', peripheries=2' : '';
  lines.push(`${pad}${q(state.id)} [label=${q([name, ...details].join('\n'))}${shape}];`);
}

function stateDetails(state: GraphState): string[] {
  const out: string[] = [];
  if (state.entry.length > 0) out.push(`entry / ${state.entry.join(', ')}`);
  if (state.invokes.length > 0) out.push(`invoke: ${state.invokes.join(', ')}`);
  if (state.exit.length > 0) out.push(`exit / ${state.exit.join(', ')}`);
  return out;
}

const cluster = (stateId: string): string => `cluster_${stateId}`;
const anchor = (stateId: string): string => `${stateId}#anchor`;

/** A DOT double-quoted string; newlines become `\n` line breaks. */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}
