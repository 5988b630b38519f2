// StrykerJS mutation testing: `npm run mutation -- <file>` (see docs/mutation.md). Not part of `npm test` or CI.
// scripts/mutation.mjs passes `--mutate` and the module's test files (CUTOVER_MUTATION_TESTS, read by
// stryker.vitest.config.mjs) for one module; run directly, Stryker mutates nothing (`mutate` is empty on
// purpose) rather than every file against the whole suite.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Set by scripts/mutation.mjs so each module keeps its own report (reports/mutation/<name>.html).
const name = process.env.CUTOVER_MUTATION_NAME ?? 'mutation';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // The project's Vitest config, narrowed to the test files of the module under test (see that file).
  vitest: { configFile: 'stryker.vitest.config.mjs', related: true },
  // Per-test coverage: each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  mutate: [],
  // The machine is shared (2 cores): one test runner unless --concurrency says otherwise.
  concurrency: 1,
  // The sandbox copy lives outside the working tree, so lint, typecheck and check-deps never see it,
  // and it is removed even after a failed run.
  tempDirName: join(tmpdir(), 'cutover-stryker'),
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'coverage', 'reports', '.stryker-tmp', 'tmp'],
  // A mutant that never finishes is cut off after this (on top of the test's own time). Endless loops are
  // cut off sooner by Stryker's hit counter; the margin is for a busy shared machine, where a slow import
  // would otherwise turn a killed mutant into a timeout. Tests must kill mutants by assertion, not by timeout.
  timeoutMS: 10000,
  timeoutFactor: 1.5,
  dryRunTimeoutMinutes: 5,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  thresholds: { high: 85, low: 75, break: null },
};
