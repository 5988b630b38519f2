// Files a person names on the command line (manifests, strategy files, hosts files): read and parsed once,
// each problem a coded error naming the file, the same for every command (`plan`, `deploy`, `retry`, ...).
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { CutoverError } from '../errors';
import { parseWith } from '../protocol/decode';
import { Strategy, type StrategyInput } from '../protocol/strategy';

/** A file's text; `plan.invalid` (or `code`) naming it when it cannot be read. */
export async function readInput(
  file: string,
  what: string,
  code: 'plan.invalid' | 'manifest.invalid' | 'config.invalid' = 'plan.invalid',
): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CutoverError(code, `cannot read ${what} "${file}": ${(e as Error).message}`, { cause: e });
  }
}

/** JSON or YAML text to a value; `code` naming the file when it is neither. */
export function parseData(text: string, file: string, code: 'strategy.invalid' | 'plan.invalid'): unknown {
  try {
    return parseYaml(text);
  } catch (e) {
    throw new CutoverError(code, `"${file}" is not JSON or YAML: ${(e as Error).message.split('\n')[0]}`, {
      cause: e,
    });
  }
}

/** A strategy file (JSON or YAML), validated (`strategy.invalid` names the field); undefined without a file. */
export async function readStrategyFile(file: string | undefined): Promise<StrategyInput | undefined> {
  if (file === undefined) return undefined;
  const value = parseData(await readInput(file, 'strategy'), file, 'strategy.invalid');
  parseWith(Strategy, value, 'strategy.invalid', 'strategy');
  return value as StrategyInput;
}
