import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ComponentSpec, type ComponentSpecInput, hasCode } from 'cutover';
import {
  createArtifactCache,
  createWasmRuntime,
  fixtureModule,
  parseImageRef,
  sha256Digest,
  type WasmRuntime,
  writeFixtureModules,
} from 'cutover/adapters/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildComponentFixture, buildFixture, type CoreFixtureName } from '../fixtures/wasm/buildFixture';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);
const spec = (input: Partial<ComponentSpecInput> = {}): ComponentSpec =>
  ComponentSpec.parse({ id: 'api', app: 'shop', imageRef: 'file:///unused.wasm', ...input });

let dir: string;
let runtime: WasmRuntime;

async function writeWasm(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return pathToFileURL(path).href;
}

async function load(name: CoreFixtureName) {
  const ref = await writeWasm(`${name}.wasm`, await buildFixture(name));
  return runtime.fetch(ref);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cutover-wasm-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wasm runtime: file:// fetch', () => {
  it('fetches an absolute file:// reference with the sha256 of its bytes', async () => {
    runtime = createWasmRuntime({ cache: createArtifactCache() });
    const bytes = await buildFixture('v1');
    const ref = await writeWasm('abs.wasm', bytes);
    const artifact = await runtime.fetch(ref);
    expect(artifact.ref).toBe(ref);
    expect(artifact.digest).toBe(sha256Digest(bytes));
    expect(artifact.bytes).toEqual(bytes);
  });

  it('resolves file://./relative against baseDir', async () => {
    const bytes = await buildFixture('v2');
    await writeWasm('rel.wasm', bytes);
    const relative = createWasmRuntime({ baseDir: dir, cache: createArtifactCache() });
    const artifact = await relative.fetch('file://./rel.wasm');
    expect(artifact.digest).toBe(sha256Digest(bytes));
  });

  it('answers fetch.notFound for a missing file', async () => {
    const error = await rejection(runtime.fetch(pathToFileURL(join(dir, 'missing.wasm')).href));
    expect(hasCode(error, 'fetch.notFound')).toBe(true);
  });

  it('refuses a file larger than maxBytes with validate.failed before reading it', async () => {
    const small = createWasmRuntime({ maxBytes: 64, cache: createArtifactCache() });
    const ref = await writeWasm('big.wasm', await buildFixture('v1'));
    const error = await rejection(small.fetch(ref));
    expect(hasCode(error, 'validate.failed')).toBe(true);
    expect(String((error as Error).message)).toContain('oversized');
  });

  it('honours an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(runtime.fetch('file:///x.wasm', { signal: controller.signal }));
    expect(hasCode(error, 'aborted')).toBe(true);
  });

  it('serves preloaded artifacts by exact reference', async () => {
    const v1 = fixtureModule('v1');
    const preloaded = createWasmRuntime({ artifacts: { 'builtin://v1': v1 }, cache: createArtifactCache() });
    const artifact = await preloaded.fetch('builtin://v1');
    expect(artifact.digest).toBe(sha256Digest(v1));
  });
});

