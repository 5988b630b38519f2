// The one argument parser of every `cutover` command: node:util parseArgs behind declarative option tables.
// It gives every command `--help`/`-h` (usage text, exit 0), did-you-mean for unknown options and
// subcommands, env-var fallbacks per option, and turns every usage mistake into a one-line message with
// exit 2. It owns parsing and help text only; a command's behaviour lives in its own module.
import { parseArgs } from 'node:util';
import { CutoverError, isCutoverError } from '../errors';

/** The exit codes of every command (docs/cli.md lists them). */
export const EXIT = {
  /** Done; for a rollout: completed; for `status`: the app is healthy. */
  ok: 0,
  /** A rollout failed, rolled back or was aborted; an app is unknown or unhealthy; an operation was refused. */
  failed: 1,
  /** A usage error: unknown command or option, missing or bad argument, unreadable or invalid input file. */
  usage: 2,
  /** Interrupted by Ctrl-C (SIGINT). */
  interrupted: 130,
} as const;

/** One option of a command: how it parses and how help shows it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** Placeholder of the value in help (`FILE`, `URL`). */
  readonly value?: string;
  /** The value may be left out (`--serve [PORT]`): then the option parses as the empty string. */
  readonly optionalValue?: boolean;
  /** One line of help. */
  readonly help: string;
  /** Environment variable read when the option is not given. */
  readonly env?: string;
}

/** A command's option table. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The parsed values of an option table. */
export type Values<O extends OptionTable> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

/** What a command declares: enough to parse its arguments and to write its help and reference. */
export interface CommandSpec<O extends OptionTable = OptionTable> {
  /** `deploy`, or `auth render` for a subcommand. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Positional part of the synopsis: `APP [COMPONENT]`. */
  readonly args?: string;
  /** Fewest and most positionals (default 0 and 0). */
  readonly min?: number;
  readonly max?: number;
  /** A paragraph after the synopsis. */
  readonly description?: string;
  readonly options: O;
  /** Extra lines after the options (environment, examples). */
  readonly notes?: string;
}

/** What a command's handler gets. */
export interface Parsed<O extends OptionTable> {
  values: Values<O>;
  positionals: string[];
}

/** A usage mistake: printed as one line, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for a usage error (a {@link UsageError}). */
export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}

/** A runnable command with its spec (for help and docs/cli.md). */
export interface Command {
  readonly spec: CommandSpec;
  run(args: string[]): Promise<number>;
}

/** A command made by {@link defineCommand}: it also runs against given streams (tests). */
export interface DefinedCommand extends Command {
  run(args: string[], io?: CommandIo): Promise<number>;
}

/** Levenshtein distance, for did-you-mean. */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** The nearest of `known` to `word` when it is close enough to be a typo (or a prefix of it). */
export function suggest(word: string, known: Iterable<string>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = name.startsWith(word) && word.length >= 2 ? 0.5 : distance(word, name);
    if (best === undefined || d < best.d) best = { name, d };
  }
  if (best === undefined) return undefined;
  return best.d <= Math.max(2, Math.floor(word.length / 3)) ? best.name : undefined;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

function optionsOf(
  table: OptionTable,
): Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, o] of Object.entries({ ...table, help: HELP_OPTION })) {
    out[name] = {
      type: o.type,
      ...(o.multiple === true ? { multiple: true } : {}),
      ...(o.short === undefined ? {} : { short: o.short }),
    };
  }
  return out;
}

/** `--serve` with nothing after it (or another option after it) becomes `--serve=`. */
function fillOptional(args: readonly string[], table: OptionTable): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    out.push(arg);
    if (arg === '--') {
      out.push(...args.slice(i + 1));
      break;
    }
    const spec = arg.startsWith('--') && !arg.includes('=') ? table[arg.slice(2)] : undefined;
    if (spec?.optionalValue === true) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('-')) out[out.length - 1] = `${arg}=`;
    }
  }
  return out;
}

