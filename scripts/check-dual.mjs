#!/usr/bin/env node
// After `npm run build`: every entry point of package.json `exports` loads as ESM and as CJS through the
// package's self-reference, and a CutoverError made by one copy is recognised by the other (the
// `Symbol.for('cutover.error')` brand), although `instanceof` cannot see across the two copies.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
const require = createRequire(resolve(root, 'package.json'));
const failures = [];
const fail = (message) => failures.push(message);

if (!existsSync(resolve(root, 'dist'))) {
  process.stderr.write('check-dual: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}

for (const [key, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue; // ./package.json
  const name = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`;
  for (const file of [target.import.types, target.import.default, target.require.types, target.require.default]) {
    if (!existsSync(resolve(root, file))) fail(`${name}: ${file} is missing`);
  }
  try {
    await import(name);
  } catch (e) {
    fail(`${name}: ESM import failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    require(name);
  } catch (e) {
    fail(`${name}: CJS require failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const esm = await import(pkg.name);
const cjs = require(pkg.name);
if (esm.CutoverError === cjs.CutoverError)
  fail('ESM and CJS builds share one CutoverError class; the check proves nothing');

const pairs = [
  ['ESM', esm, 'CJS', cjs],
  ['CJS', cjs, 'ESM', esm],
];
for (const [fromName, from, toName, to] of pairs) {
  const err = new from.CutoverError('store.conflict', 'stale revision', { hostId: 'h1' });
  if (!to.isCutoverError(err)) fail(`${toName} isCutoverError does not recognise an error made by ${fromName}`);
  if (!to.hasCode(err, 'store.conflict')) fail(`${toName} hasCode does not recognise an error made by ${fromName}`);
  if (to.toCutoverError(err) !== err)
    fail(`${toName} toCutoverError wraps an error made by ${fromName} instead of keeping it`);
  if (to.isCutoverError(new Error('plain'))) fail(`${toName} isCutoverError accepts a plain Error`);
}

for (const [bin, file] of Object.entries(pkg.bin ?? {})) {
  const path = resolve(root, file);
  if (!existsSync(path)) {
    fail(`bin ${bin}: ${file} is missing`);
    continue;
  }
  if (!readFileSync(path, 'utf8').startsWith('#!/usr/bin/env node')) fail(`bin ${bin}: ${file} has no shebang`);
  try {
    execFileSync(process.execPath, [path, '--help'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    fail(`bin ${bin}: \`${file} --help\` failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

for (const f of failures) process.stderr.write(`check-dual: ${f}\n`);
if (failures.length > 0) process.exit(1);
process.stdout.write(
  `check-dual: ${Object.keys(pkg.exports).length - 1} entry points load as ESM and CJS; errors cross both ways\n`,
);
