import { ComponentSpec, type ComponentSpecInput, isCutoverError, sha256Hex } from 'cutover';
import { type MemoryImage, createMemoryRuntime } from 'cutover/adapters/memory';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const spec = (input: Partial<ComponentSpecInput> = {}): ComponentSpec =>
  ComponentSpec.parse({ id: 'echo', app: 'shop', imageRef: 'reg.local/echo:1', ...input });

const echo = (version: string, extra: Partial<MemoryImage> = {}): MemoryImage => ({
  version,
  operations: {
    echo: (p) => bytes(`${version}:${text(p)}`),
    upper: async (p) => bytes(text(p).toUpperCase()),
    boom: () => {
      throw new Error('kaput');
    },
  },
  ...extra,
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isCutoverError(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

describe('memory runtime', () => {
  it('fetches, validates and instantiates an image whose operations answer invocations', async () => {
    const runtime = createMemoryRuntime({ images: { 'reg.local/echo:1': echo('1') } });
    const artifact = await runtime.fetch('reg.local/echo:1');
    expect(artifact.ref).toBe('reg.local/echo:1');
    expect(artifact.digest).toBe(`sha256:${sha256Hex(artifact.bytes)}`);
    const validated = await runtime.validate(artifact, spec());
    expect(validated).toMatchObject({
      digest: artifact.digest,
      kind: 'component',
      operations: ['boom', 'echo', 'upper'],
    });
    const instance = await runtime.instantiate(validated, spec());
    expect(text(await instance.invoke('echo', bytes('hi')))).toBe('1:hi');
    expect(text(await instance.invoke('upper', bytes('hi')))).toBe('HI');
    expect(await codeOf(instance.invoke('boom', bytes('')))).toBe('invoke.failed');
    expect(await codeOf(instance.invoke('missing', bytes('')))).toBe('invoke.notFound');
    expect(await codeOf(instance.invoke('toString', bytes('')))).toBe('invoke.notFound');
    expect({
      fetches: runtime.fetches,
      validations: runtime.validations,
      instantiations: runtime.instantiations,
      live: runtime.live,
    }).toEqual({
      fetches: 1,
      validations: 1,
      instantiations: 1,
      live: 1,
    });
  });

  it('gives deterministic digests that change with the version and stay equal across runtimes', async () => {
    const one = createMemoryRuntime({ images: { 'reg.local/echo:1': echo('1') } });
    const two = createMemoryRuntime();
    expect(two.publish('reg.local/echo:1', echo('1'))).toBe(one.digestOf('reg.local/echo:1'));
    const moved = two.publish('reg.local/echo:1', echo('2'));
    expect(moved).not.toBe(one.digestOf('reg.local/echo:1'));
    expect((await two.fetch('reg.local/echo:1')).digest).toBe(moved);
    expect(moved).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('refuses an invocation of a disposed instance, so no call reaches it', async () => {
    const runtime = createMemoryRuntime({ images: { 'reg.local/echo:1': echo('1') } });
    const validated = await runtime.validate(await runtime.fetch('reg.local/echo:1'), spec());
    const old = await runtime.instantiate(validated, spec());
    const fresh = await runtime.instantiate(validated, spec());
    expect(runtime.live).toBe(2);
    await old.dispose();
    await old.dispose();
    expect(runtime.live).toBe(1);
    expect(await codeOf(old.invoke('echo', bytes('x')))).toBe('invoke.failed');
    expect(text(await fresh.invoke('echo', bytes('x')))).toBe('1:x');
  });

  it('fails an unknown reference with fetch.notFound', async () => {
    const runtime = createMemoryRuntime();
    expect(await codeOf(runtime.fetch('reg.local/nothing:1'))).toBe('fetch.notFound');
    expect(runtime.fetchesOf('reg.local/nothing:1')).toBe(1);
  });

  it('checks a pinned reference and a spec digest against the real digest', async () => {
    const runtime = createMemoryRuntime({ images: { 'reg.local/echo:1': echo('1') } });
    const digest = runtime.digestOf('reg.local/echo:1');
    const pinned = await runtime.fetch(`reg.local/echo:1@${digest}`);
    expect(pinned.digest).toBe(digest);
    expect(await codeOf(runtime.fetch(`reg.local/echo:1@sha256:${'0'.repeat(64)}`))).toBe('digest.mismatch');
    await runtime.validate(pinned, spec({ digest }));
    expect(await codeOf(runtime.validate(pinned, spec({ digest: `sha256:${'1'.repeat(64)}` })))).toBe(
      'digest.mismatch',
    );
    const tampered = { ...pinned, bytes: bytes('not the image') };
    expect(await codeOf(runtime.validate(tampered, spec()))).toBe('digest.mismatch');
  });

  it('keeps serving what was fetched after the tag moves (content-addressed)', async () => {
    const runtime = createMemoryRuntime({ images: { 'reg.local/echo:1': echo('1') } });
    const before = await runtime.fetch('reg.local/echo:1');
    runtime.publish('reg.local/echo:1', echo('2'));
    const instance = await runtime.instantiate(await runtime.validate(before, spec()), spec());
    expect(text(await instance.invoke('echo', bytes('x')))).toBe('1:x');
  });

  it('fails validation, instantiation and fetch as the image says', async () => {
    const runtime = createMemoryRuntime({
      images: {
        'reg.local/bad:1': echo('1', { validateError: 'missing export "alloc"' }),
        'reg.local/trap:1': echo('1', { instantiateError: 'start function trapped' }),
        'reg.local/flaky:1': echo('1', { fetchError: 'connection reset' }),
      },
    });
    const bad = await runtime.fetch('reg.local/bad:1');
    await expect(runtime.validate(bad, spec())).rejects.toMatchObject({
      code: 'validate.failed',
      message: 'missing export "alloc"',
    });
    const trap = await runtime.validate(await runtime.fetch('reg.local/trap:1'), spec());
    await expect(runtime.instantiate(trap, spec())).rejects.toMatchObject({
      code: 'instantiate.failed',
      message: 'start function trapped',
    });
    await expect(runtime.fetch('reg.local/flaky:1')).rejects.toMatchObject({ code: 'fetch.failed', retryable: true });
    const forged = { digest: bad.digest, kind: 'component' as const, operations: [], handle: null };
    expect(await codeOf(runtime.instantiate(forged, spec()))).toBe('instantiate.failed');
    expect(runtime.live).toBe(0);
  });

  it('takes fetchDelayMs on the injected clock and honours abort', async () => {
    const clock = new SimulatedClock();
    const runtime = createMemoryRuntime({ clock, images: { 'reg.local/slow:1': echo('1', { fetchDelayMs: 5_000 }) } });
    let done = false;
    const fetched = runtime.fetch('reg.local/slow:1').then((a) => {
      done = true;
      return a;
    });
    clock.increment(4_999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.increment(1);
    expect((await fetched).digest).toBe(runtime.digestOf('reg.local/slow:1'));
    const controller = new AbortController();
    const aborted = codeOf(runtime.fetch('reg.local/slow:1', { signal: controller.signal }));
    controller.abort();
    expect(await aborted).toBe('aborted');
    expect(runtime.fetches).toBe(2);
  });
});
