// Builds dist/ when it is older than a source, else does nothing: `bash .ci/run`, the tests that need the built
// package (test/readme/builtPackage.ts) and bin/cutover.mjs (a clone's first `npx cutover`) call it. It is not
// an npm `prepare` script: npm flags install scripts to everyone who installs the package.
// It prints nothing unless it fails. Where tsup is not installed (no devDependencies) it builds nothing: a dist
// that exists is used as it is.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const marker = join(root, 'dist', 'index.js');

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

const sources = ['src', 'machines', 'adapters', 'package.json', 'tsup.config.ts'].map((p) => join(root, p));
const fresh = existsSync(marker) && statSync(marker).mtimeMs > Math.max(...sources.filter(existsSync).map(newest));
if (fresh && process.env.CUTOVER_FORCE_BUILD !== '1') process.exit(0);

let tsup;
try {
  tsup = join(
    dirname(createRequire(join(root, 'package.json')).resolve('tsup/package.json')),
    'dist',
    'cli-default.js',
  );
} catch {
  if (existsSync(marker)) process.exit(0);
  process.stderr.write('cutover prepare: dist/ is missing and tsup is not installed: run `npm ci` in the repository\n');
  process.exit(1);
}
const result = spawnSync(process.execPath, [tsup, '--silent'], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