/** Node's parser messages, reduced to one line that names the option, with a did-you-mean. */
function usageMessage(error: unknown, table: OptionTable): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const flag = /'(-{1,2}[^'\s]+)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) {
    const near = flag.startsWith('--')
      ? suggest(flag.slice(2).split('=')[0] ?? '', [...Object.keys(table), 'help'])
      : undefined;
    return `unknown option "${flag}"${near === undefined ? '' : ` (did you mean --${near}?)`}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag !== undefined) {
    const name = flag.replace(/^-+/, '').split(/[=,\s]/)[0] ?? '';
    const spec = table[name] ?? Object.entries(table).find(([, o]) => `-${o.short}` === flag)?.[1];
    return spec?.type === 'boolean' ? `${flag} takes no value` : `${flag} needs a value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return `unexpected argument${/'([^']+)'/.exec(message)?.[1] ? ` "${/'([^']+)'/.exec(message)?.[1]}"` : ''}`;
  }
  return message.split('\n')[0] ?? message;
}

/** Parses `args` against a spec: values (with env fallbacks) and positionals, or a {@link UsageError}. */
export function parseCommandArgs<O extends OptionTable>(spec: CommandSpec<O>, args: readonly string[]): Parsed<O> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: fillOptional(args, spec.options),
      options: optionsOf(spec.options),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(usageMessage(error, spec.options));
  }
  const values: Record<string, unknown> = { ...parsed.values };
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.type !== 'string' || o.multiple === true) continue;
    if (Array.isArray(values[name])) throw new UsageError(`--${name} given twice`);
    const env = o.env === undefined ? undefined : process.env[o.env];
    if (values[name] === undefined && env !== undefined && env !== '') values[name] = env;
  }
  const { positionals } = parsed;
  const min = spec.min ?? 0;
  const max = spec.max ?? 0;
  if (positionals.length < min) {
    const names = (spec.args ?? '').split(/\s+/).filter((n) => !n.startsWith('['));
    throw new UsageError(`missing ${names[positionals.length] ?? 'argument'}`);
  }
  if (positionals.length > max) {
    const extra = positionals[max] as string;
    throw new UsageError(extra.startsWith('-') ? `unknown option "${extra}"` : `unexpected argument "${extra}"`);
  }
  return { values: values as Values<O>, positionals };
}

/** The help text of a command, from its spec. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => {
    const value = o.type === 'string' ? (o.optionalValue ? ` [${o.value ?? 'VALUE'}]` : ` ${o.value ?? 'VALUE'}`) : '';
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${value}`;
    const help = `${o.help}${o.multiple ? ' (repeatable)' : ''}${o.env ? ` [env ${o.env}]` : ''}`;
    return [flag, help] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  const lines = [synopsis(spec), '', spec.summary];
  if (spec.description) lines.push('', spec.description);
  lines.push('', 'options:', ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`));
  if (spec.notes) lines.push('', spec.notes.trimEnd());
  return `${lines.join('\n')}\n`;
}

/** Where a command writes; tests may pass their own. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** The synopsis line of a command. */
export function synopsis(spec: CommandSpec): string {
  return `usage: cutover ${spec.name}${spec.args ? ` ${spec.args}` : ''}${Object.keys(spec.options).length > 0 ? ' [options]' : ''}`;
}

/** Prints a usage error: the one-line message, then the synopsis and where the help is; returns exit 2. */
export function usageFailure(spec: CommandSpec, message: string, io: CommandIo = processIo): number {
  io.stderr.write(`cutover ${spec.name}: ${message}\n${synopsis(spec)}  (cutover ${spec.name} --help)\n`);
  return EXIT.usage;
}

/**
 * A command from its spec and handler: `--help`/`-h` print help (exit 0); a {@link UsageError} (from parsing or
 * thrown by the handler) is one line and exit 2. Other errors go to the caller (main prints them).
 */
