// docs/cli.md is generated from the commands' option tables: this fails when it is stale (a command, option,
// environment variable or exit code changed without regenerating it), so the reference cannot drift.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT, type CommandSpec } from '../../src/cli/args';
import { type CommandModule, commands } from '../../src/cli/commands';
import { CLI_DOCS_COMMAND, renderCliReference } from '../../src/cli/reference';

const DOC = fileURLToPath(new URL('../../docs/cli.md', import.meta.url));

describe('docs/cli.md', () => {
  it(`is what \`${CLI_DOCS_COMMAND}\` generates from the option tables`, async () => {
    const generated = await renderCliReference();
    const committed = readFileSync(DOC, 'utf8');
    if (committed !== generated) throw new Error(`docs/cli.md is stale: run \`${CLI_DOCS_COMMAND}\``);
    expect(committed).toBe(generated);
  });

  it('documents every command, every option, every environment variable and every exit code', async () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const code of Object.values(EXIT)) expect(doc).toMatch(new RegExp(`^\\| ${code} \\| `, 'm'));
    for (const [name, entry] of Object.entries(commands)) {
      const mod = (await entry.load()) as CommandModule & {
        spec: CommandSpec;
        subcommands?: Record<string, { spec: CommandSpec }>;
      };
      const specs = mod.subcommands === undefined ? [mod.spec] : Object.values(mod.subcommands).map((s) => s.spec);
      for (const spec of specs) {
        expect(doc, name).toContain(`### \`cutover ${spec.name}\``);
        for (const [option, o] of Object.entries(spec.options)) {
          expect(doc, `${spec.name} --${option}`).toContain(`\`--${option}`);
          if (o.env !== undefined) expect(doc, `${spec.name} ${o.env}`).toContain(`\`${o.env}\``);
        }
      }
    }
    for (const env of [
      'CUTOVER_NATS_URL',
      'CUTOVER_LATTICE',
      'CUTOVER_NATS_CREDS',
      'CUTOVER_NATS_NKEY',
      'CUTOVER_NATS_TLS_CA',
      'CUTOVER_REGISTRY_USER',
    ])
      expect(doc).toContain(env);
  });
});
