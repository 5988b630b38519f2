import { describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import {
  componentPathOptions,
  formatCoverage,
  isFullyCovered,
  machineStates,
  machineTransitions,
  selectPaths,
  walkCoverage,
} from 'cutover/testing';
import { componentMachine } from 'cutover/machines';

// A small machine with an invoked actor, a guard over context, a parent-level transition and history.
const door = setup({
  types: { context: {} as { locked: boolean }, events: {} as { type: 'open' } | { type: 'close' } | { type: 'lock' } },
  actors: { motor: fromPromise<void>(async () => {}) },
  guards: { unlocked: ({ context }) => !context.locked },
}).createMachine({
  id: 'door',
  context: { locked: false },
  initial: 'closed',
  on: { lock: { actions: assign({ locked: true }) } },
  states: {
    closed: { on: { open: { guard: 'unlocked', target: 'opening' } } },
    opening: { invoke: { id: 'motor', src: 'motor', onDone: 'open', onError: 'closed' } },
    open: { on: { close: 'closed' } },
    hist: { type: 'history' },
  },
});

describe('testing: path selection and coverage', () => {
  it('lists states and transitions, leaving out the root and history pseudo-states', () => {
    expect(machineStates(door)).toEqual(['door.closed', 'door.open', 'door.opening']);
    expect(machineTransitions(door)).toEqual([
      'door -- lock --> door',
      'door.closed -- open --> door.opening',
      'door.open -- close --> door.closed',
      'door.opening -- xstate.done.actor.motor --> door.open',
      'door.opening -- xstate.error.actor.motor --> door.closed',
    ]);
  });

  it('selects paths (with done and error events of invoked actors) that cover every state and transition', () => {
    for (const strategy of ['simple', 'edges'] as const) {
      const selection = selectPaths(door, {
        inputs: [{ name: 'default', input: undefined }],
        serialize: (s) => s.context.locked,
        strategy,
      });
      const coverage = walkCoverage(
        door,
        { states: selection.states, transitions: selection.transitions },
        selection.paths.length,
      );
      expect(isFullyCovered(coverage), formatCoverage(coverage)).toBe(true);
      // Every selected path adds something no earlier path covered.
      expect(selection.paths.every((p) => p.adds.length > 0)).toBe(true);
      expect(selection.paths.length).toBeLessThanOrEqual(machineTransitions(door).length + machineStates(door).length);
    }
  });

  it('reports what is missing when coverage is partial', () => {
    const c = walkCoverage(door, { states: ['door.closed'], transitions: ['door.closed -- open --> door.opening'] }, 1);
    expect(c.states).toMatchObject({ covered: 1, total: 3 });
    expect(c.transitions).toMatchObject({ covered: 1, total: 5 });
    expect(formatCoverage(c)).toContain('missing transition door.open -- close --> door.closed');
  });

  it('covers the whole component machine from its model in a bounded number of paths', () => {
    const selection = selectPaths(componentMachine, componentPathOptions);
    const c = walkCoverage(
      componentMachine,
      { states: selection.states, transitions: selection.transitions },
      selection.paths.length,
    );
    expect(isFullyCovered(c), formatCoverage(c)).toBe(true);
    expect(selection.paths.length).toBeLessThanOrEqual(c.transitions.total);
  });
});
