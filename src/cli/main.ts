#!/usr/bin/env node
// The `cutover` command: a thin dispatcher; each command lives in src/cli/commands/<name>.ts and is
// loaded on demand so `cutover --help` stays fast and optional peers (NATS) load only when used.
import { commands } from './commands';
import { isCutoverError } from '../errors';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`cutover: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `usage: cutover <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isCutoverError(error)) {
      process.stderr.write(`cutover: ${error.code}: ${error.message}\n`);
      for (const issue of error.issues ?? []) process.stderr.write(`  - ${issue.path}: ${issue.message}\n`);
    } else {
      process.stderr.write(`cutover: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exitCode = 1;
  },
);
