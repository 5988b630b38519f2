import { type ComponentInstance, CutoverError } from 'cutover';
import { isMemory, type WasmInstance, type WasmMemory, type WasmModule, wasm } from './webAssembly';

/** Exports of the core-module ABI (docs/architecture.md, "Core-module ABI") that are plumbing, not operations. */
const RESERVED = new Set(['memory', 'alloc', 'dealloc', 'free', '_start', '_initialize']);

/** The runtime-private form of a validated core module. */
export interface CoreHandle {
  readonly kind: 'core';
  readonly module: WasmModule;
}

interface AbiExports {
  memory: WasmMemory;
  alloc: (len: number) => number;
  operations: Map<string, (ptr: number, len: number) => bigint>;
}

/** Compiles a core module and test-instantiates it against the ABI; returns its operations. */
export async function validateCore(
  bytes: Uint8Array,
  what: string,
): Promise<{ handle: CoreHandle; operations: string[] }> {
  let module: WasmModule;
  try {
    module = await wasm.compile(bytes);
  } catch (cause) {
    throw new CutoverError('validate.failed', `"${what}" does not compile: ${message(cause)}`, { cause });
  }
  const imports = wasm.Module.imports(module);
  if (imports.length > 0) {
    const names = imports.map((i) => `${i.module}.${i.name}`).join('", "');
    throw new CutoverError('validate.failed', `"${what}" imports "${names}": core modules must be self-contained`);
  }
  const abi = abiOf(await instantiateModule(module, what, 'validate.failed'), what, 'validate.failed');
  if (abi.operations.size === 0) {
    throw new CutoverError('validate.failed', `"${what}" exports no operation (a function op(ptr, len) -> i64)`);
  }
  return { handle: { kind: 'core', module }, operations: [...abi.operations.keys()] };
}

/** A serving instance of a validated core module. */
export async function instantiateCore(handle: CoreHandle, what: string): Promise<ComponentInstance> {
  const abi = abiOf(await instantiateModule(handle.module, what, 'instantiate.failed'), what, 'instantiate.failed');
  let disposed = false;
  return {
    // The calls are synchronous, so invocations on one instance never interleave inside its memory.
    invoke(operation, payload) {
      try {
        if (disposed) throw new CutoverError('invoke.failed', `instance of "${what}" is disposed`);
        const op = abi.operations.get(operation);
        if (!op) throw new CutoverError('invoke.notFound', `"${what}" has no operation "${operation}"`);
        const ptr = abi.alloc(payload.byteLength) >>> 0;
        view(abi.memory, ptr, payload.byteLength, what, 'alloc').set(payload);
        const packed = BigInt.asUintN(64, op(ptr, payload.byteLength));
        const outPtr = Number(packed >> 32n);
        const outLen = Number(packed & 0xffff_ffffn);
        return Promise.resolve(view(abi.memory, outPtr, outLen, what, operation).slice());
      } catch (cause) {
        if (cause instanceof CutoverError) return Promise.reject(cause);
        return Promise.reject(
          new CutoverError('invoke.failed', `"${what}" ${operation} trapped: ${message(cause)}`, { cause }),
        );
      }
    },
    dispose() {
      disposed = true;
    },
  };
}

function view(memory: WasmMemory, ptr: number, len: number, what: string, by: string): Uint8Array {
  if (ptr + len > memory.buffer.byteLength) {
    throw new CutoverError('invoke.failed', `"${what}" ${by} returned ${ptr}+${len}, outside memory`);
  }
  return new Uint8Array(memory.buffer, ptr, len);
}

async function instantiateModule(
  module: WasmModule,
  what: string,
  code: 'validate.failed' | 'instantiate.failed',
): Promise<WasmInstance> {
  try {
    return await wasm.instantiate(module, {});
  } catch (cause) {
    throw new CutoverError(code, `"${what}" does not instantiate: ${message(cause)}`, { cause });
  }
}

function abiOf(instance: WasmInstance, what: string, code: 'validate.failed' | 'instantiate.failed'): AbiExports {
  const { memory, alloc } = instance.exports;
  if (!isMemory(memory)) throw new CutoverError(code, `"${what}" does not export "memory"`);
  if (typeof alloc !== 'function') throw new CutoverError(code, `"${what}" does not export "alloc(len) -> ptr"`);
  const operations = new Map<string, (ptr: number, len: number) => bigint>();
  for (const [name, value] of Object.entries(instance.exports)) {
    // Operations take (ptr, len); helpers with other arities are not callable as operations.
    if (typeof value === 'function' && value.length === 2 && !RESERVED.has(name) && !name.startsWith('cabi_')) {
      operations.set(name, value as (ptr: number, len: number) => bigint);
    }
  }
  return { memory, alloc: alloc as (len: number) => number, operations };
}

/** A thrown value's message, lowercase-first as our errors are. */
export function message(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.replace(/^WebAssembly\.\w+\(\): /, '');
}
