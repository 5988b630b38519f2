import type { AnyStateMachine } from 'xstate';
import { type GraphState, type GraphTransition, allStates, machineGraph, transitionLabel } from './machineGraph';

/** Options of {@link toMermaid}. */
export interface MermaidOptions {
  /** Layout direction of the top-level diagram; Mermaid's default (top to bottom) when absent. */
  readonly direction?: 'TB' | 'BT' | 'LR' | 'RL';
  /** Show transitions without a target (actions only, or an ignored event) as self-loops; default true. */
  readonly targetless?: boolean;
}

/**
 * Mermaid `stateDiagram-v2` text of a machine definition: nested and parallel states, initial and final
 * states, transitions labelled `event [guard] / actions`, invoked actors on their state. Deterministic.
 * @example
 * writeFileSync('component.mmd', toMermaid(componentMachine));
 */
export function toMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const graph = machineGraph(machine);
  const ids = mermaidIds(graph.root);
  const idOf = (stateId: string): string => ids.get(stateId) ?? sanitizeId(stateId);
  const parents = parentMap(graph.root);

  // Mermaid creates a state in the block where it is first named, so every transition is written at the
  // end of the block of the closest composite state containing both ends, after all its states exist.
  const placed = new Map<string, GraphTransition[]>();
  for (const t of graph.transitions) {
    if (t.targets.length === 0 && options.targetless === false) continue;
    const ends = t.targets.length === 0 ? [t.source] : [t.source, ...t.targets];
    const home = commonBlock(ends, parents, graph.root.id);
    const list = placed.get(home) ?? [];
    list.push(t);
    placed.set(home, list);
  }

  const lines: string[] = ['stateDiagram-v2'];
  if (options.direction !== undefined) lines.push(`  direction ${options.direction}`);
  writeBlock(graph.root, 1, lines, idOf, placed);
  return `${lines.join('\n')}\n`;
}

function writeBlock(
  block: GraphState,
  depth: number,
  lines: string[],
  idOf: (stateId: string) => string,
  placed: ReadonlyMap<string, GraphTransition[]>,
): void {
  const pad = '  '.repeat(depth);
  for (const initial of block.initial) lines.push(`${pad}[*] --> ${idOf(initial)}`);
  block.children.forEach((child, i) => {
    if (block.type === 'parallel' && i > 0) lines.push(`${pad}--`);
    writeState(child, depth, lines, idOf, placed);
  });
  for (const t of placed.get(block.id) ?? []) {
    const label = text(transitionLabel(t));
    const targets = t.targets.length === 0 ? [t.source] : t.targets;
    for (const target of targets) lines.push(`${pad}${idOf(t.source)} --> ${idOf(target)} : ${label}`);
  }
}

function writeState(
  state: GraphState,
  depth: number,
  lines: string[],
  idOf: (stateId: string) => string,
  placed: ReadonlyMap<string, GraphTransition[]>,
): void {
  const pad = '  '.repeat(depth);
  const id = idOf(state.id);
  const name = quoted(displayName(state));
  const details = stateDetails(state);
  if (state.children.length > 0) {
    // A composite state may carry only its title in Mermaid, so its details join the title.
    const title = [name, ...details.map(quoted)].join('<br/>');
    lines.push(`${pad}state "${title}" as ${id} {`);
    writeBlock(state, depth + 1, lines, idOf, placed);
    lines.push(`${pad}}`);
    return;
  }
  // Always aliased: a plain state's first description would replace its name.
  lines.push(`${pad}state "${name}" as ${id}`);
  for (const d of details) lines.push(`${pad}${id} : ${text(d)}`);
  if (state.type === 'final') lines.push(`${pad}${id} --> [*]`);
}

function displayName(state: GraphState): string {
  if (state.type === 'history') return state.history === 'deep' ? 'H*' : 'H';
  return state.key;
}

function stateDetails(state: GraphState): string[] {
  const out: string[] = [];
  if (state.entry.length > 0) out.push(`entry / ${state.entry.join(', ')}`);
  if (state.invokes.length > 0) out.push(`invoke: ${state.invokes.join(', ')}`);
  if (state.exit.length > 0) out.push(`exit / ${state.exit.join(', ')}`);
  return out;
}

/** The id of the innermost state whose block contains every one of `ends` (a proper ancestor of each). */
function commonBlock(ends: readonly string[], parents: ReadonlyMap<string, string>, rootId: string): string {
  const ancestors = (id: string): string[] => {
    const out: string[] = [];
    for (let p = parents.get(id); p !== undefined; p = parents.get(p)) out.unshift(p);
    return out;
  };
  let common = ancestors(ends[0] ?? rootId);
  for (const end of ends.slice(1)) {
    const other = new Set(ancestors(end));
    common = common.filter((a) => other.has(a));
  }
  return common[common.length - 1] ?? rootId;
}

function parentMap(root: GraphState): Map<string, string> {
  const parents = new Map<string, string>();
  for (const s of allStates(root)) for (const c of s.children) parents.set(c.id, s.id);
  return parents;
}

// Words Mermaid's state lexer reads as keywords when they stand alone as an id.
const RESERVED = new Set([
  'state',
  'note',
  'class',
  'classdef',
  'style',
  'scale',
  'default',
  'click',
  'href',
  'end',
  'direction',
  'hide',
]);

/** One Mermaid id per state: the path joined by `_`, made unique; the root gets none. */
function mermaidIds(root: GraphState): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const s of allStates(root)) {
    if (s === root) continue;
    const base = sanitizeId(s.path.join('_'));
    let id = base;
    for (let n = 2; used.has(id.toLowerCase()); n++) id = `${base}_${n}`;
    used.add(id.toLowerCase());
    ids.set(s.id, id);
  }
  return ids;
}

function sanitizeId(raw: string): string {
  const id = raw.replace(/[^A-Za-z0-9_]/g, '_') || '_';
  return RESERVED.has(id.toLowerCase()) || /^[0-9]/.test(id) ? `s_${id}` : id;
}

/** Label text: one line, without `;`, `::` or a trailing `:`, where Mermaid's lexer would end the label. */
function text(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/;/g, ',')
    .replace(/:{2,}/g, ':')
    .replace(/:\s*$/, '')
    .trim();
}

/** Text inside a quoted state name: as {@link text}, without double quotes. */
function quoted(s: string): string {
  return text(s).replace(/"/g, "'");
}
