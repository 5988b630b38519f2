import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import {
  type ComponentInstance,
  ComponentSpec,
  CutoverError,
  hasCode,
  LinkSpec,
  type LinkSpecInput,
  type ProviderContext,
  ProviderSpec,
} from 'cutover';
import {
  createHttpServerProvider,
  HTTP_SERVER_BUILTIN_IMAGE,
  type HttpServerProvider,
  isHttpServerImage,
} from 'cutover/adapters/providers';
import { createArtifactCache, createWasmRuntime, fixtureModule } from 'cutover/adapters/wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture } from '../fixtures/wasm/buildFixture';
import { freePort } from '../helpers/registry';

const providerSpec = ProviderSpec.parse({ id: 'http', app: 'shop', imageRef: HTTP_SERVER_BUILTIN_IMAGE });
const link = (address: string | undefined, input: Partial<LinkSpecInput> = {}): LinkSpec =>
  LinkSpec.parse({
    source: 'http',
    target: 'api',
    namespace: 'wasi',
    package: 'http',
    interfaces: ['incoming-handler'],
    sourceConfig: address === undefined ? {} : { address },
    ...input,
  });

/** Real wasm components behind a minimal gate: a refusal list, and a hold to keep a call in flight. */
interface TestContext extends ProviderContext {
  refuse: Set<string>;
  calls: string[];
  hold?: { started: () => void; release: Promise<void> };
}

let components: Map<string, ComponentInstance>;

beforeAll(async () => {
  const runtime = createWasmRuntime({ cache: createArtifactCache(), artifacts: { v1: fixtureModule('v1') } });
  const spec = ComponentSpec.parse({ id: 'api', app: 'shop', imageRef: 'v1' });
  const api = await runtime.instantiate(await runtime.validate(await runtime.fetch('v1'), spec), spec);
  const trapBytes = await buildFixture('trap');
  const trapSpec = ComponentSpec.parse({ id: 'trap', app: 'shop', imageRef: 'trap' });
  const trap = await runtime.instantiate(
    await runtime.validate(await createWasmRuntime({ artifacts: { trap: trapBytes } }).fetch('trap'), trapSpec),
    trapSpec,
  );
  components = new Map([
    ['api', api],
    ['trap', trap],
  ]);
});

function context(bindMap: Record<string, string> = {}): TestContext {
  const ctx: TestContext = {
    hostId: 'host-1',
    lattice: 'default',
    refuse: new Set(),
    calls: [],
    mapAddress: (address) => bindMap[address] ?? address,
    async invoke(componentId, operation, payload) {
      ctx.calls.push(`${componentId}.${operation}`);
      if (ctx.refuse.has(componentId)) throw new CutoverError('gate.overflow', `gate of "${componentId}" is full`);
      if (ctx.hold) {
        ctx.hold.started();
        await ctx.hold.release;
      }
      const instance = components.get(componentId);
      if (!instance) throw new CutoverError('invoke.notFound', `no component "${componentId}"`);
      return instance.invoke(operation, payload);
    },
  };
  return ctx;
}

