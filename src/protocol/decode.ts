import type { z } from 'zod';
import { CutoverError, type ErrorCode, type Issue } from '../errors';
import { Message } from './messages';

/** zod issues as `{ path, message }`, the path dotted (`spec.links.0.target`). */
export function toIssues(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({
    path: i.path.length === 0 ? '(root)' : i.path.map(String).join('.'),
    message: i.message,
  }));
}

function describe(issues: Issue[]): string {
  const first = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`);
  return issues.length > 3 ? `${first.join('; ')}; and ${issues.length - 3} more` : first.join('; ');
}

/**
 * Parses `input` with `schema` or throws a CutoverError with `code` that names every bad field.
 * @example
 * const spec = parseWith(ComponentSpec, json, 'spec.invalid', 'component spec')
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, code: ErrorCode, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toIssues(result.error);
  throw new CutoverError(code, `invalid ${what}: ${describe(issues)}`, { issues, cause: result.error });
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Bytes or text of JSON to a value, or `message.invalid`. */
export function parseJson(data: Uint8Array | string, what = 'message'): unknown {
  const text = typeof data === 'string' ? data : decoder.decode(data);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CutoverError('message.invalid', `invalid ${what}: not json (${(e as Error).message})`, {
      issues: [{ path: '(root)', message: 'not valid JSON' }],
      cause: e,
    });
  }
}

/**
 * Validates a wire message once at the boundary; any bad input becomes `message.invalid` with the zod issues.
 * Pass a narrower schema (e.g. `HostControl`) to accept only some message types.
 */
export function decode<S extends z.ZodType = typeof Message>(
  data: Uint8Array | string | unknown,
  schema?: S,
): z.output<S> {
  const value = typeof data === 'string' || data instanceof Uint8Array ? parseJson(data) : data;
  return parseWith(schema ?? (Message as unknown as S), value, 'message.invalid', 'message');
}

/** A value to wire bytes (JSON). */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}
