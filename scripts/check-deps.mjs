#!/usr/bin/env node
// Enforces the dependency rules of DESIGN §2 by reading every import, export-from, dynamic import() and
// require() specifier (TypeScript's own pre-processor, so comments and strings do not confuse it):
//   machines/**  → only `xstate`, src/protocol/**, src/errors, and machines/** itself
//   src/**       → never adapters/** nor `cutover/adapters/*`, except the composition roots src/cli, src/testing
//   src/**       → never src/testing/** nor `cutover/testing` (the test kit), except those same composition roots
//   adapters/**  → the package only as `cutover` / `cutover/...`, never by a relative path into src/ or machines/
// Prints `file:line: message` per violation and exits 1 if there is any.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = /\.(?:[cm]?[jt]sx?)$/;
const COMPOSITION_ROOTS = ['src/cli/', 'src/testing/'];

/** Repo-relative, forward-slash path. */
const rel = (abs) => relative(root, abs).split(sep).join('/');

function* walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const abs = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist') yield* walk(abs);
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      yield abs;
    }
  }
}

/** Every module specifier in `text` with its 1-based line. */
function specifiers(text) {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => ({
    spec: f.fileName,
    line: text.slice(0, f.pos).split('\n').length,
  }));
}

const isRelative = (spec) => spec.startsWith('./') || spec.startsWith('../');
const under = (path, folder) => path === folder || path.startsWith(`${folder}/`);
/** `src/errors`, `src/errors.ts`, `src/errors/index.ts` all name the errors module. */
const isErrorsModule = (path) => /^src\/errors(?:\.[cm]?[jt]s|\/.*)?$/.test(path);

/** Returns a message when `spec` imported from `file` breaks a rule, else undefined. */
function check(file, spec) {
  const target = isRelative(spec) ? rel(resolve(root, dirname(file), spec)) : undefined;
  if (under(file, 'machines')) {
    if (target === undefined) {
      return spec === 'xstate' ? undefined : `machines may import only "xstate" among packages, not "${spec}"`;
    }
    if (under(target, 'machines') || under(target, 'src/protocol') || isErrorsModule(target)) return undefined;
    return `machines may import only src/protocol and src/errors, not "${spec}" (${target})`;
  }
  if (under(file, 'src')) {
    if (COMPOSITION_ROOTS.some((r) => file.startsWith(r))) return undefined;
    if (target !== undefined && under(target, 'adapters')) {
      return `src must not import adapters ("${spec}"); only src/cli and src/testing may`;
    }
    if (spec === 'cutover/adapters' || spec.startsWith('cutover/adapters/')) {
      return `src must not import adapters ("${spec}"); only src/cli and src/testing may`;
    }
    if (
      (target !== undefined && under(target, 'src/testing')) ||
      spec === 'cutover/testing' ||
      spec.startsWith('cutover/testing/')
    ) {
      return `src must not import the test kit src/testing ("${spec}"); only src/cli and src/testing may`;
    }
    return undefined;
  }
  if (under(file, 'adapters')) {
    if (target !== undefined && !under(target, 'adapters')) {
      return `adapters must import the package as "cutover" or "cutover/...", not by relative path "${spec}" (${target})`;
    }
    return undefined;
  }
  return undefined;
}

const violations = [];
let files = 0;
for (const folder of ['machines', 'src', 'adapters']) {
  for (const abs of walk(join(root, folder))) {
    files += 1;
    const file = rel(abs);
    for (const { spec, line } of specifiers(readFileSync(abs, 'utf8'))) {
      const message = check(file, spec);
      if (message !== undefined) violations.push(`${file}:${line}: ${message}`);
    }
  }
}

for (const v of violations) process.stderr.write(`${v}\n`);
if (violations.length > 0) {
  process.stderr.write(`check-deps: ${violations.length} dependency rule violation(s) in ${files} files\n`);
  process.exit(1);
}
process.stdout.write(`check-deps: ${files} files follow the dependency rules\n`);
