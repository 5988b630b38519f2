import { rmSync } from 'node:fs';
import { defineConfig } from 'tsup';

// One entry per package.json `exports` key (output path without extension → source file).
const entries = {
  index: 'src/index.ts',
  'machines/index': 'machines/index.ts',
  'testing/index': 'src/testing/index.ts',
  'adapters/memory/index': 'adapters/memory/index.ts',
  'adapters/nats/index': 'adapters/nats/index.ts',
  'adapters/wasm/index': 'adapters/wasm/index.ts',
  'adapters/providers/index': 'adapters/providers/index.ts',
} as const;

export default defineConfig({
  // The bin rides in the same build so it shares chunks (one copy of each module) with the library.
  entry: { ...entries, 'cli/main': 'src/cli/main.ts' },
  format: ['esm', 'cjs'],
  // One declaration pass emits both .d.ts and .d.cts (a second config would type-check everything twice).
  dts: { entry: entries },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  splitting: true,
  treeshake: false,
  clean: true,
  // Adapters import the public surface as `cutover`: at runtime that resolves to dist through the package's
  // self-reference, so an adapter and its user share one copy. Optional peers load only when used.
  external: [
    'xstate',
    /^xstate\//,
    'zod',
    /^zod\//,
    'yaml',
    '@statelyai/inspect',
    /^@nats-io\//,
    '@bytecodealliance/jco-transpile',
    'ws',
    'cutover',
    /^cutover\//,
  ],
  // The bin is ESM only (package.json `bin` → dist/cli/main.js); drop the CJS copy the shared entry list makes.
  async onSuccess() {
    for (const file of ['dist/cli/main.cjs', 'dist/cli/main.cjs.map']) rmSync(file, { force: true });
  },
});
