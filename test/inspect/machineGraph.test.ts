import { createMachine, fromPromise, or, setup, stateIn } from 'xstate';
import { describe, expect, it } from 'vitest';
import { machineGraph, transitionLabel } from '../../src/inspect/machineGraph';
import { doorMachine } from './machines';

describe('machineGraph', () => {
  it('reads the state tree with initial states, invokes, entry actions and tags', () => {
    const { root } = machineGraph(doorMachine);
    expect(root.id).toBe('door');
    expect(root.initial).toEqual(['door.closed']);
    expect(root.children.map((s) => [s.key, s.type])).toEqual([
      ['closed', 'compound'],
      ['open', 'atomic'],
      ['broken', 'final'],
    ]);
    const closed = root.children[0];
    expect(closed?.initial).toEqual(['door.closed.unlocked']);
    expect(closed?.children.find((s) => s.key === 'locking')?.invokes).toEqual(['checkCode']);
    expect(root.children[1]?.entry).toEqual(['beep']);
  });

  it('names the triggers of actor results, delays and eventless transitions', () => {
    const triggers = machineGraph(doorMachine).transitions.map((t) => [t.kind, t.trigger]);
    expect(triggers).toEqual(
      expect.arrayContaining([
        ['done', 'done: checkCode'],
        ['error', 'error: checkCode'],
        ['after', 'after 1000ms'],
        ['always', 'always'],
        ['event', 'door.lock'],
      ]),
    );
  });

  it('names invoked actors by source when their ids were generated, and inline logic as inline', () => {
    const machine = setup({ actors: { poll: fromPromise<void, void>(async () => {}) } }).createMachine({
      id: 'm',
      initial: 'a',
      states: {
        a: {
          invoke: [
            { src: 'poll', onDone: 'b' },
            { src: fromPromise(async () => {}), onError: 'b' },
          ],
        },
        b: {},
      },
    });
    const { root, transitions } = machineGraph(machine);
    expect(root.children[0]?.invokes).toEqual(['poll', 'inline']);
    expect(transitions.map((t) => t.trigger)).toEqual(['done: poll', 'error: inline']);
  });

  it('writes composite guards, parameterized guards and actions by name, and inline guards as inline', () => {
    const machine = createMachine({
      id: 'g',
      type: 'parallel',
      states: {
        one: {
          initial: 'x',
          states: {
            x: {
              on: {
                a: { target: 'y', guard: or(['p', stateIn('#g.two.on')]) },
                b: {
                  target: 'y',
                  guard: { type: 'within', params: { max: 3 } },
                  actions: { type: 'note', params: { n: 1 } },
                },
                c: { target: 'y', guard: () => true },
              },
            },
            y: {},
          },
        },
        two: { initial: 'on', states: { on: {} } },
      },
    });
    const labels = machineGraph(machine).transitions.map(transitionLabel);
    expect(labels).toEqual(['a [p || (in #g.two.on)]', 'b [within] / note', 'c [inline]']);
  });

  it('keeps targetless transitions with no targets and parallel states without an initial state', () => {
    const open = machineGraph(doorMachine).transitions.find((t) => t.source === 'door.open' && t.event === 'door.lock');
    expect(open?.targets).toEqual([]);
    expect(open?.actions).toEqual(['beep']);
  });
});