describe('wasm runtime: core modules', () => {
  it('validates v1, lists its operations and answers through the ABI', async () => {
    const artifact = await load('v1');
    const validated = await runtime.validate(artifact, spec());
    expect(validated).toMatchObject({ kind: 'core', digest: artifact.digest, operations: ['handle'] });
    const instance = await runtime.instantiate(validated, spec());
    expect(text(await instance.invoke('handle', bytesOf('hello')))).toBe('v1:hello');
    expect(text(await instance.invoke('handle', new Uint8Array()))).toBe('v1:');
    await instance.dispose();
  });

  it('runs v2 with a different answer, side by side with v1', async () => {
    const one = await runtime.instantiate(await runtime.validate(await load('v1'), spec()), spec());
    const two = await runtime.instantiate(await runtime.validate(await load('v2'), spec()), spec());
    expect(text(await two.invoke('handle', bytesOf('x')))).toBe('v2:x');
    expect(text(await one.invoke('handle', bytesOf('x')))).toBe('v1:x');
  });

  it('keeps answering across many calls and large payloads (the arena resets per call)', async () => {
    const instance = await runtime.instantiate(await runtime.validate(await load('v1'), spec()), spec());
    const big = new Uint8Array(200_000).fill(97);
    for (let i = 0; i < 50; i++) {
      const reply = await instance.invoke('handle', big);
      expect(reply.byteLength).toBe(200_003);
    }
    expect(text(await instance.invoke('handle', bytesOf(String(7))))).toBe('v1:7');
  });

  it('turns a trap into invoke.failed with the trap message', async () => {
    const instance = await runtime.instantiate(await runtime.validate(await load('trap'), spec()), spec());
    const error = await rejection(instance.invoke('handle', bytesOf('x')));
    expect(hasCode(error, 'invoke.failed')).toBe(true);
    expect((error as Error).message).toMatch(/unreachable/);
  });

  it('answers invoke.notFound for an operation the module does not export', async () => {
    const instance = await runtime.instantiate(await runtime.validate(await load('v1'), spec()), spec());
    expect(hasCode(await rejection(instance.invoke('nope', bytesOf('x'))), 'invoke.notFound')).toBe(true);
    expect(hasCode(await rejection(instance.invoke('alloc', bytesOf('x'))), 'invoke.notFound')).toBe(true);
  });

  it('refuses calls after dispose', async () => {
    const instance = await runtime.instantiate(await runtime.validate(await load('v1'), spec()), spec());
    await instance.dispose();
    expect(hasCode(await rejection(instance.invoke('handle', bytesOf('x'))), 'invoke.failed')).toBe(true);
  });

  it('fails validation of a module that does not compile', async () => {
    const error = await rejection(runtime.validate(await load('bad'), spec()));
    expect(hasCode(error, 'validate.failed')).toBe(true);
    expect((error as Error).message).toContain('does not compile');
  });

  it('fails validation of a module that does not follow the ABI', async () => {
    const error = await rejection(runtime.validate(await load('noabi'), spec()));
    expect(hasCode(error, 'validate.failed')).toBe(true);
    expect((error as Error).message).toContain('alloc');
  });

  it('fails validation of truncated, wrong-magic, unknown-version and oversized binaries', async () => {
    const v1 = await buildFixture('v1');
    const cases: [string, Uint8Array, RegExp, WasmRuntime][] = [
      ['header only', v1.slice(0, 6), /truncated/, runtime],
      ['cut body', v1.slice(0, v1.byteLength - 10), /does not compile/, runtime],
      ['wrong magic', Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 1, 0, 0, 0, 0]), /wrong magic/, runtime],
      ['unknown version', Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /unknown wasm version/, runtime],
      ['oversized', v1, /oversized/, createWasmRuntime({ maxBytes: 100, cache: createArtifactCache() })],
    ];
    for (const [name, bytes, pattern, rt] of cases) {
      const error = await rejection(rt.validate({ ref: name, digest: sha256Digest(bytes), bytes }, spec()));
      expect(hasCode(error, 'validate.failed'), name).toBe(true);
      expect((error as Error).message, name).toMatch(pattern);
    }
  });

  it('refuses with digest.mismatch when the spec pins another digest', async () => {
    const artifact = await load('v1');
    const other = sha256Digest(bytesOf('something else'));
    const error = await rejection(runtime.validate(artifact, spec({ digest: other })));
    expect(hasCode(error, 'digest.mismatch')).toBe(true);
    await expect(runtime.validate(artifact, spec({ digest: artifact.digest }))).resolves.toMatchObject({
      kind: 'core',
    });
  });

  it('refuses an artifact whose bytes do not hash to its claimed digest', async () => {
    const bytes = await buildFixture('v1');
    const error = await rejection(runtime.validate({ ref: 'lie', digest: sha256Digest(bytesOf('x')), bytes }, spec()));
    expect(hasCode(error, 'digest.mismatch')).toBe(true);
  });

  it('refuses to instantiate what it did not validate', async () => {
    const error = await rejection(
      runtime.instantiate({ digest: 'sha256:x', kind: 'core', operations: [], handle: {} }, spec()),
    );
    expect(hasCode(error, 'instantiate.failed')).toBe(true);
  });
});

