// Real `cutover` processes for end-to-end tests: `node --import tsx src/cli/main.ts …` from the repo root.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = 'src/cli/main.ts';

/** A long-running CLI process (host, orchestrator) with its output kept for assertions and failures. */
export interface CliProcess {
  readonly name: string;
  readonly pid: number;
  readonly running: boolean;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first output line matching `pattern` (already written or still to come). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every process started here, so a test file can kill what is left in afterAll. */
const live = new Set<CliProcess>();
const children = new Set<ChildProcess>();
// A test worker that exits without afterAll (a crash, a timeout) must not leave hosts behind.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Options of a CLI process: extra environment variables (others are inherited but `CUTOVER_*` settings, so a developer's own never leak in). */
export interface CliOptions {
  env?: Record<string, string>;
}

/** The environment of a CLI process: this one's without `CUTOVER_*` variables, plus `extra`. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_NO_WARNINGS: '1' };
  for (const [k, v] of Object.entries(process.env))
    if ((!k.startsWith('CUTOVER_') || k === 'CUTOVER_DEBUG') && v !== undefined) env[k] = v;
  return { ...env, NODE_NO_WARNINGS: '1', ...extra };
}

/** The command line that runs `cutover` from the repo root (for shell pipelines). */
export const CLI_COMMAND = `${JSON.stringify(process.execPath)} --import tsx ${MAIN}`;
/** The repo root, where CLI processes run. */
export const CLI_ROOT = ROOT;

/** Starts `cutover <args>` in the background. */
export function startCli(name: string, args: readonly string[], options: CliOptions = {}): CliProcess {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(options.env),
  });
  children.add(child);
  let text = '';
  const waiters = new Set<() => void>();
  const keep = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      running = false;
      live.delete(proc);
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    });
  });
  const proc: CliProcess = {
    name,
    pid: child.pid ?? -1,
    get running() {
      return running;
    },
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = text.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            done();
            resolve(line);
          } else if (!running) {
            done();
            reject(new Error(`${name} exited before printing ${pattern}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    exited,
    async kill(signal = 'SIGTERM') {
      if (running) child.kill(signal);
      return exited;
    },
  };
  live.add(proc);
  return proc;
}

/** The result of a CLI command run to completion. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cutover <args>` to completion (killed after `timeoutMs`). */
export function runCli(args: readonly string[], timeoutMs = 90_000, options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cliEnv(options.env),
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `cutover ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Kills every process still running (SIGKILL) and waits for them. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
}
