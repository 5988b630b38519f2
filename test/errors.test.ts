import {
  CutoverError,
  ERROR_CODES,
  type ErrorCode,
  hasCode,
  isCutoverError,
  isErrorCode,
  notProvided,
  type SerializedError,
  toCutoverError,
} from 'cutover';
import { describe, expect, it, vi } from 'vitest';

// DESIGN §8: every documented code, and whether it is retryable.
const documented: Record<string, boolean> = {
  'manifest.invalid': false,
  'spec.invalid': false,
  'message.invalid': false,
  'snapshot.invalid': false,
  'plan.invalid': false,
  'plan.conflict': false,
  'plan.unsupported': false,
  'fetch.failed': true,
  'fetch.notFound': false,
  'digest.mismatch': false,
  'validate.failed': false,
  'validate.unsupported': false,
  'instantiate.failed': false,
  'link.failed': false,
  'link.timeout': true,
  'provider.failed': false,
  'gate.overflow': true,
  'invoke.failed': false,
  timeout: true,
  'transport.noResponders': true,
  'transport.timeout': true,
  'transport.closed': false,
  'store.conflict': true,
  'store.unavailable': true,
  'lease.held': false,
  'lease.stale': false,
  'rollout.notFound': false,
  'rollout.invalidCommand': false,
  'host.lost': false,
  notProvided: false,
};

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

