import { writeFile } from 'node:fs/promises';
import type { AnyStateMachine } from 'xstate';
import { toDot } from '../../inspect/toDot';
import { toMermaid } from '../../inspect/toMermaid';
import { UsageError, defineCommand, suggest } from '../args';

/** The machines `cutover diagram` draws, each loaded on its own so one broken machine fails only its name. */
export const DIAGRAM_MACHINES = {
  component: async (): Promise<AnyStateMachine> => (await import('../../../machines/component')).componentMachine,
  rollout: async (): Promise<AnyStateMachine> => (await import('../../../machines/rollout')).rolloutMachine,
} as const;

/** A machine name `cutover diagram` knows. */
export type DiagramName = keyof typeof DIAGRAM_MACHINES;

/** A diagram text format. */
export type DiagramFormat = 'mermaid' | 'dot';

const isName = (s: string): s is DiagramName => Object.hasOwn(DIAGRAM_MACHINES, s);

/** The diagram of one named machine, as the CLI prints it. */
export async function renderDiagram(name: DiagramName, format: DiagramFormat = 'mermaid'): Promise<string> {
  const machine = await DIAGRAM_MACHINES[name]();
  if (machine === undefined) throw new Error(`machines/${name} has no ${name}Machine export`);
  return format === 'dot' ? toDot(machine) : toMermaid(machine);
}

export const command = defineCommand(
  {
    name: 'diagram',
    summary: 'print a machine as a Mermaid or DOT diagram',
    args: 'component|rollout',
    min: 1,
    max: 1,
    options: {
      format: { type: 'string', value: 'mermaid|dot', help: 'diagram language (default mermaid)' },
      out: { type: 'string', value: 'FILE', help: 'write the diagram to FILE instead of stdout' },
    },
  },
  async ({ values, positionals }) => {
    const name = positionals[0] as string;
    const format = values.format ?? 'mermaid';
    if (format !== 'mermaid' && format !== 'dot') throw new UsageError(`unknown format "${format}" (mermaid or dot)`);
    if (!isName(name)) {
      const near = suggest(name, Object.keys(DIAGRAM_MACHINES));
      throw new UsageError(
        `unknown machine "${name}" (${Object.keys(DIAGRAM_MACHINES).join(' or ')}${near ? `; did you mean "${near}"?` : ''})`,
      );
    }
    let text: string;
    try {
      text = await renderDiagram(name, format);
    } catch (e) {
      process.stderr.write(
        `cutover diagram: cannot load the "${name}" machine: ${e instanceof Error ? e.message : String(e)}\n`,
      );
      return 1;
    }
    if (values.out === undefined) {
      process.stdout.write(text);
      return 0;
    }
    try {
      await writeFile(values.out, text);
    } catch (e) {
      process.stderr.write(`cutover diagram: cannot write "${values.out}": ${(e as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`cutover diagram: wrote ${format} of "${name}" to ${values.out}\n`);
    return 0;
  },
);

/** `cutover diagram component|rollout [--format mermaid|dot] [--out FILE]`: the statechart as text. */
export const run = command.run;
export const spec = command.spec;
