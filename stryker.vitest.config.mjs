// The Vitest config of mutation runs (stryker.config.mjs points the vitest runner here): the project's own
// config with `include` narrowed to the test files of the module under test, which scripts/mutation.mjs passes
// in CUTOVER_MUTATION_TESTS (comma separated globs).
//
// Narrowing here rather than with Stryker's `testFiles` option is deliberate: with `testFiles`, Stryker 9.6
// activates static mutants (module-level constants such as a Set or a RegExp) only after the module was
// imported, so they are reported as survived whatever the tests do (stryker-js#6144).
import base from './vitest.config';

const tests = (process.env.CUTOVER_MUTATION_TESTS ?? '').split(',').filter((glob) => glob !== '');

export default tests.length === 0 ? base : { ...base, test: { ...base.test, include: tests } };
