// The built package (dist/) for tests that run it as a user would: `ensureBuilt()` runs scripts/prepare.mjs,
// which builds only when dist is older than a source (so under `bash .ci/run`, which builds first, it returns at
// once), one build at a time across test files. A failed build fails the test with tsup's output; nothing skips.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the package itself). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** How long a build may take on a busy machine before the test gives up. */
export const BUILD_TIMEOUT_MS = 10 * 60_000;

const LOCK = join(tmpdir(), `cutover-build-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.lock`);

/** Builds dist/ if it is stale; throws with the build's output if that fails. */
export async function ensureBuilt(): Promise<void> {
  await withLock(async () => {
    const result = await run(process.execPath, [join(ROOT, 'scripts', 'prepare.mjs')], ROOT, BUILD_TIMEOUT_MS);
    if (result.code !== 0) {
      throw new Error(`building dist/ failed (node scripts/prepare.mjs exited ${result.code}):\n${result.output}`);
    }
  });
}

/** One lock directory per checkout: mkdir is atomic, and a lock older than a build's timeout is stale. */
async function withLock(fn: () => Promise<void>): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const age = Date.now() - (statOrUndefined(LOCK)?.mtimeMs ?? Date.now());
      if (age > BUILD_TIMEOUT_MS) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() - started > BUILD_TIMEOUT_MS) throw new Error(`waited too long for ${LOCK}`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The result of a process run to completion. */
export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved, as a person would see them. */
  output: string;
}

/** Runs a process to completion (SIGKILL after `timeoutMs`, reported as signal `SIGKILL`). */
export function run(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output });
    });
  });
}

/**
 * A fresh project directory outside the repository, as a user's would be: `"type": "module"` and
 * `node_modules/cutover` pointing at this package (so `cutover` resolves to dist/ through its exports), plus
 * links to the named packages it imports itself (e.g. `xstate`).
 */
export async function userProject(links: readonly string[] = []): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cutover-user-'));
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'user-project', private: true, type: 'module' })}\n`,
  );
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'cutover'), 'dir');
  for (const name of links) symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
  return dir;
}
