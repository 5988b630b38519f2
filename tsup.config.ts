import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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
  // No source maps in the package: the output is readable, unminified ESM/CJS next to the .d.ts files.
  sourcemap: false,
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
  // The bin is ESM only (package.json `bin` → dist/cli/main.js): drop the CJS copy the shared entry list makes,
  // and every CJS chunk only it reaches (its commands), so the package carries one copy of the CLI.
  async onSuccess() {
    const keep = reachableCjs(Object.keys(entries).map((name) => `dist/${name}.cjs`));
    for (const file of listFiles('dist')) {
      if (file.endsWith('.cjs') && !keep.has(file)) rmSync(file, { force: true });
    }
  },
});

/** Every .cjs file the given entries reach through `require('./…')`, the entries included. */
function reachableCjs(roots: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/require\((['"])(\.{1,2}\/[^'"]+\.cjs)\1\)/g)) {
      visit(relative('.', join(dirname(file), m[2] ?? '')));
    }
  };
  for (const root of roots) visit(root);
  return seen;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(join(dir, d.name)) : [join(dir, d.name)],
  );
}
