import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  createMemoryProvider,
  createProviderRegistry,
  HTTP_SERVER_BUILTIN_IMAGE,
  type HttpServerProvider,
  isHttpServerImage,
} from 'cutover/adapters/providers';
import { createArtifactCache, createWasmRuntime, fixtureModule } from 'cutover/adapters/wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHostRig, fenced, providerApply } from '../fixtures/host';
import { componentSpec, directedLink, imageRef, providerSpec as providerSpecOf } from '../fixtures/specs';
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

function context(bindMap: Record<string, string> = {}, hostId = 'host-1'): TestContext {
  const ctx: TestContext = {
    hostId,
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

async function start(
  ctx: ProviderContext,
  factory = createHttpServerProvider(),
  spec: ProviderSpec = providerSpec,
): Promise<HttpServerProvider> {
  const provider = await factory(spec, ctx);
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

  it('answers the calls in flight when a link is deleted, then releases the address', async () => {
    const ctx = context();
    let release: () => void = () => undefined;
    let signalStarted: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => {
      signalStarted = resolve;
    });
    ctx.hold = { started: () => signalStarted(), release: new Promise((resolve) => (release = resolve)) };
    const provider = await start(ctx, createHttpServerProvider({ handoffMs: 20 }));
    await provider.putLink(link('127.0.0.1:0'));
    const address = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const response = post(address, 'slow');
    await inFlight;
    // A delete never waits on calls the gate holds: during a swap the gate is paused until the swap ends.
    await provider.deleteLink(link('127.0.0.1:0'));
    expect(provider.links()).toEqual([]);
    release();
    expect(await response).toMatchObject({ status: 200, text: 'v1:slow' });
    await provider.released();
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

/**
 * Keep-alive clients, each POSTing one request after another on its own pooled connection and checking
 * every reply; `failures` lists every error, status other than 200, or wrong body.
 */
function keepAliveClients(address: string, clients: number, versions: readonly string[] = ['v1']) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const sep = address.lastIndexOf(':');
  const failures: string[] = [];
  const sockets = new Set<Socket>();
  let served = 0;
  let stopped = false;
  let waiting: { at: number; resolve: () => void } | undefined;
  const one = (body: string) =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          host: address.slice(0, sep),
          port: Number(address.slice(sep + 1)),
          method: 'POST',
          agent,
          headers: { 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (error) => failures.push(`${body}: ${error.message}`));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200 && versions.some((v) => text === `${v}:${body}`)) served++;
            else failures.push(`${body}: ${res.statusCode ?? 0} ${text}`);
            if (waiting !== undefined && served >= waiting.at) waiting.resolve();
            resolve();
          });
        },
      );
      req.on('socket', (socket: Socket) => sockets.add(socket));
      req.on('error', (error) => {
        failures.push(`${body}: ${error.message}`);
        resolve();
      });
      req.end(body);
    });
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let seq = 0; !stopped; seq++) await one(`c${c}#${seq}`);
  });
  return {
    failures,
    sockets,
    served: () => served,
    /** Resolves once `more` further requests were answered. */
    more(more: number): Promise<void> {
      return new Promise((resolve) => {
        waiting = { at: served + more, resolve };
      });
    },
    /** Stops sending; the pooled connections stay open until `close()`. */
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
    async close() {
      await this.stop();
      agent.destroy();
    },
  };
}

/** Resolves when every socket has closed. */
const allClosed = (sockets: Iterable<Socket>) =>
  Promise.all([...sockets].map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))));

