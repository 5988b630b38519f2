// Child processes of the NATS benchmarks (hostProcess.mjs, orchestratorProcess.mjs): started as plain `node`
// with an IPC channel, asked for figures by message, and always ended: `stopChildren` stops them or kills them,
// and a process exit kills whatever is left (the scripts also exit when their IPC channel closes).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Longest a child may take to answer one message (start, a deploy) before the run fails instead of hanging. */
export const STEP_TIMEOUT_MS = 60_000;

/** The path of a script in this directory. */
export const fleetScript = (name: string): string => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** An IPC message of the fleet scripts: a `type` and figures. */
export interface FleetMessage {
  type: string;
  [field: string]: unknown;
}

/** A child process and the last 8 kB it wrote, for the error when it fails. */
export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<void>;
}

const live = new Set<Child>();
const reap = () => {
  for (const c of live) if (running(c)) c.proc.kill('SIGKILL');
};

/** Starts `file` under plain `node` (no vitest loaders) with `env` added to this process's environment. */
export function startChild(name: string, file: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.once('error', () => resolve());
  });
  const child: Child = { name, proc, output: () => output, exited };
  // A worker that exits without stopping its children (killed, crashed) must not leave them behind.
  if (live.size === 0) process.once('exit', reap);
  live.add(child);
  void exited.then(() => {
    live.delete(child);
    if (live.size === 0) process.off('exit', reap);
  });
  return child;
}

export const running = (child: Child): boolean => child.proc.exitCode === null && child.proc.signalCode === null;

/** The child's next message of `type`; rejects when it reports an error, exits first, or takes too long. */
export function nextMessage(child: Child, type: string): Promise<FleetMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`${child.name}: no "${type}" within ${STEP_TIMEOUT_MS} ms:\n${child.output()}`)),
      STEP_TIMEOUT_MS,
    );
    const onMessage = (message: FleetMessage) => {
      if (message.type === 'error') done(new Error(`${child.name}: ${String(message.message)}`));
      else if (message.type === type) done(undefined, message);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${child.name} exited (code ${code}, signal ${signal}) before "${type}":\n${child.output()}`));
    const done = (err: Error | undefined, message?: FleetMessage) => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
      if (err !== undefined || message === undefined) reject(err);
      else resolve(message);
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', onExit);
  });
}

/** Sends `message` to a running child; throws (with its output) when it is gone. */
export function send(child: Child, message: FleetMessage): void {
  if (!running(child) || !child.proc.connected) throw new Error(`${child.name} is not running:\n${child.output()}`);
  child.proc.send(message);
}

/** Asks each child to stop, kills whoever has not exited after `graceMs`, and resolves once all have exited. */
export async function stopChildren(children: readonly Child[], graceMs = 10_000): Promise<void> {
  for (const c of children) if (running(c) && c.proc.connected) c.proc.send({ type: 'stop' });
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(children.map((c) => c.exited)),
    new Promise((resolve) => {
      timer = setTimeout(resolve, graceMs);
    }),
  ]);
  clearTimeout(timer);
  for (const c of children) if (running(c)) c.proc.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
}
