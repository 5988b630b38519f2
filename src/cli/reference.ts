// docs/cli.md, rendered from the commands' own option tables (so the reference cannot drift from the code):
// every command with its synopsis, description and options, the environment variables and the exit codes.
// test/cli/cliDocs.test.ts fails when docs/cli.md is stale; scripts/cli-docs.ts writes it.
import { type Command, type CommandSpec, EXIT, type OptionTable } from './args';
import { type CommandModule, commands } from './commands';

/** The command that regenerates docs/cli.md. */
export const CLI_DOCS_COMMAND = 'node --import tsx scripts/cli-docs.ts';

type Documented = CommandModule & { spec?: CommandSpec; subcommands?: Readonly<Record<string, Command>> };

function optionRows(options: OptionTable): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const value = o.type === 'string' ? (o.optionalValue ? ` [${o.value ?? 'VALUE'}]` : ` ${o.value ?? 'VALUE'}`) : '';
    const flag = `${o.short ? `\`-${o.short}\`, ` : ''}\`--${name}${value}\``;
    const help = `${o.help}${o.multiple ? ' (repeatable)' : ''}`.replace(/\|/g, '\\|');
    return `| ${flag.replace(/\|/g, '\\|')} | ${o.env ? `\`${o.env}\`` : ''} | ${help} |`;
  });
  return ['| option | env | meaning |', '| --- | --- | --- |', ...rows, '| `-h`, `--help` | | show the help |'];
}

function section(spec: CommandSpec): string[] {
  const synopsis = `cutover ${spec.name}${spec.args ? ` ${spec.args}` : ''}${Object.keys(spec.options).length > 0 ? ' [options]' : ''}`;
  const out = [`### \`cutover ${spec.name}\``, '', spec.summary, '', '```', synopsis, '```', ''];
  if (spec.description) out.push(spec.description.replace(/\n/g, ' '), '');
  out.push(...optionRows(spec.options), '');
  if (spec.notes) out.push('```', spec.notes.trimEnd(), '```', '');
  return out;
}

/** The markdown of docs/cli.md. */
export async function renderCliReference(): Promise<string> {
  const lines = [
    '# `cutover` command reference',
    '',
    `<!-- Generated from the commands' option tables by \`${CLI_DOCS_COMMAND}\`; do not edit by hand. -->`,
    '',
    'Every command answers `--help` and `-h`; `cutover --version` prints the version. A mistyped command or',
    'option gets a did-you-mean. Options take `--name value` or `--name=value`.',
    '',
    '## Exit codes',
    '',
    '| code | meaning |',
    '| --- | --- |',
    `| ${EXIT.ok} | done; a followed rollout completed; \`status\`/\`get\`: the app is deployed (or rolling out) and healthy |`,
    `| ${EXIT.failed} | a followed rollout failed, rolled back or was aborted; \`--timeout\` passed; the app is unknown, failed, rolled back or has an unhealthy workload; the orchestrator refused (\`cutover: <code>: <message>\`); NATS unreachable |`,
    `| ${EXIT.usage} | usage: unknown command or option, missing or bad argument, unreadable or invalid strategy, hosts or credentials file |`,
    `| ${EXIT.interrupted} | interrupted by Ctrl-C (\`demo\`, \`get --watch\`, \`--wait\`); a followed rollout goes on |`,
    '',
    'No user error prints a stack trace (set `CUTOVER_DEBUG=1` to see one for an unexpected error). Output piped',
    'into a command that stops reading (`cutover ... | head -1`) ends quietly.',
    '',
    '## Connection',
    '',
    'Every command that talks to a lattice takes the connection options below, each with an environment',
    'variable used when the option is absent. A `--creds` file is either a NATS `.creds` file (user JWT and nkey',
    'seed) or a file written by `cutover auth render --out` (user, password and the inbox prefix of the role).',
    '',
  ];
  const { CONNECTION_OPTIONS } = await import('./natsConnect');
  lines.push(...optionRows(CONNECTION_OPTIONS).slice(0, -1), '', '## Commands', '');
  for (const [name, entry] of Object.entries(commands)) {
    const mod = (await entry.load()) as Documented;
    const spec = mod.spec;
    if (spec === undefined) throw new Error(`command "${name}" exports no spec`);
    const subs = (mod as { subcommands?: Readonly<Record<string, Command>> }).subcommands;
    if (subs !== undefined) for (const sub of Object.values(subs)) lines.push(...section(withoutConnection(sub.spec)));
    else lines.push(...section(withoutConnection(spec)));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** A spec with the connection options folded into one line (they are listed once, above). */
function withoutConnection(spec: CommandSpec): CommandSpec {
  const connection = [
    'nats',
    'lattice',
    'user',
    'password',
    'creds',
    'nkey',
    'tls-ca',
    'tls-cert',
    'tls-key',
    'inbox-prefix',
  ];
  if (!connection.every((k) => k in spec.options)) return spec;
  const options = Object.fromEntries(Object.entries(spec.options).filter(([k]) => !connection.includes(k)));
  return {
    ...spec,
    options,
    notes: `${spec.notes ? `${spec.notes.trimEnd()}\n` : ''}connection: the options of "Connection" above (--nats, --lattice, --creds, ...)`,
  };
}
