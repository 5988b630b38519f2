/**
 * Every error code cutover can raise, and whether a caller may retry it unchanged.
 * Codes are stable: users match on them, so a code is never renamed.
 */
export const ERROR_CODES = {
  'manifest.invalid': { retryable: false },
  'spec.invalid': { retryable: false },
  'message.invalid': { retryable: false },
  /** A request over a documented size, key-count or depth limit (refused before it is parsed). */
  'message.tooLarge': { retryable: false },
  'snapshot.invalid': { retryable: false },
  'strategy.invalid': { retryable: false },
  'config.invalid': { retryable: false },
  'plan.invalid': { retryable: false },
  'plan.conflict': { retryable: false },
  'plan.unsupported': { retryable: false },
  'fetch.failed': { retryable: true },
  'fetch.notFound': { retryable: false },
  'fetch.unauthorized': { retryable: false },
  'digest.mismatch': { retryable: false },
  'validate.failed': { retryable: false },
  'validate.unsupported': { retryable: false },
  'instantiate.failed': { retryable: false },
  'link.failed': { retryable: false },
  'link.timeout': { retryable: true },
  'provider.failed': { retryable: false },
  'gate.overflow': { retryable: true },
  'gate.closed': { retryable: true },
  'invoke.failed': { retryable: false },
  'invoke.notFound': { retryable: false },
  'analysis.failed': { retryable: true },
  /** A metrics server refused the analysis query (bad PromQL, unknown function): fix the strategy. */
  'analysis.queryInvalid': { retryable: false },
  /** The metrics server could not be reached or answered 5xx / not in time. */
  'analysis.unavailable': { retryable: true },
  /** The query answered something other than one number (several series, a matrix, a string). */
  'analysis.notSingleValue': { retryable: false },
  timeout: { retryable: true },
  superseded: { retryable: false },
  aborted: { retryable: false },
  'transport.noResponders': { retryable: true },
  'transport.timeout': { retryable: true },
  'transport.closed': { retryable: false },
  // No connection to the server right now (reconnecting): an outage to wait out, not a lost host.
  'transport.unavailable': { retryable: true },
  'transport.invalidSubject': { retryable: false },
  'store.conflict': { retryable: true },
  'store.unavailable': { retryable: true },
  'store.tooLarge': { retryable: false },
  'store.invalidKey': { retryable: false },
  'store.invalidValue': { retryable: false },
  'lease.held': { retryable: false },
  'lease.stale': { retryable: false },
  'rollout.notFound': { retryable: false },
  'rollout.invalidCommand': { retryable: false },
  'host.lost': { retryable: false },
  notProvided: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

/** A stable, dotted error code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem found in a document: where it is and what is wrong. */
export interface Issue {
  path: string;
  message: string;
}

/** Structured fields a {@link CutoverError} may carry besides its code. */
export interface CutoverErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  hostId?: string;
  componentId?: string;
  subject?: string;
  issues?: readonly Issue[];
}

const BRAND = Symbol.for('cutover.error');

/** The one error type cutover throws; match on `code`, never on `message`. */
export class CutoverError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  declare readonly hostId?: string;
  declare readonly componentId?: string;
  declare readonly subject?: string;
  declare readonly issues?: readonly Issue[];
  declare readonly [BRAND]: true;

  constructor(code: ErrorCode, message: string, options: CutoverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CutoverError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    if (options.hostId !== undefined) this.hostId = options.hostId;
    if (options.componentId !== undefined) this.componentId = options.componentId;
    if (options.subject !== undefined) this.subject = options.subject;
    if (options.issues !== undefined) this.issues = options.issues;
    // A Symbol.for brand, so an error from the CJS build is recognised by the ESM build and back.
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  /** A plain object for the wire and for logs. */
  toJSON(): SerializedError {
    const out: SerializedError = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.hostId !== undefined) out.hostId = this.hostId;
    if (this.componentId !== undefined) out.componentId = this.componentId;
    if (this.subject !== undefined) out.subject = this.subject;
    if (this.issues !== undefined) out.issues = [...this.issues];
    return out;
  }

  /** Rebuilds an error sent over the wire by {@link CutoverError.toJSON}. */
  static fromJSON(data: SerializedError): CutoverError {
    const code = isErrorCode(data.code) ? data.code : 'invoke.failed';
    const opts: CutoverErrorOptions = { retryable: data.retryable };
    if (data.hostId !== undefined) opts.hostId = data.hostId;
    if (data.componentId !== undefined) opts.componentId = data.componentId;
    if (data.subject !== undefined) opts.subject = data.subject;
    if (data.issues !== undefined) opts.issues = data.issues;
    return new CutoverError(code, data.message, opts);
  }
}

/** The wire form of a {@link CutoverError}. */
export interface SerializedError {
  code: string;
  message: string;
  retryable: boolean;
  hostId?: string;
  componentId?: string;
  subject?: string;
  issues?: Issue[];
}

/** True for a known error code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** True for any CutoverError, even one made by another copy of this package. */
export function isCutoverError(value: unknown): value is CutoverError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** True when `value` is a CutoverError with the given code. */
export function hasCode(value: unknown, code: ErrorCode): value is CutoverError {
  return isCutoverError(value) && value.code === code;
}

/**
 * Normalises anything thrown into a CutoverError, keeping the original as `cause`.
 * @example
 * try { await host.apply(spec) } catch (e) { const err = toCutoverError(e); console.log(err.code) }
 */
export function toCutoverError(value: unknown, fallback: ErrorCode = 'invoke.failed'): CutoverError {
  if (isCutoverError(value)) return value;
  if (value instanceof Error) {
    if (value.name === 'AbortError' || value.name === 'TimeoutError') {
      return new CutoverError('timeout', value.message.toLowerCase(), { cause: value });
    }
    return new CutoverError(fallback, value.message, { cause: value });
  }
  return new CutoverError(fallback, typeof value === 'string' ? value : `non-error thrown: ${safeString(value)}`, {
    cause: value,
  });
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The error an effect stub throws until `machine.provide()` supplies the real implementation. */
export function notProvided(name: string): CutoverError {
  return new CutoverError(
    'notProvided',
    `"${name}" is not provided: supply it with machine.provide({ actors: { ${name} } })`,
  );
}
