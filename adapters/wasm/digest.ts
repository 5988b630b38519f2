import { createHash } from 'node:crypto';
import { CutoverError } from 'cutover';

/** `sha256:<hex>` of bytes, the form OCI registries and ComponentSpec.digest use. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Throws `digest.mismatch` unless `bytes` hash to `expected`; returns the digest. */
export function verifyDigest(expected: string, bytes: Uint8Array, what: string): string {
  const actual = sha256Digest(bytes);
  if (actual !== expected) {
    throw new CutoverError('digest.mismatch', `${what}: expected "${expected}", got "${actual}"`);
  }
  return actual;
}
