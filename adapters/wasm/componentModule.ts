import { type ComponentInstance, CutoverError } from 'cutover';
import { message } from './coreModule';
import { type WasmModule, wasm } from './webAssembly';

/** The optional peer that validates and runs component-model binaries. */
export const JCO_PACKAGE = '@bytecodealliance/jco-transpile';

/** The runtime-private form of a validated component: transpiled JS plus its compiled core modules. */
export interface ComponentHandle {
  readonly kind: 'component';
  readonly instantiate: TranspiledInstantiate;
  readonly modules: ReadonlyMap<string, WasmModule>;
}

type TranspiledInstantiate = (
  getCoreModule: (name: string) => WasmModule,
  imports: Record<string, never>,
) => Promise<Record<string, unknown>>;

interface JcoTranspile {
  transpileBytes(
    component: Uint8Array,
    opts: { name: string; instantiation: 'async'; noNodejsCompat?: boolean },
  ): Promise<{ files: Record<string, Uint8Array>; imports: string[]; exports: [string, 'function' | 'instance'][] }>;
}

let jco: Promise<JcoTranspile> | undefined;

async function loadJco(what: string): Promise<JcoTranspile> {
  jco ??= import(JCO_PACKAGE) as Promise<JcoTranspile>;
  try {
    return await jco;
  } catch (cause) {
    jco = undefined;
    throw new CutoverError(
      'validate.unsupported',
      `"${what}" is a component-model binary: install "${JCO_PACKAGE}" to run it (npm install ${JCO_PACKAGE})`,
      { cause },
    );
  }
}

/** Transpiles a component with jco, compiles its core modules and test-instantiates it. */
export async function validateComponent(
  bytes: Uint8Array,
  what: string,
): Promise<{ handle: ComponentHandle; operations: string[] }> {
  const { transpileBytes } = await loadJco(what);
  let result: Awaited<ReturnType<JcoTranspile['transpileBytes']>>;
  try {
    result = await transpileBytes(bytes, { name: 'component', instantiation: 'async' });
  } catch (cause) {
    throw new CutoverError('validate.failed', `"${what}" is not a valid component: ${message(cause)}`, { cause });
  }
  if (result.imports.length > 0) {
    throw new CutoverError(
      'validate.unsupported',
      `"${what}" imports "${result.imports.join('", "')}": only self-contained components can run here`,
    );
  }
  const operations = result.exports.filter(([, kind]) => kind === 'function').map(([name]) => name);
  if (operations.length === 0) {
    throw new CutoverError('validate.failed', `"${what}" exports no function at the top level of its world`);
  }
  const modules = new Map<string, WasmModule>();
  let source: Uint8Array | undefined;
  for (const [file, content] of Object.entries(result.files)) {
    if (file.endsWith('.wasm')) modules.set(file, await wasm.compile(content));
    else if (file.endsWith('.js')) source = content;
  }
  if (!source) throw new CutoverError('validate.failed', `"${what}": jco produced no javascript`);
  let instantiate: TranspiledInstantiate;
  try {
    // The transpiled module has no imports of its own in instantiation mode, so a data: URL loads it in place.
    const url = `data:text/javascript;base64,${Buffer.from(source).toString('base64')}`;
    const loaded = (await import(/* @vite-ignore */ url)) as { instantiate?: unknown };
    if (typeof loaded.instantiate !== 'function') throw new Error('transpiled module has no instantiate()');
    instantiate = loaded.instantiate as TranspiledInstantiate;
  } catch (cause) {
    throw new CutoverError('validate.failed', `"${what}": cannot load the transpiled component: ${message(cause)}`, {
      cause,
    });
  }
  const handle: ComponentHandle = { kind: 'component', instantiate, modules };
  await instantiateExports(handle, what, 'validate.failed');
  return { handle, operations };
}

async function instantiateExports(
  handle: ComponentHandle,
  what: string,
  code: 'validate.failed' | 'instantiate.failed',
): Promise<Record<string, unknown>> {
  try {
    return await handle.instantiate((name) => {
      const module = handle.modules.get(name);
      if (!module) throw new Error(`missing core module "${name}"`);
      return module;
    }, {});
  } catch (cause) {
    throw new CutoverError(code, `"${what}" does not instantiate: ${message(cause)}`, { cause });
  }
}

/**
 * A serving instance of a component. Operations are its world's exported functions; a `list<u8>` or
 * `string` result is the reply (other signatures are refused with `invoke.failed`).
 */
export async function instantiateComponent(handle: ComponentHandle, what: string): Promise<ComponentInstance> {
  const exports = await instantiateExports(handle, what, 'instantiate.failed');
  let disposed = false;
  return {
    invoke(operation, payload) {
      try {
        if (disposed) throw new CutoverError('invoke.failed', `instance of "${what}" is disposed`);
        const fn = Object.hasOwn(exports, operation) ? exports[operation] : undefined;
        if (typeof fn !== 'function')
          throw new CutoverError('invoke.notFound', `"${what}" has no operation "${operation}"`);
        const result: unknown = fn(payload);
        if (result instanceof Uint8Array) return Promise.resolve(result.slice());
        if (typeof result === 'string') return Promise.resolve(new TextEncoder().encode(result));
        throw new CutoverError('invoke.failed', `"${what}" ${operation} returned neither list<u8> nor string`);
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
