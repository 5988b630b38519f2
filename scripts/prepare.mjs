// `prepare` builds dist so `npm ci && npx cutover demo` works on a fresh clone. npx runs `prepare` again
// when it first links the project, so skip the (slow) build when dist is already newer than every source.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

const result = spawnSync(process.execPath, [join(root, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--silent'], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
