import { writeFile } from 'node:fs/promises';
import type { AnyStateMachine } from 'xstate';
import { toDot } from '../../inspect/toDot';
import { toMermaid } from '../../inspect/toMermaid';

const USAGE = 'usage: cutover diagram component|rollout [--format mermaid|dot] [--out FILE]\n';

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

/** `cutover diagram component|rollout [--format mermaid|dot] [--out FILE]`: the statechart as text. */
export async function run(args: string[]): Promise<number> {
  let format: DiagramFormat = 'mermaid';
  let out: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (flag === '--format' || flag === '--out') {
      const value = inline ?? args[++i];
      if (value === undefined || value === '') {
        process.stderr.write(`cutover diagram: ${flag} needs a value\n${USAGE}`);
        return 2;
      }
      if (flag === '--out') {
        out = value;
      } else if (value === 'mermaid' || value === 'dot') {
        format = value;
      } else {
        process.stderr.write(`cutover diagram: unknown format "${value}" (mermaid or dot)\n`);
        return 2;
      }
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE);
      return 0;
    } else if (arg.startsWith('-')) {
      process.stderr.write(`cutover diagram: unknown option "${arg}"\n${USAGE}`);
      return 2;
    } else {
      names.push(arg);
    }
  }
  const name = names[0];
  if (name === undefined || names.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (!isName(name)) {
    process.stderr.write(
      `cutover diagram: unknown machine "${name}" (${Object.keys(DIAGRAM_MACHINES).join(' or ')})\n`,
    );
    return 2;
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
  if (out === undefined) {
    process.stdout.write(text);
    return 0;
  }
  try {
    await writeFile(out, text);
  } catch (e) {
    process.stderr.write(`cutover diagram: cannot write "${out}": ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`cutover diagram: wrote ${format} of "${name}" to ${out}\n`);
  return 0;
}
