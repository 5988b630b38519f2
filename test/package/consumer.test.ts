// The package as a consumer gets it: `npm pack` of the built package, installed into an empty project
// (from npm's cache where it can, the registry otherwise), then its bin and both module formats used there.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILD_TIMEOUT_MS, ROOT, ensureBuilt, run } from '../readme/builtPackage';

interface PackResult {
  filename: string;
  files: { path: string }[];
}

const NPM_MS = 120_000;

describe('the packed package in an empty project', () => {
  let project: string;
  let packed: PackResult;
  let install: string;

  beforeAll(
    async () => {
      await ensureBuilt();
      const dest = await mkdtemp(join(tmpdir(), 'cutover-pack-'));
      // dist is built above; --ignore-scripts keeps `npm pack` from running prepare a second time.
      const pack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], ROOT, NPM_MS);
      expect(pack.code, pack.output).toBe(0);
      const [result] = JSON.parse(pack.stdout) as PackResult[];
      if (!result) throw new Error(`npm pack printed no result:\n${pack.output}`);
      packed = result;
      project = await mkdtemp(join(tmpdir(), 'cutover-consumer-'));
      await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true })}\n`);
      const added = await run(
        'npm',
        ['install', join(dest, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'warn'],
        project,
        NPM_MS,
      );
      expect(added.code, added.output).toBe(0);
      install = added.output;
    },
    BUILD_TIMEOUT_MS + 2 * NPM_MS,
  );

  it('holds dist, README and LICENSE, without source maps or a CommonJS copy of the CLI', () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli/main.js']));
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files).not.toContain('dist/cli/main.cjs');
    console.log(`${packed.filename}: ${files.length} files`);
  });

  it('installs without warnings (optional peers stay optional, nothing to prepare)', () => {
    expect(install).not.toMatch(/warn|prepare/i);
  });

  it('runs the CLI through npx: --help, and a short demo with --json', async () => {
    const help = await run('npx', ['--no-install', 'cutover', '--help'], project, 60_000);
    expect(help.code, help.output).toBe(0);
    expect(help.stdout).toMatch(/^usage: cutover <command>/);
    const demo = await run(
      'npx',
      ['--no-install', 'cutover', 'demo', '--json', '--hosts', '2', '--rate', '100'],
      project,
      90_000,
    );
    expect(demo.code, demo.output).toBe(0);
    const result = JSON.parse(demo.stdout) as { rollouts: { outcome: string }[]; invocations: { failed: number } };
    expect(result.rollouts.map((r) => r.outcome)).toEqual(['completed', 'rolledBack']);
    expect(result.invocations.failed).toBe(0);
  }, 150_000);

  it('loads with import and with require, the main entry and a subpath', async () => {
    const esm = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createHost, Strategy } from 'cutover'; import { createMemoryBus } from 'cutover/adapters/memory';" +
          ' console.log(typeof createHost, typeof createMemoryBus, Strategy.parse({ type: "rolling" }).type);',
      ],
      project,
      30_000,
    );
    expect(esm.code, esm.output).toBe(0);
    expect(esm.stdout).toBe('function function rolling\n');
    const cjs = await run(
      process.execPath,
      [
        '-e',
        "const { createHost, Strategy } = require('cutover'); const { createMemoryBus } = require('cutover/adapters/memory');" +
          ' console.log(typeof createHost, typeof createMemoryBus, Strategy.parse({ type: "rolling" }).type);',
      ],
      project,
      30_000,
    );
    expect(cjs.code, cjs.output).toBe(0);
    expect(cjs.stdout).toBe('function function rolling\n');
    // The package's own version is the one installed.
    const installed = JSON.parse(await readFile(join(project, 'node_modules/cutover/package.json'), 'utf8')) as {
      version: string;
    };
    expect(packed.filename).toBe(`cutover-${installed.version}.tgz`);
  });
});
