import { CutoverError } from 'cutover';

/** Bytes 4..7 of a core module (version 1) and of a component (version 0x0d, layer 1). */
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] as const;
const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;

/** Checks size, magic and version; tells a core module from a component without compiling. */
export function inspectHeader(bytes: Uint8Array, maxBytes: number, what: string): 'core' | 'component' {
  if (bytes.byteLength > maxBytes) {
    throw new CutoverError('validate.failed', `"${what}" is oversized: ${bytes.byteLength} bytes > ${maxBytes}`);
  }
  if (bytes.byteLength < 8)
    throw new CutoverError('validate.failed', `"${what}" is truncated: ${bytes.byteLength} bytes`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    throw new CutoverError('validate.failed', `"${what}" is not wasm: wrong magic ${hex(bytes.subarray(0, 4))}`);
  }
  if (CORE_VERSION.every((b, i) => bytes[4 + i] === b)) return 'core';
  if (COMPONENT_VERSION.every((b, i) => bytes[4 + i] === b)) return 'component';
  throw new CutoverError('validate.failed', `"${what}" has unknown wasm version ${hex(bytes.subarray(4, 8))}`);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
