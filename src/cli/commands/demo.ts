import { isCutoverError } from '../../errors';
import { type CliTelemetry, startCliTelemetry } from '../telemetry/options';
import { DEFAULT_INSPECTOR_URL, type Inspector, inspectFromFlag } from '../../inspect';
import {
  type CommandSpec,
  EXIT,
  type OptionTable,
  UsageError,
  type Values,
  defineCommand,
  usageFailure,
} from '../args';
import { createProgress, type ProgressOutput } from '../demo/progress';
import { DEMO_STRATEGIES, type DemoOptions, type DemoStrategy, runDemo } from '../demo/runDemo';
import { demoJson, formatSummary } from '../demo/summary';

/** wasmCloud's default HTTP port; 8080 is left to the inspector bridge. */
const DEFAULT_SERVE_PORT = 8000;

/** Where the command writes; tests pass their own. */
export interface DemoIo {
  stdout: ProgressOutput;
  stderr: ProgressOutput;
  /** Ends `--serve`; the command wires SIGINT to it when none is given. */
  signal?: AbortSignal;
}

/** Where `--metrics` without a value serves. */
const DEFAULT_METRICS_LISTEN = '127.0.0.1:9464';

const OPTIONS = {
  strategy: {
    type: 'string',
    value: 'S',
    help: 'rolling batches (default), a canary (1 host and an error-rate analysis, 50%, all) or blue-green',
  },
  hosts: { type: 'string', value: 'N', help: 'hosts in the lattice (default 5, at least 2)' },
  rate: { type: 'string', value: 'PER_SECOND', help: 'invocations per second over all hosts (default 2000)' },
  json: { type: 'boolean', help: 'print one JSON object with the results instead of progress and summary' },
  serve: {
    type: 'string',
    value: 'PORT',
    optionalValue: true,
    help: `keep the lattice up behind http://127.0.0.1:PORT (default ${DEFAULT_SERVE_PORT}) until Ctrl-C`,
  },
  inspect: {
    type: 'string',
    value: 'URL',
    optionalValue: true,
    help: 'stream the machines to the Stately inspector (default ws://localhost:8080)',
  },
  metrics: {
    type: 'string',
    value: 'HOST:PORT',
    optionalValue: true,
    help: `serve Prometheus metrics (OpenTelemetry) on http://HOST:PORT/metrics (default ${DEFAULT_METRICS_LISTEN})`,
  },
} as const satisfies OptionTable;

/** `cutover demo`'s spec (help and docs/cli.md). */
export const spec: CommandSpec = {
  name: 'demo',
  summary: 'roll real wasm v1 → v2 → v3 across in-memory hosts under load',
  description:
    'Runs a lattice of in-memory hosts with real WebAssembly, rolls out v2 (completes) and v3 (fails on\n' +
    'one host of the second batch and rolls back) under a steady invocation load, and prints what happened.\n' +
    'Exit 0 when both outcomes are right and no invocation was lost; 130 on Ctrl-C.',
  options: OPTIONS,
};

interface Flags {
  strategy?: DemoStrategy;
  hosts?: number;
  rate?: number;
  json: boolean;
  serve?: number;
  inspect?: string;
  metrics?: string;
}

function flagsOf(values: Values<typeof OPTIONS>): Flags {
  const flags: Flags = { json: values.json === true };
  const number = (flag: string, value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} needs a number, got "${value}"`);
    return n;
  };
  if (values.hosts !== undefined) {
    const n = number('hosts', values.hosts);
    if (!Number.isInteger(n) || n < 2 || n > 100)
      throw new UsageError(`--hosts must be a whole number from 2 to 100, got "${n}"`);
    flags.hosts = n;
  }
  if (values.rate !== undefined) {
    const n = number('rate', values.rate);
    if (n < 0 || n > 100_000) throw new UsageError(`--rate must be from 0 to 100000 per second, got "${n}"`);
    flags.rate = n;
  }
  if (values.strategy !== undefined) {
    const known = DEMO_STRATEGIES.find((k) => k === values.strategy);
    if (known === undefined)
      throw new UsageError(`--strategy must be one of ${DEMO_STRATEGIES.join(', ')}, got "${values.strategy}"`);
    flags.strategy = known;
  }
  if (values.serve !== undefined) {
    const n = values.serve === '' ? DEFAULT_SERVE_PORT : number('serve', values.serve);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new UsageError(`--serve needs a port from 0 to 65535, got "${values.serve}"`);
    flags.serve = n;
  }
  if (values.inspect !== undefined) flags.inspect = values.inspect;
  if (values.metrics !== undefined) flags.metrics = values.metrics === '' ? DEFAULT_METRICS_LISTEN : values.metrics;
  return flags;
}

/** `cutover demo`: the README's main job; exit 1 if an invocation was lost or the outcomes are wrong. */
export async function run(
  args: string[],
  io: DemoIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  return defineCommand(spec as CommandSpec<typeof OPTIONS>, ({ values }) => demo(flagsOf(values), io)).run(args, io);
}

async function demo(flags: Flags, io: DemoIo): Promise<number> {
  let inspector: Inspector | undefined;
  try {
    inspector = inspectFromFlag(flags.inspect, {
      onUnavailable: (message) => void io.stderr.write(`cutover demo: ${message}\n`),
    });
  } catch (error) {
    if (!isCutoverError(error)) throw error;
    return usageFailure(spec, error.message, io);
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
    // Forced: end any colored or half-written line before leaving.
    if (interrupts > 1) {
      io.stdout.write('\x1b[0m\n');
      process.exit(EXIT.interrupted);
    }
    io.stderr.write('\ncutover demo: stopping after this step (Ctrl-C again to force)\n');
    controller.abort();
  };
  if (io.signal === undefined) process.on('SIGINT', onSigint);

  let telemetry: CliTelemetry | undefined;
  try {
    telemetry = await startCliTelemetry({ metrics: flags.metrics });
  } catch (error) {
    if (!isCutoverError(error)) throw error;
    return usageFailure(spec, error.message, io);
  }
  if (telemetry.metrics !== undefined) {
    (flags.json ? io.stderr : io.stdout).write(`metrics: scrape ${telemetry.metrics.url}\n`);
  }
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
    if (interrupts > 0) {
      io.stderr.write('cutover demo: interrupted\n');
      return EXIT.interrupted;
    }
    if (flags.json) io.stdout.write(`${JSON.stringify(demoJson(result))}\n`);
    else io.stdout.write(formatSummary(result, io.stdout.isTTY === true && process.env.NO_COLOR === undefined));
    if (!result.ok && flags.json) io.stderr.write(`cutover demo: ${result.problems.join('; ')}\n`);
    return result.ok ? 0 : 1;
  } catch (error) {
    progress?.stop();
    if (interrupts > 0) {
      io.stderr.write('cutover demo: interrupted\n');
      return EXIT.interrupted;
    }
    if (!isCutoverError(error)) throw error;
    io.stderr.write(`cutover demo: ${error.code}: ${error.message}\n`);
    return 1;
  } finally {
    await telemetry.close();
    inspector?.stop();
    process.off('SIGINT', onSigint);
  }
}
