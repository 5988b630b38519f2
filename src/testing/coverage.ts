import type { AnyStateMachine } from 'xstate';
import { machineStates, machineTransitions } from './machineGraph';

/** Covered and total states and transitions of one machine, plus what is still missing. */
export interface Coverage {
  readonly id: string;
  readonly states: { covered: number; total: number; missing: string[] };
  readonly transitions: { covered: number; total: number; missing: string[] };
  readonly paths: number;
}

/**
 * Coverage of `machine` by walked states and transitions (keys as `transitionKey` makes them).
 * @example
 * const c = walkCoverage(componentMachine, { states, transitions }, paths.length)
 */
export function walkCoverage(
  machine: AnyStateMachine,
  walked: { states: Iterable<string>; transitions: Iterable<string> },
  paths = 0,
): Coverage {
  const states = machineStates(machine);
  const transitions = machineTransitions(machine);
  const seenStates = new Set(walked.states);
  const seenTransitions = new Set(walked.transitions);
  const missingStates = states.filter((s) => !seenStates.has(s));
  const missingTransitions = transitions.filter((t) => !seenTransitions.has(t));
  return {
    id: machine.id,
    states: { covered: states.length - missingStates.length, total: states.length, missing: missingStates },
    transitions: {
      covered: transitions.length - missingTransitions.length,
      total: transitions.length,
      missing: missingTransitions,
    },
    paths,
  };
}

const pct = (a: number, b: number) => (b === 0 ? 100 : Math.floor((a / b) * 1000) / 10);

/** A short human report: percentages first, then anything missing. */
export function formatCoverage(coverage: Coverage): string {
  const { id, states: s, transitions: t } = coverage;
  const lines = [
    `${id}: states ${s.covered}/${s.total} (${pct(s.covered, s.total)}%), transitions ${t.covered}/${t.total} (${pct(t.covered, t.total)}%), ${coverage.paths} paths`,
  ];
  for (const m of s.missing) lines.push(`  missing state ${m}`);
  for (const m of t.missing) lines.push(`  missing transition ${m}`);
  return lines.join('\n');
}

/** True when every state and transition is covered. */
export function isFullyCovered(coverage: Coverage): boolean {
  return (
    coverage.states.covered === coverage.states.total && coverage.transitions.covered === coverage.transitions.total
  );
}