describe('error codes', () => {
  it.each(Object.entries(documented))('has the documented code %s (retryable: %s)', (code, retryable) => {
    expect(isErrorCode(code)).toBe(true);
    expect(ERROR_CODES[code as ErrorCode].retryable).toBe(retryable);
  });

  it('spells every code as dotted lowercase words in camelCase', () => {
    for (const code of codes) expect(code).toMatch(/^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*$/);
  });

  it('knows only its own codes', () => {
    expect(isErrorCode('store.conflict')).toBe(true);
    expect(isErrorCode('store.exploded')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});

describe('CutoverError', () => {
  it('is an Error with a name, code, message and stack', () => {
    const err = new CutoverError('lease.held', 'lease for app "shop" is held by "orch-2"');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('CutoverError');
    expect(err.code).toBe('lease.held');
    expect(err.message).toBe('lease for app "shop" is held by "orch-2"');
    expect(err.stack).toContain('CutoverError');
  });

  it.each(codes)('takes retryable for %s from the code table unless told otherwise', (code) => {
    expect(new CutoverError(code, 'x').retryable).toBe(ERROR_CODES[code].retryable);
    expect(new CutoverError(code, 'x', { retryable: !ERROR_CODES[code].retryable }).retryable).toBe(
      !ERROR_CODES[code].retryable,
    );
  });

  it('carries the structured fields it was given, and leaves the others unset', () => {
    const issues = [{ path: 'spec.imageRef', message: 'must not be empty' }];
    const err = new CutoverError('spec.invalid', 'invalid component spec', {
      hostId: 'h1',
      componentId: 'api',
      subject: 'wasmbus.ctl.v2alpha1.prod.host.h1.component.apply',
      issues,
    });
    expect(err).toMatchObject({
      hostId: 'h1',
      componentId: 'api',
      subject: 'wasmbus.ctl.v2alpha1.prod.host.h1.component.apply',
      issues,
    });
    const bare = new CutoverError('timeout', 'x');
    for (const field of ['hostId', 'componentId', 'subject', 'issues']) expect(Object.hasOwn(bare, field)).toBe(false);
    expect('cause' in bare).toBe(false);
    expect(bare.toJSON()).toEqual({ code: 'timeout', message: 'x', retryable: true });
  });

  it('keeps the cause', () => {
    const cause = new Error('ECONNRESET');
    expect(new CutoverError('fetch.failed', 'fetch of "oci://x" failed', { cause }).cause).toBe(cause);
    expect(new CutoverError('fetch.failed', 'x', { cause: 'text' }).cause).toBe('text');
  });

  it('serialises to a plain object without cause or brand, and back', () => {
    const err = new CutoverError('store.conflict', 'stale revision 3 for "rollout.r1"', {
      hostId: 'h1',
      componentId: 'api',
      subject: 's',
      issues: [{ path: 'a', message: 'b' }],
      cause: new Error('hidden'),
    });
    const json = err.toJSON();
    expect(json).toEqual({
      code: 'store.conflict',
      message: 'stale revision 3 for "rollout.r1"',
      retryable: true,
      hostId: 'h1',
      componentId: 'api',
      subject: 's',
      issues: [{ path: 'a', message: 'b' }],
    });
    const wire = JSON.parse(JSON.stringify(err)) as SerializedError;
    expect(wire).toEqual(json);
    const back = CutoverError.fromJSON(wire);
    expect(back).toBeInstanceOf(CutoverError);
    expect(back.toJSON()).toEqual(json);
    expect(isCutoverError(back)).toBe(true);
  });

  it('keeps an explicit retryable across the wire', () => {
    const back = CutoverError.fromJSON(new CutoverError('link.failed', 'x', { retryable: true }).toJSON());
    expect(back.retryable).toBe(true);
  });

  it('turns an unknown code from the wire into invoke.failed, keeping the message', () => {
    const back = CutoverError.fromJSON({ code: 'future.code', message: 'from a newer host', retryable: false });
    expect(back.code).toBe('invoke.failed');
    expect(back.message).toBe('from a newer host');
  });
});

describe('brand', () => {
  it('marks errors with the non-enumerable Symbol.for("cutover.error")', () => {
    const err = new CutoverError('timeout', 'x');
    expect((err as unknown as Record<symbol, unknown>)[Symbol.for('cutover.error')]).toBe(true);
    expect(Object.keys(err)).not.toContain(Symbol.for('cutover.error').toString());
    expect(Object.getOwnPropertyDescriptor(err, Symbol.for('cutover.error'))?.enumerable).toBe(false);
  });

  it('recognises any object carrying the brand, as another copy of the package makes them', () => {
    const foreign = Object.defineProperty(new Error('from elsewhere'), Symbol.for('cutover.error'), { value: true });
    expect(isCutoverError(foreign)).toBe(true);
  });

  it('is recognised across two separately loaded copies of the module, both ways', async () => {
    vi.resetModules();
    const copy = await import('../src/errors');
    expect(copy.CutoverError).not.toBe(CutoverError);

    const theirs = new copy.CutoverError('gate.overflow', 'gate of "api" is full');
    expect(theirs).not.toBeInstanceOf(CutoverError);
    expect(isCutoverError(theirs)).toBe(true);
    expect(hasCode(theirs, 'gate.overflow')).toBe(true);
    expect(toCutoverError(theirs)).toBe(theirs);

    const ours = new CutoverError('lease.stale', 'x');
    expect(copy.isCutoverError(ours)).toBe(true);
    expect(copy.hasCode(ours, 'lease.stale')).toBe(true);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'CutoverError'],
    ['a plain Error', new Error('x')],
    ['a look-alike without the brand', { name: 'CutoverError', code: 'timeout', message: 'x', retryable: true }],
    ['a brand that is not exactly true', { [Symbol.for('cutover.error')]: 'yes' }],
    ['a different symbol of the same description', { [Symbol('cutover.error')]: true }],
  ])('does not mistake %s for a CutoverError', (_what, value) => {
    expect(isCutoverError(value)).toBe(false);
  });
});

describe('hasCode', () => {
  it('matches only a CutoverError with that code', () => {
    const err = new CutoverError('store.conflict', 'x');
    expect(hasCode(err, 'store.conflict')).toBe(true);
    expect(hasCode(err, 'store.unavailable')).toBe(false);
    expect(hasCode({ code: 'store.conflict' }, 'store.conflict')).toBe(false);
  });
});

describe('toCutoverError', () => {
  it('returns a CutoverError unchanged', () => {
    const err = new CutoverError('host.lost', 'host "h1" is lost');
    expect(toCutoverError(err)).toBe(err);
  });

  it('wraps an Error as invoke.failed, or the given fallback, keeping it as cause', () => {
    const cause = new TypeError('boom');
    const err = toCutoverError(cause);
    expect(err).toMatchObject({ code: 'invoke.failed', message: 'boom', cause });
    expect(toCutoverError(cause, 'fetch.failed')).toMatchObject({ code: 'fetch.failed', retryable: true, cause });
  });

  it('turns an AbortError or TimeoutError into a retryable timeout', () => {
    const controller = new AbortController();
    controller.abort();
    const abort = controller.signal.reason as Error;
    expect(abort.name).toBe('AbortError');
    expect(toCutoverError(abort)).toMatchObject({ code: 'timeout', retryable: true, cause: abort });
    const timedOut = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(toCutoverError(timedOut)).toMatchObject({
      code: 'timeout',
      message: 'the operation was aborted due to timeout',
      cause: timedOut,
    });
  });

  it('wraps a thrown string as its message', () => {
    expect(toCutoverError('disk full', 'store.unavailable')).toMatchObject({
      code: 'store.unavailable',
      message: 'disk full',
      cause: 'disk full',
    });
  });

  it.each([
    ['an object', { reason: 'x' }, 'non-error thrown: {"reason":"x"}'],
    ['undefined', undefined, 'non-error thrown: undefined'],
    ['a number', 7, 'non-error thrown: 7'],
    ['a bigint', 7n, 'non-error thrown: 7'],
  ])('describes %s that was thrown', (_what, value, message) => {
    const err = toCutoverError(value);
    expect(err).toMatchObject({ code: 'invoke.failed', message });
    expect(err.cause).toBe(value);
  });

  it('describes a circular object without throwing', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(toCutoverError(circular).message).toBe('non-error thrown: [object Object]');
  });
});

describe('notProvided', () => {
  it('names the missing implementation and how to supply it', () => {
    const err = notProvided('fetchArtifact');
    expect(err.code).toBe('notProvided');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('"fetchArtifact"');
    expect(err.message).toContain('machine.provide');
  });
});
