import { describe, expect, it } from 'vitest';
import { componentMachine } from '../../machines/component';
import { rolloutMachine } from '../../machines/rollout';
import { allStates, machineGraph, transitionLabel } from '../../src/inspect/machineGraph';
import { toDot } from '../../src/inspect/toDot';
import { awkwardMachine, doorMachine } from './machines';

/** Nodes declared, edges drawn, and structural problems of DOT text as toDot writes it. */
function readDot(text: string) {
  const nodes = new Set<string>();
  const edges: { from: string; to: string; label: string | undefined }[] = [];
  const clusters: string[] = [];
  const problems: string[] = [];
  let depth = 0;
  const str = '"((?:[^"\\\\]|\\\\.)*)"';
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    const edge = new RegExp(`^${str} -> ${str}(?: \\[(.*)\\])?;$`).exec(line);
    const node = new RegExp(`^${str} \\[(.*)\\];$`).exec(line);
    const cluster = new RegExp(`^subgraph ${str} \\{$`).exec(line);
    if (edge !== null) {
      edges.push({
        from: edge[1] ?? '',
        to: edge[2] ?? '',
        label: /label="((?:[^"\\]|\\.)*)"/.exec(edge[3] ?? '')?.[1],
      });
    } else if (node !== null) {
      nodes.add(node[1] ?? '');
    } else if (cluster !== null) {
      clusters.push(cluster[1] ?? '');
      depth++;
    } else if (/^digraph ".*" \{$/.test(line)) {
      depth++;
    } else if (line === '}') {
      depth--;
    } else if (!/^[a-z]+(=[^;]*)?( \[.*\])?;$/.test(line)) {
      problems.push(`unexpected line: ${line}`);
    }
  }
  if (depth !== 0) problems.push(`unbalanced braces (${depth})`);
  for (const e of edges) {
    for (const end of [e.from, e.to]) if (!nodes.has(end)) problems.push(`edge end "${end}" is not declared`);
  }
  return { nodes, edges, clusters, problems };
}

describe('toDot', () => {
  it('draws a cluster per compound state with an initial point, and the same labels as Mermaid', () => {
    const dot = readDot(toDot(doorMachine));
    expect(dot.problems).toEqual([]);
    expect(dot.clusters).toEqual(['cluster_door.closed']);
    expect(dot.edges).toContainEqual({ from: 'door.closed#initial', to: 'door.closed.unlocked', label: undefined });
    expect(dot.edges).toContainEqual({ from: 'door#initial', to: 'door.closed#anchor', label: undefined });
    expect(dot.edges).toContainEqual({
      from: 'door.closed.locked',
      to: 'door.closed.unlocked',
      label: 'after 1000ms [hasCode && !isAlarmed]',
    });
    expect(dot.edges).toContainEqual({ from: 'door.closed#anchor', to: 'door.open', label: 'door.open / log' });
    expect(dot.edges).toContainEqual({
      from: 'door.closed.locking',
      to: 'door.closed.locked',
      label: 'done: checkCode',
    });
    expect(toDot(doorMachine)).toContain('"door.closed.locking" [label="locking\\ninvoke: checkCode"];');
    expect(toDot(doorMachine)).toContain('"door.broken" [label="broken", peripheries=2];');
  });

  it('clips edges to and from compound states at the cluster border', () => {
    const text = toDot(doorMachine);
    expect(text).toContain(
      '"door.closed#anchor" -> "door.open" [label="door.open / log", ltail="cluster_door.closed"];',
    );
    expect(text).toContain('"door.open" -> "door.closed#anchor" [label="door.close", lhead="cluster_door.closed"];');
  });

  it('marks parallel states and quotes awkward ids', () => {
    const text = toDot(awkwardMachine, { rankdir: 'LR' });
    const dot = readDot(text);
    expect(dot.problems).toEqual([]);
    expect(text).toContain('rankdir=LR;');
    expect(dot.clusters).toEqual([
      'cluster_multi-region',
      'cluster_awkward-machine.multi.region.left-side',
      'cluster_awkward-machine.multi.region.right_side',
    ]);
    expect(text).toContain('label="multi.region (parallel)\\ninvoke: watch";');
    expect(text).toContain('"awkward-machine.multi.region.right_side.back" [label="H*", shape=circle];');
  });

  it('is deterministic', () => {
    expect(toDot(doorMachine)).toBe(toDot(doorMachine));
  });

  for (const [name, machine] of [
    ['component', componentMachine],
    ['rollout', rolloutMachine],
  ] as const) {
    it(`draws the ${name} machine with every state and transition`, () => {
      const dot = readDot(toDot(machine));
      expect(dot.problems).toEqual([]);
      const graph = machineGraph(machine);
      const compound = allStates(graph.root).filter((s) => s !== graph.root && s.children.length > 0);
      expect(dot.clusters).toEqual(compound.map((s) => `cluster_${s.id}`));
      const labelled = dot.edges.filter((e) => e.label !== undefined).map((e) => e.label);
      const expected = graph.transitions.flatMap((t) => Array(Math.max(1, t.targets.length)).fill(transitionLabel(t)));
      expect(labelled).toEqual(expected);
    });
  }
});
