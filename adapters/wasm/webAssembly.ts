// The project compiles without the DOM lib, and @types/node 20 declares no WebAssembly API, so the
// slice of it we use is typed here and taken from globalThis (Node has had it since v8).

/** A compiled core module (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface WasmImportDescriptor {
  module: string;
  name: string;
  kind: string;
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Record<string, never>): Promise<WasmInstance>;
  Module: { imports(module: WasmModule): WasmImportDescriptor[] };
  Memory: abstract new (...args: never[]) => WasmMemory;
}

/** The runtime's WebAssembly object, typed. */
export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** True for a WebAssembly.Memory export. */
export function isMemory(value: unknown): value is WasmMemory {
  return value instanceof wasm.Memory;
}
