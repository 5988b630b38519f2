import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { componentMachine } from '../../machines/component';
import { rolloutMachine } from '../../machines/rollout';
import { run } from '../../src/cli/commands/diagram';
import { toDot } from '../../src/inspect/toDot';
import { toMermaid } from '../../src/inspect/toMermaid';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the command in-process and returns its exit code and what it printed. */
async function diagram(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await run(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('cutover diagram', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints the Mermaid diagram of a machine by default', async () => {
    expect(await diagram('component')).toEqual({ code: 0, stdout: toMermaid(componentMachine), stderr: '' });
    expect(await diagram('rollout', '--format', 'mermaid')).toEqual({
      code: 0,
      stdout: toMermaid(rolloutMachine),
      stderr: '',
    });
  });

  it('prints DOT with --format dot', async () => {
    expect(await diagram('rollout', '--format=dot')).toEqual({ code: 0, stdout: toDot(rolloutMachine), stderr: '' });
  });

  it('refuses an unknown machine, format or option with usage exit code 2', async () => {
    const unknown = await diagram('scaler');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown machine "scaler" (component or rollout)');
    expect((await diagram('component', '--format', 'svg')).stderr).toContain('unknown format "svg"');
    expect((await diagram('component', '--verbose')).code).toBe(2);
    expect((await diagram('component', '--out')).stderr).toContain('--out needs a value');
    expect((await diagram()).code).toBe(2);
    expect((await diagram('component', 'rollout')).code).toBe(2);
  });

  it('writes the diagram to --out through the real CLI', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cutover-diagram-'));
    try {
      const file = join(dir, 'component.dot');
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'src/cli/main.ts', 'diagram', 'component', '--format', 'dot', '--out', file],
          { cwd: repoRoot, timeout: 60_000 },
          (error, _stdout, stderr) =>
            resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr }),
        );
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`wrote dot of "component" to ${file}`);
      expect(await readFile(file, 'utf8')).toBe(toDot(componentMachine));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