describe('wasm runtime: component-model binaries', () => {
  it('validates a real component through jco and invokes its exported function', async () => {
    const bytes = await buildComponentFixture();
    expect([...bytes.slice(4, 8)]).toEqual([0x0d, 0x00, 0x01, 0x00]);
    const ref = await writeWasm('component.wasm', bytes);
    const artifact = await runtime.fetch(ref);
    const validated = await runtime.validate(artifact, spec());
    expect(validated).toMatchObject({ kind: 'component', operations: ['handle'] });
    const instance = await runtime.instantiate(validated, spec());
    expect(text(await instance.invoke('handle', bytesOf('hi')))).toBe('c1:hi');
    expect(text(await instance.invoke('handle', bytesOf('again')))).toBe('c1:again');
    expect(hasCode(await rejection(instance.invoke('nope', bytesOf(''))), 'invoke.notFound')).toBe(true);
  });

  it('fails validation of a component with a broken body', async () => {
    const bytes = await buildComponentFixture();
    const broken = bytes.slice(0, 40);
    const error = await rejection(
      runtime.validate({ ref: 'broken', digest: sha256Digest(broken), bytes: broken }, spec()),
    );
    expect(hasCode(error, 'validate.failed')).toBe(true);
  });
});

describe('wasm fixtures', () => {
  it('embeds demo modules identical to the ones built from the committed WAT', async () => {
    for (const name of ['v1', 'v2', 'v3'] as const) {
      expect(fixtureModule(name), name).toEqual(await buildFixture(name));
    }
  });

  it('writes the demo modules to a directory as file:// refs that run', async () => {
    const refs = await writeFixtureModules(dir);
    const instance = await runtime.instantiate(await runtime.validate(await runtime.fetch(refs.v3), spec()), spec());
    expect(text(await instance.invoke('handle', bytesOf('ok')))).toBe('v3:ok');
  });
});

describe('image references', () => {
  it('parses oci://, plain wadm, digest-pinned, Docker Hub and file forms', () => {
    expect(parseImageRef('oci://127.0.0.1:5000/acme/api:1.0')).toEqual({
      kind: 'oci',
      registry: '127.0.0.1:5000',
      repository: 'acme/api',
      tag: '1.0',
    });
    expect(parseImageRef('ghcr.io/wasmcloud/http-server:0.23.0')).toMatchObject({
      registry: 'ghcr.io',
      repository: 'wasmcloud/http-server',
      tag: '0.23.0',
    });
    const digest = sha256Digest(bytesOf('x'));
    expect(parseImageRef(`localhost:5000/a@${digest}`)).toEqual({
      kind: 'oci',
      registry: 'localhost:5000',
      repository: 'a',
      digest,
    });
    expect(parseImageRef('redis')).toMatchObject({ registry: 'docker.io', repository: 'library/redis', tag: 'latest' });
    expect(parseImageRef('file://./x.wasm')).toEqual({ kind: 'file', path: './x.wasm', relative: true });
    expect(parseImageRef('file:///a/b.wasm')).toEqual({ kind: 'file', path: '/a/b.wasm', relative: false });
  });

  it('refuses malformed references with spec.invalid', () => {
    for (const ref of ['ghcr.io/Acme/API:1', 'ghcr.io/a@sha256:xyz', 'https://ghcr.io/a:1', 'ghcr.io/a:bad tag']) {
      expect(() => parseImageRef(ref), ref).toThrow(expect.objectContaining({ code: 'spec.invalid' }));
    }
  });
});
