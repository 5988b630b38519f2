import { describe, expect, it } from 'vitest';
import { componentMachine } from '../../machines/component';
import { rolloutMachine } from '../../machines/rollout';
import { allStates, machineGraph } from '../../src/inspect/machineGraph';
import { toMermaid } from '../../src/inspect/toMermaid';
import { awkwardMachine, doorMachine } from './machines';
import { mermaidProblems } from './mermaidSyntax';

describe('toMermaid', () => {
  it('draws states, nesting, initial and final states, guards, named actions, invokes, always and after', () => {
    expect(toMermaid(doorMachine)).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> closed',
        '  state "closed" as closed {',
        '    [*] --> closed_unlocked',
        '    state "unlocked" as closed_unlocked',
        '    state "locking" as closed_locking',
        '    closed_locking : invoke: checkCode',
        '    state "locked" as closed_locked',
        '    closed_unlocked --> closed_locking : door.lock [hasCode] / beep',
        '    closed_locking --> closed_locked : done: checkCode',
        '    closed_locking --> closed_unlocked : error: checkCode / log',
        '    closed_locked --> closed_unlocked : after 1000ms [hasCode && !isAlarmed]',
        '  }',
        '  state "open" as open',
        '  open : entry / beep',
        '  state "broken" as broken',
        '  broken --> [*]',
        '  closed --> open : door.open / log',
        '  open --> closed : door.close',
        '  open --> open : door.lock / beep',
        '  open --> broken : always [isAlarmed]',
        '',
      ].join('\n'),
    );
  });

  it('leaves inline actions out and keeps named ones in definition order', () => {
    const line = toMermaid(doorMachine)
      .split('\n')
      .find((l) => l.includes('door.lock [hasCode]'));
    expect(line).toBe('    closed_unlocked --> closed_locking : door.lock [hasCode] / beep');
  });

  it('can leave out transitions without a target', () => {
    const text = toMermaid(doorMachine, { targetless: false, direction: 'LR' });
    expect(text).toContain('  direction LR\n');
    expect(text).not.toContain('open --> open');
    expect(mermaidProblems(text)).toEqual([]);
  });

  it('aliases awkward keys, separates parallel regions and draws history states', () => {
    const text = toMermaid(awkwardMachine);
    expect(mermaidProblems(text)).toEqual([]);
    expect(text).toContain('state "default" as s_default');
    expect(text).toContain('state "state" as s_state');
    expect(text).toContain('state "multi.region<br/>invoke: watch" as multi_region {');
    expect(text).toContain('state "left-side" as multi_region_left_side {');
    expect(text).toMatch(/\n {4}--\n {4}state "right_side" as multi_region_right_side \{/);
    expect(text).toContain('state "H*" as multi_region_right_side_back');
    expect(text).toContain('  multi_region --> s_end : done');
    expect(text).toContain('  s_state --> multi_region : go');
  });

  it('is deterministic', () => {
    expect(toMermaid(awkwardMachine)).toBe(toMermaid(awkwardMachine));
    expect(toMermaid(doorMachine)).toBe(toMermaid(doorMachine));
  });

  for (const [name, machine] of [
    ['component', componentMachine],
    ['rollout', rolloutMachine],
  ] as const) {
    it(`draws the ${name} machine as valid Mermaid with every state and transition`, () => {
      const text = toMermaid(machine);
      expect(mermaidProblems(text)).toEqual([]);
      const graph = machineGraph(machine);
      // A compound state's label carries what it invokes: `state "progressing<br/>invoke: …" as progressing {`.
      for (const state of allStates(graph.root).slice(1))
        expect(text).toMatch(new RegExp(`state "${state.key}(<br/>[^"]*)?" as `));
      const edges = text.split('\n').filter((l) => l.includes(' --> ') && !l.includes('[*]'));
      const expected = graph.transitions.reduce((n, t) => n + Math.max(1, t.targets.length), 0);
      expect(edges).toHaveLength(expected);
      expect(text).toBe(toMermaid(machine));
    });
  }
});
