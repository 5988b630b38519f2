import { isCutoverError } from '../../errors';
import { DEFAULT_INSPECTOR_URL, type Inspector, inspectFromFlag } from '../../inspect';
import { createProgress, type ProgressOutput } from '../demo/progress';
import { DEMO_STRATEGIES, type DemoOptions, type DemoStrategy, runDemo } from '../demo/runDemo';
import { demoJson, formatSummary } from '../demo/summary';

const USAGE = `usage: cutover demo [--strategy rolling|canary|blue-green] [--hosts N] [--rate PER_SECOND] [--json]
                   [--serve [PORT]] [--inspect [URL]]

  Runs a lattice of in-memory hosts with real WebAssembly, rolls out v2 (completes) and v3 (fails on
  one host of the second batch and rolls back) under a steady invocation load, and prints what happened.

  --strategy S     rolling batches (default), a canary (1 host and an error-rate analysis, 50%, all)
                   or blue-green (standbys beside the old version, one switch, then an analysis)
  --hosts N        hosts in the lattice (default 5, at least 2)
  --rate N         invocations per second over all hosts (default 2000)
  --json           print one JSON object with the results instead of progress and summary
  --serve [PORT]   keep the lattice up behind http://127.0.0.1:PORT (default 8000) until Ctrl-C
  --inspect [URL]  stream the machines to the Stately inspector (default ws://localhost:8080)
`;

/** wasmCloud's default HTTP port; 8080 is left to the inspector bridge. */
const DEFAULT_SERVE_PORT = 8000;

/** Where the command writes; tests pass their own. */
export interface DemoIo {
  stdout: ProgressOutput;
  stderr: ProgressOutput;
  /** Ends `--serve`; the command wires SIGINT to it when none is given. */
  signal?: AbortSignal;
}

interface Flags {
  strategy?: DemoStrategy;
  hosts?: number;
  rate?: number;
  json: boolean;
  serve?: number;
  inspect?: string;
}

function parse(args: readonly string[]): Flags | string {
  const flags: Flags = { json: false };
  const number = (flag: string, value: string | undefined): number | string => {
    const n = Number(value);
    return value === undefined || value.trim() === '' || !Number.isFinite(n)
      ? `${flag} needs a number, got "${value ?? ''}"`
      : n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const optional = () =>
      inline ?? (args[i + 1] !== undefined && !args[i + 1]?.startsWith('-') ? args[++i] : undefined);
    switch (flag) {
      case '--hosts':
      case '--rate': {
        const n = number(flag, inline ?? args[++i]);
        if (typeof n === 'string') return n;
        if (flag === '--hosts' && (!Number.isInteger(n) || n < 2 || n > 100))
          return `--hosts must be a whole number from 2 to 100, got "${n}"`;
        if (flag === '--rate' && (n < 0 || n > 100_000))
          return `--rate must be from 0 to 100000 per second, got "${n}"`;
        flags[flag === '--hosts' ? 'hosts' : 'rate'] = n;
        break;
      }
      case '--json':
        flags.json = true;
        break;
      case '--strategy': {
        const value = inline ?? args[++i];
        const known = DEMO_STRATEGIES.find((k) => k === value);
        if (known === undefined) return `--strategy must be one of ${DEMO_STRATEGIES.join(', ')}, got "${value ?? ''}"`;
        flags.strategy = known;
        break;
      }
      case '--serve': {
        const value = optional();
        const n = value === undefined ? DEFAULT_SERVE_PORT : number(flag, value);
        if (typeof n === 'string') return n;
        if (!Number.isInteger(n) || n < 0 || n > 65535) return `--serve needs a port from 0 to 65535, got "${value}"`;
        flags.serve = n;
        break;
      }
      case '--inspect':
        flags.inspect = optional() ?? '';
        break;
      default:
        return `unknown option "${arg}"`;
    }
  }
  return flags;
}

/** `cutover demo`: the README's main job; exit 1 if an invocation was lost or the outcomes are wrong. */
export async function run(
  args: string[],
  io: DemoIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const flags = parse(args);
  if (typeof flags === 'string') {
    io.stderr.write(`cutover demo: ${flags}\n\n${USAGE}`);
    return 2;
  }

  let inspector: Inspector | undefined;
  try {
    inspector = inspectFromFlag(flags.inspect, {
      onUnavailable: (message) => void io.stderr.write(`cutover demo: ${message}\n`),
    });
  } catch (error) {
    if (!isCutoverError(error)) throw error;
    io.stderr.write(`cutover demo: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (inspector !== undefined && !flags.json) {
    io.stdout.write(
      `inspecting: streaming machine events to ${flags.inspect || DEFAULT_INSPECTOR_URL} (a @statelyai/inspect WebSocket bridge)
`,
    );
  }

  const controller = new AbortController();
  const signal = io.signal ?? controller.signal;
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    io.stderr.write('\ncutover demo: stopping (Ctrl-C again to force)\n');
    controller.abort();
  };
  if (io.signal === undefined) process.on('SIGINT', onSigint);

  const progress = flags.json ? undefined : createProgress(io.stdout);
  const options: DemoOptions = {
    signal,
    // Long enough between steps for the load to show every version answering.
    settleMs: flags.serve === undefined ? 1_000 : 3_000,
    ...(flags.hosts === undefined ? {} : { hosts: flags.hosts }),
    ...(flags.strategy === undefined ? {} : { strategy: flags.strategy }),
    ...(flags.rate === undefined ? {} : { rate: flags.rate }),
    ...(flags.serve === undefined ? {} : { serve: flags.serve }),
    ...(progress !== undefined
      ? { observer: progress }
      : flags.serve !== undefined
        ? // With --json stdout carries only the result; a person serving still needs the curl line.
          {
            observer: { note: (text: string) => void io.stderr.write(`${text}\n`), rollout() {}, host() {}, load() {} },
          }
        : {}),
    ...(inspector === undefined ? {} : { inspect: inspector.inspect }),
  };
  try {
    const result = await runDemo(options);
    progress?.stop();
    if (flags.json) io.stdout.write(`${JSON.stringify(demoJson(result))}\n`);
    else io.stdout.write(formatSummary(result, io.stdout.isTTY === true && process.env.NO_COLOR === undefined));
    if (!result.ok && flags.json) io.stderr.write(`cutover demo: ${result.problems.join('; ')}\n`);
    return result.ok ? 0 : 1;
  } catch (error) {
    progress?.stop();
    if (!isCutoverError(error)) throw error;
    io.stderr.write(`cutover demo: ${error.code}: ${error.message}\n`);
    return 1;
  } finally {
    inspector?.stop();
    process.off('SIGINT', onSigint);
  }
}
