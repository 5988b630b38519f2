// Bounded input on the wire: the size, key-count and depth limits of a JSON request, checked by one linear scan
// of its bytes before it is parsed (so a hostile request costs a scan, never a parse), and the bounded coded
// error reply every served subject answers with (issues capped, the rest counted). It owns those limits and the
// error reply's shape; it must not decode messages (`decode.ts`) nor know any subject.
import { CutoverError, type Issue, toCutoverError } from '../errors';
import { PROTOCOL_VERSION } from './messages';

/** How big a request may be: `bytes` of JSON, `keys` object keys in all, `depth` nested objects and arrays. */
export interface InputLimits {
  readonly bytes: number;
  readonly keys: number;
  readonly depth: number;
}

/** Orchestrator API requests (`cutover.api.v1alpha1.…`); a deploy's manifest text is checked again on its own. */
export const API_LIMITS: InputLimits = { bytes: 512 * 1024, keys: 10_000, depth: 32 };
/** Host control requests (`…host.{hostId}.…`, `hosts.ping`). */
export const CONTROL_LIMITS: InputLimits = { bytes: 1024 * 1024, keys: 10_000, depth: 32 };
/** An error reply carries at most this many issues (then one `(more)` issue counting the rest)... */
export const MAX_REPLY_ISSUES = 20;
/** ...and cuts its message and each issue's path and message to this many characters. */
export const MAX_REPLY_TEXT = 500;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN = new Set([0x7b, 0x5b]);
const CLOSE = new Set([0x7d, 0x5d]);

/**
 * Refuses JSON bytes over `limits` with `message.tooLarge`, by one scan (strings skipped, `:` counted as a
 * key, brackets as depth); says nothing about whether the JSON is valid, which the parse after it checks.
 * @example
 * checkJsonLimits(msg.data, API_LIMITS, 'api request'); const request = decode(msg.data, ApiRequest);
 */
export function checkJsonLimits(data: Uint8Array, limits: InputLimits, what: string): void {
  if (data.length > limits.bytes) throw tooLarge(`${what} of ${data.length} bytes is over ${limits.bytes}`);
  let inString = false;
  let depth = 0;
  let keys = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i] as number;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === COLON) {
      if (++keys > limits.keys) throw tooLarge(`${what} has more than ${limits.keys} keys`);
    } else if (OPEN.has(c)) {
      if (++depth > limits.depth) throw tooLarge(`${what} nests deeper than ${limits.depth}`);
    } else if (CLOSE.has(c)) depth--;
  }
}

/** A `message.tooLarge` refusal. */
export function tooLarge(message: string): CutoverError {
  return new CutoverError('message.tooLarge', message);
}

const cut = (s: string) => (s.length > MAX_REPLY_TEXT ? `${s.slice(0, MAX_REPLY_TEXT)}…` : s);

/** The coded `error` reply for `error`, bounded: at most {@link MAX_REPLY_ISSUES} issues, texts cut. */
export function errorReplyOf(error: unknown): {
  type: 'error';
  version: typeof PROTOCOL_VERSION;
  code: string;
  message: string;
  retryable: boolean;
  issues?: Issue[];
} {
  const e = toCutoverError(error);
  const reply = {
    type: 'error' as const,
    version: PROTOCOL_VERSION,
    code: e.code,
    message: cut(e.message),
    retryable: e.retryable,
  };
  if (e.issues === undefined) return reply;
  const issues = e.issues.slice(0, MAX_REPLY_ISSUES).map((i) => ({ path: cut(i.path), message: cut(i.message) }));
  const rest = e.issues.length - issues.length;
  if (rest > 0) issues.push({ path: '(more)', message: `${rest} more issues` });
  return { ...reply, issues };
}
