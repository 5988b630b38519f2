// Small machines that exercise every feature the diagrams draw; the real machines may still change.
import { and, assign, fromPromise, not, setup } from 'xstate';

/** A door: nested states, guards, named and inline actions, an invoked actor with done/error, always, after. */
export const doorMachine = setup({
  types: { events: {} as { type: 'door.open' } | { type: 'door.close' } | { type: 'door.lock'; code: string } },
  actors: { checkCode: fromPromise<void, void>(async () => {}) },
  guards: { hasCode: () => true, isAlarmed: () => false },
  actions: { beep: () => {}, log: () => {} },
}).createMachine({
  id: 'door',
  initial: 'closed',
  states: {
    closed: {
      initial: 'unlocked',
      states: {
        unlocked: { on: { 'door.lock': { target: 'locking', guard: 'hasCode', actions: ['beep', assign({})] } } },
        locking: {
          invoke: { src: 'checkCode', onDone: 'locked', onError: { target: 'unlocked', actions: 'log' } },
        },
        locked: { after: { 1000: { target: 'unlocked', guard: and(['hasCode', not('isAlarmed')]) } } },
      },
      on: { 'door.open': { target: 'open', actions: { type: 'log', params: { why: 'opened' } } } },
    },
    open: {
      entry: 'beep',
      on: { 'door.close': 'closed', 'door.lock': { actions: 'beep' } },
      always: { guard: 'isAlarmed', target: 'broken' },
    },
    broken: { type: 'final' },
  },
});

/** A machine whose state keys are awkward for Mermaid: keywords, dots, hyphens, parallel regions, history. */
export const awkwardMachine = setup({
  actors: { watch: fromPromise<void, void>(async () => {}) },
}).createMachine({
  id: 'awkward-machine',
  initial: 'default',
  states: {
    default: { on: { go: 'state' } },
    state: { on: { go: '#multi-region' } },
    'multi.region': {
      id: 'multi-region',
      type: 'parallel',
      invoke: { id: 'watcher', src: 'watch' },
      states: {
        'left-side': { initial: 'a', states: { a: { on: { next: 'b' } }, b: { type: 'final' } } },
        right_side: {
          initial: 'x',
          states: { x: { on: { next: 'y' } }, y: { type: 'final' }, back: { type: 'history', history: 'deep' } },
        },
      },
      onDone: 'end',
    },
    end: { type: 'final' },
  },
});
