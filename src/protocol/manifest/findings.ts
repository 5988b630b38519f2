// How the manifest reader reports what it finds: paths written the way a reader of the YAML names them
// (`spec.components[1].name`), issues collected so every problem is reported at once, warnings kept as
// `path: message` lines, and the one `manifest.invalid` error that carries the issues. It owns the wording
// and order of nothing but paths; it must not decide what is an issue or a warning (the rules do).
import type { z } from 'zod';
import { CutoverError, type Issue } from '../../errors';

/** One step of a path into the manifest document: a key or an array index. */
export type PathPart = string | number;

/** `['spec', 'components', 1, 'name']` → `spec.components[1].name`; odd keys are quoted in brackets. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Throws `manifest.invalid` naming the first three issues and carrying them all. */
export function fail(issues: Issue[]): never {
  const first = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length > 3 ? `; and ${issues.length - 3} more` : '';
  throw new CutoverError('manifest.invalid', `invalid manifest: ${first.join('; ')}${more}`, { issues });
}

/** A zod error's issues, their paths under `prefix` and their messages lower-cased. */
export function zodIssues(error: z.ZodError, prefix: readonly PathPart[]): Issue[] {
  return error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message.toLowerCase() }));
}

/** The issues and warnings of one manifest, in the order they were found. */
export interface Findings {
  readonly issues: Issue[];
  readonly warnings: string[];
  /** Records a problem that makes the manifest invalid. */
  issue(path: readonly PathPart[], message: string): void;
  /** Records something wadm only warns about. */
  warn(path: readonly PathPart[], message: string): void;
}

/** An empty {@link Findings}. */
export function createFindings(): Findings {
  const issues: Issue[] = [];
  const warnings: string[] = [];
  return {
    issues,
    warnings,
    issue: (path, message) => {
      issues.push({ path: formatPath(path), message });
    },
    warn: (path, message) => {
      warnings.push(`${formatPath(path)}: ${message}`);
    },
  };
}
