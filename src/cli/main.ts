#!/usr/bin/env node
// The `cutover` command: a thin dispatcher; each command lives in src/cli/commands/<name>.ts and is
// loaded on demand so `cutover --help` stays fast and optional peers (NATS) load only when used. It owns
// the process-level rules: exit codes (src/cli/args.ts EXIT), no stack for a user error, quiet on EPIPE.
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EXIT, describeFailure, suggest } from './args';
import { commands } from './commands';
import { debugEnabled } from './natsConnect';

/** The package version, read from the package.json next to src/ or dist/ (works through the bin symlink). */
function version(): string {
  try {
    const here = dirname(realpathSync(process.argv[1] ?? '.'));
    const pkg = JSON.parse(readFileSync(resolve(here, '../../package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `usage: cutover <command> [options]

commands:
${lines.join('\n')}

options:
  -h, --help     show this help (every command takes --help too)
  --version      print the version

exit codes: 0 ok, 1 rollout failed or app unhealthy/unknown, 2 usage, 130 interrupted
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(usage());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`cutover ${version()}\n`);
    return EXIT.ok;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (entry === undefined) {
    const near = suggest(name, Object.keys(commands));
    process.stderr.write(
      `cutover: unknown ${name.startsWith('-') ? 'option' : 'command'} "${name}"${near ? ` (did you mean "${near}"?)` : ''} (see: cutover --help)\n`,
    );
    return EXIT.usage;
  }
  const mod = await entry.load();
  return mod.run(rest);
}

// `cutover ... | head -1`: the reader went away; stop quietly instead of printing an EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
    throw error;
  });
}

const command = process.argv[2] ?? '';
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const failure = describeFailure(command, error, debugEnabled());
    process.stderr.write(failure.text);
    process.exitCode = failure.code;
  },
);
