import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Most specific first: `cutover` alone must not swallow `cutover/...`.
    alias: [
      { find: /^cutover\/machines$/, replacement: here('./machines/index.ts') },
      { find: /^cutover\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^cutover\/adapters\/(memory|nats|wasm|providers)$/, replacement: here('./adapters/$1/index.ts') },
      { find: /^cutover$/, replacement: here('./src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    benchmark: { include: ['test/bench/**/*.bench.ts'] },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Three at once on two cores: the longest files (NATS outages, takeovers, clusters) mostly wait on real
    // time, so they overlap instead of adding up.
    maxWorkers: 3,
    coverage: { provider: 'v8', include: ['src/**', 'machines/**', 'adapters/**'] },
  },
});
