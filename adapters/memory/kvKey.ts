import { CutoverError } from 'cutover';

const KEY = /^[-/_=.a-zA-Z0-9]+$/;

/**
 * Throws `store.invalidKey` unless `key` is a valid NATS KV key: characters `[-/_=.a-zA-Z0-9]`, dot-separated
 * non-empty tokens (no leading, trailing or doubled dot), so no wildcard `*` / `>` and no whitespace.
 */
export function assertKvKey(key: string): void {
  if (!KEY.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) {
    throw new CutoverError(
      'store.invalidKey',
      `invalid key "${key}": use dot-separated non-empty tokens of letters, digits and - / _ =`,
    );
  }
}