export function defineCommand<O extends OptionTable>(
  spec: CommandSpec<O>,
  handler: (parsed: Parsed<O>, io: CommandIo) => Promise<number>,
): DefinedCommand {
  return {
    spec: spec as CommandSpec,
    async run(args: string[], io: CommandIo = processIo) {
      const stop = args.indexOf('--');
      const head = stop < 0 ? args : args.slice(0, stop);
      if (head.includes('--help') || head.includes('-h')) {
        io.stdout.write(helpText(spec as CommandSpec));
        return EXIT.ok;
      }
      try {
        return await handler(parseCommandArgs(spec, args), io);
      } catch (error) {
        if (isUsageError(error)) return usageFailure(spec as CommandSpec, error.message, io);
        throw error;
      }
    },
  };
}

/** A command with subcommands (`auth render`, `set image`): help lists them, a typo gets a did-you-mean. */
export function defineGroup(
  name: string,
  summary: string,
  subcommands: Readonly<Record<string, Command>>,
): Command & { readonly subcommands: Readonly<Record<string, Command>> } {
  const spec: CommandSpec = { name, summary, args: `${Object.keys(subcommands).join('|')} ...`, min: 1, options: {} };
  const help = () => {
    const width = Math.max(...Object.keys(subcommands).map((s) => s.length));
    const lines = Object.entries(subcommands).map(([s, c]) => `  ${s.padEnd(width)}  ${c.spec.summary}`);
    return `usage: cutover ${name} <subcommand> [options]\n\n${summary}\n\nsubcommands:\n${lines.join('\n')}\n\nRun "cutover ${name} <subcommand> --help" for its options.\n`;
  };
  return {
    spec,
    subcommands,
    async run(args) {
      const [sub, ...rest] = args;
      if (sub === undefined) return usageFailure(spec, `missing subcommand (${Object.keys(subcommands).join(', ')})`);
      if (sub === '--help' || sub === '-h' || sub === 'help') {
        process.stdout.write(help());
        return EXIT.ok;
      }
      const command = subcommands[sub];
      if (command === undefined) {
        const near = suggest(sub, Object.keys(subcommands));
        return usageFailure(spec, `unknown subcommand "${sub}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
      return command.run(rest);
    },
  };
}

/** A required string option, or a usage error naming it (and its env var). */
export function required<O extends OptionTable>(
  spec: CommandSpec<O>,
  values: Values<O>,
  name: keyof O & string,
): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) {
    const env = spec.options[name]?.env;
    throw new UsageError(`missing --${name}${env ? ` (or ${env})` : ''}`);
  }
  return value;
}

/** A whole number option (milliseconds, counts) within bounds, or `fallback`. */
export function wholeNumber(
  value: string | undefined,
  flag: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > max)
    throw new UsageError(
      `--${flag} "${value}" is not a whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`,
    );
  return n;
}

/** A duration option (`90s`, `5m`, `1h`, `500ms`, or plain milliseconds) in ms. */
export function duration(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new UsageError(`--${flag} "${value}" is not a duration (e.g. 90s, 5m, 1h)`);
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

/** Error codes that mean the user's input is wrong (a file, a flag value): exit 2 like any usage error. */
const INPUT_CODES = new Set(['strategy.invalid', 'plan.invalid', 'config.invalid']);

/** The exit code and the lines to print for an error that reached the top of a command (never a stack unless debugging). */
export function describeFailure(command: string, error: unknown, debug: boolean): { code: number; text: string } {
  if (isUsageError(error)) return { code: EXIT.usage, text: `cutover ${command}: ${error.message}\n` };
  if (isCutoverError(error)) {
    const lines = [`cutover: ${error.code}: ${error.message}`];
    for (const issue of error.issues ?? []) lines.push(`  - ${issue.path}: ${issue.message}`);
    return { code: INPUT_CODES.has(error.code) ? EXIT.usage : EXIT.failed, text: `${lines.join('\n')}\n` };
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = debug && error instanceof Error && error.stack ? `\n${error.stack}` : '';
  return { code: EXIT.failed, text: `cutover ${command}: ${message}${stack}\n` };
}

/** A CutoverError for a file the user named that cannot be read. */
export function unreadable(
  what: string,
  file: string,
  error: unknown,
  code: 'plan.invalid' | 'config.invalid' = 'config.invalid',
): CutoverError {
  return new CutoverError(code, `cannot read ${what} "${file}": ${(error as Error).message}`, { cause: error });
}