const started: HttpServerProvider[] = [];
const listeners: NetServer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  await Promise.all(listeners.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function start(ctx: ProviderContext): Promise<HttpServerProvider> {
  const provider = await createHttpServerProvider()(providerSpec, ctx);
  started.push(provider);
  return provider;
}

async function occupiedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  listeners.push(server);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function post(address: string, body: string): Promise<{ status: number; text: string; code: string | null }> {
  const res = await fetch(`http://${address}/`, { method: 'POST', body, headers: { connection: 'close' } });
  return { status: res.status, text: await res.text(), code: res.headers.get('x-cutover-error') };
}

async function refused(address: string): Promise<boolean> {
  return fetch(`http://${address}/`, { method: 'POST', body: 'x', headers: { connection: 'close' } }).then(
    () => false,
    () => true,
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('http-server provider', () => {
  it('binds the link address (port 0 = ephemeral) and routes each request through the gate to the component', async () => {
    const ctx = context();
    const provider = await start(ctx);
    await provider.putLink(link('127.0.0.1:0'));
    const bound = provider.boundAddress(link('127.0.0.1:0'));
    expect(bound).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(bound?.endsWith(':0')).toBe(false);
    expect(await post(bound ?? '', 'hello')).toEqual({ status: 200, text: 'v1:hello', code: null });
    expect(ctx.calls).toEqual(['api.handle']);
    expect(provider.links()).toEqual([link('127.0.0.1:0')]);
    expect([...provider.addresses().values()]).toEqual([bound]);
  });

  it('applies the host bindMap before binding', async () => {
    const provider = await start(context({ '0.0.0.0:8080': '127.0.0.1:0' }));
    await provider.putLink(link('0.0.0.0:8080'));
    const bound = provider.boundAddress(link('0.0.0.0:8080')) ?? '';
    expect(bound).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await post(bound, 'mapped')).text).toBe('v1:mapped');
  });

  it('answers 503 with the code when the gate refuses, and 500 when the component fails', async () => {
    const ctx = context();
    const provider = await start(ctx);
    await provider.putLink(link('127.0.0.1:0'));
    await provider.putLink(link('127.0.0.1:0', { name: 'trapping', target: 'trap' }));
    ctx.refuse.add('api');
    const full = await post(provider.boundAddress(link('127.0.0.1:0')) ?? '', 'x');
    expect(full.status).toBe(503);
    expect(full.code).toBe('gate.overflow');
    expect(JSON.parse(full.text)).toMatchObject({ code: 'gate.overflow' });
    const trapped = await post(provider.boundAddress(link('127.0.0.1:0', { name: 'trapping' })) ?? '', 'x');
    expect(trapped.status).toBe(500);
    expect(trapped.code).toBe('invoke.failed');
  });

  it('fails the link with link.failed "address in use" when another listener holds the address', async () => {
    const port = await occupiedPort();
    const provider = await start(context());
    const error = await rejection(provider.putLink(link(`127.0.0.1:${port}`)));
    expect(hasCode(error, 'link.failed')).toBe(true);
    expect((error as Error).message).toContain('address in use');
    expect(provider.links()).toEqual([]);
  });

  it('fails the second of two links asking for the same address', async () => {
    const provider = await start(context());
    await provider.putLink(link('127.0.0.1:0'));
    const taken = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const error = await rejection(provider.putLink(link(taken, { name: 'second' })));
    expect((error as Error).message).toContain('address in use');
  });

  it('moves a link whose address changed: the old socket closes, the new one serves', async () => {
    const provider = await start(context());
    await provider.putLink(link('127.0.0.1:0'));
    const before = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const next = `127.0.0.1:${await freePort()}`;
    await provider.putLink(link(next));
    expect(provider.boundAddress(link(next))).toBe(next);
    expect(await refused(before)).toBe(true);
    expect((await post(next, 'moved')).text).toBe('v1:moved');
    expect(provider.links()).toHaveLength(1);
  });

  it('keeps the same socket when a put repeats the same address', async () => {
    const provider = await start(context());
    await provider.putLink(link('127.0.0.1:0'));
    const before = provider.boundAddress(link('127.0.0.1:0'));
    await provider.putLink(link('127.0.0.1:0', { targetConfig: { changed: 'yes' } }));
    expect(provider.boundAddress(link('127.0.0.1:0'))).toBe(before);
    expect(provider.links()[0]?.targetConfig).toEqual({ changed: 'yes' });
  });

  it('closes the server on delete only after in-flight requests are answered', async () => {
    const ctx = context();
    let release: () => void = () => undefined;
    let signalStarted: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => {
      signalStarted = resolve;
    });
    ctx.hold = { started: () => signalStarted(), release: new Promise((resolve) => (release = resolve)) };
    const provider = await start(ctx);
    await provider.putLink(link('127.0.0.1:0'));
    const address = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const response = post(address, 'slow');
    await inFlight;
    let deleted = false;
    const deletion = provider.deleteLink(link('127.0.0.1:0')).then(() => {
      deleted = true;
    });
    expect(provider.inFlight()).toBe(1);
    // The delete has stopped accepting, but waits for the call the gate already accepted.
    await new Promise((resolve) => setImmediate(resolve));
    expect(deleted).toBe(false);
    release();
    expect(await response).toMatchObject({ status: 200, text: 'v1:slow' });
    await deletion;
    expect(provider.links()).toEqual([]);
    expect(await refused(address)).toBe(true);
  });

  it('stop() closes every server', async () => {
    const provider = await start(context());
    await provider.putLink(link('127.0.0.1:0'));
    await provider.putLink(link('127.0.0.1:0', { name: 'other' }));
    const addresses = [...provider.addresses().values()];
    await provider.stop();
    for (const address of addresses) expect(await refused(address)).toBe(true);
    expect(hasCode(await rejection(provider.putLink(link('127.0.0.1:0'))), 'provider.failed')).toBe(true);
  });

  it('refuses links that are not wasi:http incoming-handler from this provider', async () => {
    const provider = await start(context());
    const wrongInterface = await rejection(
      provider.putLink(link('127.0.0.1:0', { namespace: 'wasi', package: 'keyvalue', interfaces: ['store'] })),
    );
    expect(hasCode(wrongInterface, 'link.failed')).toBe(true);
    expect(hasCode(await rejection(provider.putLink(link('127.0.0.1:0', { source: 'other' }))), 'link.failed')).toBe(
      true,
    );
    expect(hasCode(await rejection(provider.putLink(link('nonsense'))), 'link.failed')).toBe(true);
  });

  it('holds no socket for a put the host already gave up on', async () => {
    const provider = await start(context());
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(provider.putLink(link('127.0.0.1:0'), { signal: controller.signal }));
    expect(hasCode(error, 'link.timeout')).toBe(true);
    expect(provider.links()).toEqual([]);
  });

  it('recognises the built-in and ghcr.io http-server images', () => {
    expect(isHttpServerImage('wasmcloud+builtin://http-server')).toBe(true);
    expect(isHttpServerImage('ghcr.io/wasmcloud/http-server:0.23.0')).toBe(true);
    expect(isHttpServerImage('oci://ghcr.io/wasmcloud/http-server:0.23.0')).toBe(true);
    expect(isHttpServerImage('ghcr.io/wasmcloud/keyvalue-redis:0.28.1')).toBe(false);
  });
});
