#!/usr/bin/env node
// `npm run mutation -- <file> [--tests <glob>]... [--concurrency <n>] [-- <stryker options>]`
// Mutation-tests ONE source file with StrykerJS against the unit test files that target it (see
// docs/mutation.md). Reports go to reports/mutation/<file>.html|json. Not part of `npm test` or CI.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Module → the test files that specify it. Keep these narrow: every mutant runs the tests that reach it,
 * and a run over the module's own unit tests is what the score is meant to measure (and stays in minutes).
 * A `<name>*.test.ts` glob picks up new test files written beside the existing one.
 */
const TARGETS = {
  'machines/rollout/plan.ts': ['test/machines/plan*.test.ts'],
  'machines/rollout/guardrails.ts': ['test/machines/guardrails*.test.ts'],
  'machines/rollout/analysisVerdict.ts': ['test/machines/analysisVerdict*.test.ts'],
  'machines/rollout/canary.ts': ['test/machines/canary*.test.ts'],
  // The machines' generated path suites (rollout.paths, component.model) build their paths at import, which runs
  // nearly every guard and action outside a test: Stryker then treats each mutant as static and replays every
  // path for it (hours on 2 cores). The machine-level unit files below specify the same behaviour in minutes.
  'machines/rollout/rolloutMachine.ts': [
    'test/machines/rollout.test.ts',
    'test/machines/rollout.mutation*.test.ts',
    'test/machines/blueGreen*.test.ts',
  ],
  'machines/component/componentMachine.ts': [
    'test/machines/component.test.ts',
    'test/machines/component.behaviour*.test.ts',
  ],
  'src/host/gate.ts': ['test/host/gate*.test.ts'],
  'src/host/histogram.ts': ['test/host/histogram*.test.ts'],
};

function usage(message) {
  if (message) console.error(`mutation: ${message}\n`);
  console.error(
    [
      'usage: npm run mutation -- <file> [--tests <glob>]... [--concurrency <n>] [-- <stryker options>]',
      '',
      '  <file>             the one source file to mutate, e.g. machines/rollout/plan.ts',
      '  --tests <glob>     test files to run (default: the mapping in scripts/mutation.mjs, else',
      '                     test/**/<name>*.test.ts)',
      '  --concurrency <n>  Stryker test runners in parallel (default 1: the machine is shared)',
      '  -- ...             passed to `stryker run` as they are (e.g. -- --mutate machines/rollout/plan.ts:57-70)',
      '',
      `known modules: ${Object.keys(TARGETS).join(', ')}`,
    ].join('\n'),
  );
  process.exit(message ? 2 : 0);
}

const args = process.argv.slice(2);
const split = args.indexOf('--');
const own = split === -1 ? args : args.slice(0, split);
const passThrough = split === -1 ? [] : args.slice(split + 1);
let file;
const tests = [];
let concurrency = '1';
for (let i = 0; i < own.length; i++) {
  const a = own[i];
  if (a === '-h' || a === '--help') usage();
  else if (a === '--tests') tests.push(own[++i] ?? usage('--tests needs a glob'));
  else if (a === '--concurrency') concurrency = own[++i] ?? usage('--concurrency needs a number');
  else if (a.startsWith('-')) usage(`unknown option ${a} (put Stryker options after --)`);
  else if (file === undefined) file = a;
  else usage(`one file at a time (got ${file} and ${a})`);
}
if (file === undefined) usage('which file? e.g. npm run mutation -- machines/rollout/plan.ts');

const rel = relative(root, resolve(file)).split(sep).join('/');
if (!existsSync(join(root, rel))) usage(`no such file: ${rel}`);

function guessTests(module) {
  const name = basename(module, extname(module));
  return [`test/**/${name}*.test.ts`];
}
const testFiles = tests.length > 0 ? tests : (TARGETS[rel] ?? guessTests(rel));
const reportName = rel.replace(/\.[cm]?[jt]sx?$/, '').replace(/[/\\]/g, '.');

console.log(`mutation: ${rel} against ${testFiles.join(', ')} (concurrency ${concurrency})`);
const started = Date.now();
// Stryker's own entry point, run by this Node (no shell, no .cmd shim on Windows).
const stryker = join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js');
if (!existsSync(stryker)) usage('StrykerJS is not installed: run `npm install` (it is a devDependency)');
const result = spawnSync(
  process.execPath,
  [stryker, 'run', 'stryker.config.mjs', '--mutate', rel, '--concurrency', concurrency, ...passThrough],
  {
    cwd: root,
    stdio: 'inherit',
    // The test files go to Vitest (stryker.vitest.config.mjs), not to Stryker's --testFiles: see there why.
    env: { ...process.env, CUTOVER_MUTATION_NAME: reportName, CUTOVER_MUTATION_TESTS: testFiles.join(',') },
  },
);
const seconds = Math.round((Date.now() - started) / 1000);
console.log(`mutation: ${rel} took ${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`);
console.log(`mutation: report reports/mutation/${reportName}.html (and .json)`);
process.exit(result.status ?? 1);
