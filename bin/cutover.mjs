#!/usr/bin/env node
// The `cutover` command (package.json `bin`). An installed package has dist/ and this only loads the CLI. In a
// clone of the repository (scripts/prepare.mjs is there) a missing dist/ is built first, so `npm ci && npx
// cutover demo` works without an install script — which npm would flag to everyone installing the package.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
const prepare = new URL('../scripts/prepare.mjs', import.meta.url);
if (!existsSync(main) && existsSync(prepare)) {
  process.stderr.write('cutover: building dist/ first (once per clone; `npm run build` after changes)\n');
  const built = spawnSync(process.execPath, [fileURLToPath(prepare)], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
await import(main.href);