describe('http-server provider: link swaps', () => {
  const CLIENTS = 4;
  const SWAPS = 25;

  it('keeps keep-alive clients served, with no failed request, across delete-then-put swaps on one address', async () => {
    const provider = await start(context());
    const address = `127.0.0.1:${await freePort()}`;
    await provider.putLink(link(address));
    const clients = keepAliveClients(address, CLIENTS);
    try {
      for (let i = 0; i < SWAPS; i++) {
        await clients.more(CLIENTS);
        // A changed link on the same address, as a rollout swaps it under the gate.
        await provider.deleteLink(link(address));
        await provider.putLink(link(address, { targetConfig: { revision: String(i) } }));
      }
      await clients.more(CLIENTS);
    } finally {
      await clients.close();
    }
    expect(clients.failures).toEqual([]);
    expect(clients.served()).toBeGreaterThanOrEqual(SWAPS * CLIENTS);
    // The connections outlived every swap: nothing was closed, so no client had to reconnect.
    expect(clients.sockets.size).toBe(CLIENTS);
    expect(provider.boundAddress(link(address))).toBe(address);
  });

  it('hands the socket from the old provider instance to the new one in a provider upgrade', async () => {
    const factory = createHttpServerProvider();
    const ctx = context();
    const old = await start(ctx, factory);
    const address = `127.0.0.1:${await freePort()}`;
    await old.putLink(link(address));
    const clients = keepAliveClients(address, CLIENTS);
    let next: HttpServerProvider | undefined;
    try {
      await clients.more(CLIENTS);
      await old.deleteLink(link(address));
      next = await start(
        ctx,
        factory,
        ProviderSpec.parse({ ...providerSpec, imageRef: 'ghcr.io/wasmcloud/http-server:0.24.0' }),
      );
      await next.putLink(link(address));
      await old.released();
      await old.stop();
      await clients.more(CLIENTS * 3);
    } finally {
      await clients.close();
    }
    expect(clients.failures).toEqual([]);
    expect(clients.sockets.size).toBe(CLIENTS);
    expect(next.boundAddress(link(address))).toBe(address);
  });

  it('gives a link on an ephemeral port (bindMap to port 0) its own socket back on a swap', async () => {
    const ctx = context({ '0.0.0.0:8080': '127.0.0.1:0', '0.0.0.0:8081': '127.0.0.1:0' });
    const provider = await start(ctx);
    await provider.putLink(link('0.0.0.0:8080'));
    await provider.putLink(link('0.0.0.0:8080', { name: 'other' }));
    const bound = provider.boundAddress(link('0.0.0.0:8080')) ?? '';
    const other = provider.boundAddress(link('0.0.0.0:8080', { name: 'other' }));
    const clients = keepAliveClients(bound, CLIENTS);
    try {
      for (let i = 0; i < 5; i++) {
        await clients.more(CLIENTS);
        await provider.deleteLink(link('0.0.0.0:8080'));
        await provider.putLink(link(i % 2 === 0 ? '0.0.0.0:8081' : '0.0.0.0:8080'));
      }
      await clients.more(CLIENTS);
    } finally {
      await clients.close();
    }
    expect(clients.failures).toEqual([]);
    expect(provider.boundAddress(link('0.0.0.0:8080'))).toBe(bound);
    expect(provider.boundAddress(link('0.0.0.0:8080', { name: 'other' }))).toBe(other);
  });

  it('never hands a socket to another host in the same process', async () => {
    const factory = createHttpServerProvider({ handoffMs: 20 });
    const bindMap = { '0.0.0.0:8080': '127.0.0.1:0' };
    const one = await start(context(bindMap, 'host-1'), factory);
    const two = await start(context(bindMap, 'host-2'), factory);
    await one.putLink(link('0.0.0.0:8080'));
    const first = one.boundAddress(link('0.0.0.0:8080'));
    await one.deleteLink(link('0.0.0.0:8080'));
    await two.putLink(link('0.0.0.0:8080'));
    expect(two.boundAddress(link('0.0.0.0:8080'))).not.toBe(first);
    await one.released();
    expect(await refused(first ?? '')).toBe(true);
  });

  it('closes idle keep-alive connections after a delete that no put follows, and releases the address', async () => {
    const provider = await start(context(), createHttpServerProvider({ handoffMs: 20 }));
    await provider.putLink(link('127.0.0.1:0'));
    const address = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const clients = keepAliveClients(address, CLIENTS);
    await clients.more(CLIENTS * 2);
    await clients.stop();
    expect(clients.failures).toEqual([]);
    expect(clients.sockets.size).toBe(CLIENTS);
    await provider.deleteLink(link('127.0.0.1:0'));
    await provider.released();
    // The clients' pooled connections are still open on their side: the server ended them.
    await allClosed(clients.sockets);
    expect(await refused(address)).toBe(true);
    await clients.close();
  });

  it('lets a process exit right after a plain delete, with a keep-alive client still connected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cutover-http-exit-'));
    const provider = fileURLToPath(new URL('../../adapters/providers/httpServerProvider.ts', import.meta.url));
    const script = join(dir, 'deleteThenExit.mts');
    // No stop(), no timers of its own: the process ends only if nothing the provider holds keeps it alive.
    await writeFile(
      script,
      `import { Agent, request } from 'node:http';
import { LinkSpec, ProviderSpec } from 'cutover';
import { createHttpServerProvider } from ${JSON.stringify(provider)};
const spec = ProviderSpec.parse({ id: 'http', app: 'shop', imageRef: 'wasmcloud+builtin://http-server' });
// A hand-over window far past the bound below: only the parked socket being unref'd lets the process end.
const http = await createHttpServerProvider({ handoffMs: 600_000 })(spec, {
  hostId: 'h', lattice: 'l', mapAddress: (a) => a, invoke: async (_c, _o, payload) => payload,
});
const link = LinkSpec.parse({ source: 'http', target: 'api', namespace: 'wasi', package: 'http',
  interfaces: ['incoming-handler'], sourceConfig: { address: '127.0.0.1:0' } });
await http.putLink(link);
const address = http.boundAddress(link) ?? '';
const agent = new Agent({ keepAlive: true });
const text = await new Promise((resolve) => request(
  { host: '127.0.0.1', port: Number(address.split(':')[1]), method: 'POST', agent },
  (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => resolve(t)); },
).end('ping'));
await http.deleteLink(link);
console.log('served', text);
`,
    );
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        // A bound, not a measurement: a process kept alive by the provider is killed and fails below.
        timeout: 15_000,
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.once('exit', (c, s) => resolve([c, s])),
      );
      expect({ code, signal, out: out.trim() }).toEqual({ code: 0, signal: null, out: 'served ping' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers a request arriving after a delete that no put follows with 503 link.failed and closes', async () => {
    const provider = await start(context(), createHttpServerProvider({ handoffMs: 20 }));
    await provider.putLink(link('127.0.0.1:0'));
    const address = provider.boundAddress(link('127.0.0.1:0')) ?? '';
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const send = () =>
      new Promise<{ status: number; code: string | undefined; connection: string | undefined }>((resolve, reject) => {
        const sep = address.lastIndexOf(':');
        const req = request(
          { host: address.slice(0, sep), port: Number(address.slice(sep + 1)), method: 'POST', agent },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                code: res.headers['x-cutover-error'] as string | undefined,
                connection: res.headers.connection,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end('late');
      });
    try {
      expect(await send()).toEqual({ status: 200, code: undefined, connection: 'keep-alive' });
      await provider.deleteLink(link('127.0.0.1:0'));
      // Sent on the pooled connection while the socket waits for a put that never comes.
      expect(await send()).toEqual({ status: 503, code: 'link.failed', connection: 'close' });
    } finally {
      agent.destroy();
    }
    await provider.released();
  });

  it('makes room on a port a deleted link still holds for a put of an overlapping address', async () => {
    const provider = await start(context());
    const port = await freePort();
    await provider.putLink(link(`127.0.0.1:${port}`));
    await provider.deleteLink(link(`127.0.0.1:${port}`));
    await provider.putLink(link(`0.0.0.0:${port}`, { name: 'wide' }));
    expect(provider.boundAddress(link(`0.0.0.0:${port}`, { name: 'wide' }))).toBe(`0.0.0.0:${port}`);
    expect((await post(`127.0.0.1:${port}`, 'wide')).text).toBe('v1:wide');
  });
});

