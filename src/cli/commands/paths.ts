import type { AnyStateMachine } from 'xstate';
import { type Coverage, formatCoverage, walkCoverage } from '../../testing/coverage';
import type { SelectPathsOptions } from '../../testing/selectPaths';
import { selectPaths } from '../../testing/selectPaths';
import { UsageError, defineCommand, suggest } from '../args';

/** A machine the command knows, with its path selection options; loaded on demand. */
export interface PathModelEntry {
  load(): Promise<{ machine: AnyStateMachine; options: SelectPathsOptions<AnyStateMachine> }>;
  /** A machine-specific selector, for machines whose simple paths are too many to enumerate. */
  select?(): Promise<{
    paths: ReadonlyArray<{ description: string }>;
    states: readonly string[];
    transitions: readonly string[];
  }>;
}

// One line per machine; the rollout work adds its own entry.
export const pathModels: Record<string, PathModelEntry> = {
  component: {
    load: async () => {
      const m = await import('../../testing/componentModel');
      return {
        machine: m.componentMachine,
        options: m.componentPathOptions as unknown as SelectPathsOptions<AnyStateMachine>,
      };
    },
  },
  rollout: {
    load: async () => {
      const m = await import('../../testing/rolloutModel');
      return {
        machine: m.rolloutMachine,
        options: m.rolloutPathOptions as unknown as SelectPathsOptions<AnyStateMachine>,
      };
    },
    select: async () => (await import('../../testing/rolloutModel')).selectRolloutPaths(),
  },
};

/** `cutover paths MACHINE... [--json] [--list]`: the covering path set of each machine and its coverage. */
export const command = defineCommand(
  {
    name: 'paths',
    summary: 'select covering test paths of a machine and print their coverage',
    args: 'MACHINE...',
    min: 1,
    max: 10,
    description: `Machines: ${Object.keys(pathModels).join(', ')}. Exit 1 when a state or transition is left uncovered.`,
    options: {
      json: { type: 'boolean', help: 'print the coverage as JSON' },
      list: { type: 'boolean', help: 'also list each selected path' },
    },
  },
  ({ values, positionals }) => paths(positionals, values.json === true, values.list === true),
);
export const run = command.run;
export const spec = command.spec;

async function paths(names: string[], json: boolean, list: boolean): Promise<number> {
  const unknown = names.find((n) => !Object.hasOwn(pathModels, n));
  if (unknown !== undefined) {
    const near = suggest(unknown, Object.keys(pathModels));
    throw new UsageError(
      `unknown machine "${unknown}" (known: ${Object.keys(pathModels).join(', ')}${near ? `; did you mean "${near}"?` : ''})`,
    );
  }
  const machines: Array<Coverage & { descriptions: string[] }> = [];
  for (const name of names) {
    const entry = pathModels[name] as PathModelEntry;
    const { machine, options } = await entry.load();
    const selection = entry.select ? await entry.select() : selectPaths(machine, options);
    const coverage = walkCoverage(
      machine,
      { states: selection.states, transitions: selection.transitions },
      selection.paths.length,
    );
    machines.push({ ...coverage, descriptions: selection.paths.map((p) => p.description) });
  }
  if (json) {
    const out = machines.map((m) => ({
      id: m.id,
      states: { covered: m.states.covered, total: m.states.total },
      transitions: { covered: m.transitions.covered, total: m.transitions.total },
      paths: m.paths,
      ...(list ? { descriptions: m.descriptions } : {}),
    }));
    process.stdout.write(`${JSON.stringify({ machines: out }, null, 2)}\n`);
  } else {
    for (const m of machines) {
      process.stdout.write(`${formatCoverage(m)}\n`);
      if (list) for (const d of m.descriptions) process.stdout.write(`  - ${d}\n`);
    }
  }
  return machines.every((m) => m.states.covered === m.states.total && m.transitions.covered === m.transitions.total)
    ? 0
    : 1;
}
