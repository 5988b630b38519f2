import { readFile } from 'node:fs/promises';
import { isCutoverError } from '../../errors';
import { parseManifest } from '../../protocol/manifest';
import { defineCommand } from '../args';

/** `cutover validate MANIFEST [--json]`: the revision summary and warnings, or every issue with exit 1. */
export const command = defineCommand(
  {
    name: 'validate',
    summary: 'check a wadm manifest and print its revision (exit 1 with every issue)',
    args: 'MANIFEST',
    min: 1,
    max: 1,
    options: { json: { type: 'boolean', help: 'print the result as JSON' } },
  },
  ({ values, positionals }) => validate(positionals[0] as string, values.json === true),
);
export const run = command.run;
export const spec = command.spec;

async function validate(file: string, json: boolean): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    process.stderr.write(`cutover validate: cannot read "${file}": ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const { revision, warnings } = parseManifest(text);
    if (json) {
      process.stdout.write(`${JSON.stringify({ valid: true, revision, warnings }, null, 2)}\n`);
      return 0;
    }
    const lines = [
      `${file}: valid`,
      `app ${revision.app} version ${revision.version} (content ${revision.contentHash.slice(0, 12)})`,
      `components ${revision.components.length}, providers ${revision.providers.length}, links ${revision.links.length}`,
      ...revision.components.map((c) => `  component ${c.name} (${c.spec.id}) ${c.spec.imageRef}${scale(c.scale)}`),
      ...revision.providers.map((p) => `  provider  ${p.name} (${p.spec.id}) ${p.spec.imageRef}${scale(p.scale)}`),
      ...revision.links.map(
        (l) =>
          `  link ${l.source} -> ${l.target} ${l.namespace}:${l.package}/{${l.interfaces.join(',')}} name ${l.name}`,
      ),
      ...warnings.map((w) => `warning: ${w}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (e) {
    if (!isCutoverError(e) || e.code !== 'manifest.invalid') throw e;
    const issues = e.issues ?? [];
    if (json) {
      process.stdout.write(`${JSON.stringify({ valid: false, issues }, null, 2)}\n`);
    } else {
      process.stderr.write(`${file}: invalid (${issues.length} issue${issues.length === 1 ? '' : 's'})\n`);
      for (const i of issues) process.stderr.write(`  - ${i.path}: ${i.message}\n`);
    }
    return 1;
  }
}

function scale(s: { kind: string; instances: number } | undefined): string {
  return s === undefined ? '' : ` ${s.kind} x${s.instances}`;
}