describe('http-server provider behind a host', () => {
  const CLIENTS = 4;
  const VERSIONS = ['v1', 'v2', 'v3', 'v4', 'v5'] as const;
  const httpLink = (address: string, version: string) =>
    directedLink('incoming', {
      source: 'http',
      target: 'api',
      namespace: 'wasi',
      package: 'http',
      interfaces: ['incoming-handler'],
      // The link changes with every version, so each upgrade swaps it (delete, then put) under the gate.
      sourceConfig: { address },
      targetConfig: { version },
    });
  const apiAt = (address: string, version: string) =>
    componentSpec({ imageRef: imageRef('api', version), links: [httpLink(address, version)] });
  const httpSpec = (imageRef: string) => providerSpecOf({ id: 'http', imageRef });

  async function rigServing(address: string) {
    const http = createHttpServerProvider({ operation: 'echo' });
    const rig = await createHostRig({
      providers: createProviderRegistry(
        { [HTTP_SERVER_BUILTIN_IMAGE]: http, 'ghcr.io/wasmcloud/http-server': http },
        createMemoryProvider(),
      ),
    });
    rig.publishApi(VERSIONS.length);
    expect((await rig.host.apply(providerApply(httpSpec(HTTP_SERVER_BUILTIN_IMAGE)))).type).toBe('component.applied');
    expect((await rig.host.apply(fenced(apiAt(address, 'v1')))).type).toBe('component.applied');
    return rig;
  }

  it('upgrades a component whose http link is swapped under the gate with no failed keep-alive request', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await using rig = await rigServing(address);
    const clients = keepAliveClients(address, CLIENTS, VERSIONS);
    try {
      for (const version of VERSIONS.slice(1)) {
        await clients.more(CLIENTS * 2);
        expect((await rig.host.apply(fenced(apiAt(address, version)))).type).toBe('component.applied');
      }
      await clients.more(CLIENTS * 2);
    } finally {
      await clients.close();
    }
    expect(clients.failures).toEqual([]);
    expect(clients.sockets.size).toBe(CLIENTS);
  });

  it('upgrades the http-server provider itself (links move to the new instance) with no failed request', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await using rig = await rigServing(address);
    const old = rig.host.provider('http');
    const clients = keepAliveClients(address, CLIENTS);
    try {
      await clients.more(CLIENTS * 2);
      const upgrade = httpSpec('ghcr.io/wasmcloud/http-server:0.24.0');
      expect((await rig.host.apply(providerApply(upgrade))).type).toBe('component.applied');
      await clients.more(CLIENTS * 4);
    } finally {
      await clients.close();
    }
    expect(rig.host.provider('http')).not.toBe(old);
    expect(clients.failures).toEqual([]);
    expect(clients.sockets.size).toBe(CLIENTS);
  });
});
