import { type Server, createServer } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { createMemoryBus, createMemoryStore } from '../../../adapters/memory';
import {
  HTTP_SERVER_BUILTIN_IMAGE,
  type HttpServerProvider,
  createHttpServerProvider,
  createMemoryProvider,
  createProviderRegistry,
} from '../../../adapters/providers';
import { createWasmRuntime, fixtureModule, sha256Digest } from '../../../adapters/wasm';
import { type Host, createHost } from '../../host/createHost';
import { type Orchestrator, createOrchestrator } from '../../orchestrator/createOrchestrator';
import type { LinkProvider } from '../../ports/provider';
import { DEMO_ADDRESSES, DEMO_VERSIONS, demoImage } from './manifest';

export const DEMO_LATTICE = 'demo';

/** Options of {@link startLattice}. */
export interface LatticeOptions {
  hosts: number;
  /** Index of the host whose v3 listen address is already taken by a socket the demo holds. */
  blockedHost: number;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** The demo lattice: hosts, one orchestrator, and the HTTP servers the hosts run. */
export interface DemoLattice extends AsyncDisposable {
  readonly hosts: readonly Host[];
  readonly orchestrator: Orchestrator;
  /** The address that blocks v3 on the blocked host (a real listening socket). */
  readonly blockedAddress: string;
  /** The HTTP server provider instance a host serves with now, if any. */
  httpServer(host: Host, providerId: string): HttpServerProvider | undefined;
  dispose(): Promise<void>;
}

/** Host ids sort by name the way the rolling planner orders hosts: zero-padded. */
export function hostIds(count: number): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `host-${String(i + 1).padStart(width, '0')}`);
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? `127.0.0.1:${address.port}` : '');
    });
  });
}

/**
 * Starts `hosts` hosts and an orchestrator on one in-memory bus and store. Every host runs the real
 * wasm runtime (one artifact cache) and the real HTTP server provider; a per-host bindMap sends the
 * manifest's `0.0.0.0:808x` addresses to ephemeral loopback ports so all hosts share this machine,
 * except the blocked host, whose v3 address points at a port the demo holds open.
 */
export async function startLattice(options: LatticeOptions): Promise<DemoLattice> {
  const artifacts = Object.fromEntries(DEMO_VERSIONS.map((v) => [demoImage(v), fixtureModule(v)]));
  const bus = createMemoryBus();
  const store = createMemoryStore({ lattice: DEMO_LATTICE });
  const blocker = createServer((socket) => socket.destroy());
  const blockedAddress = await listen(blocker);
  // The host sees a plain LinkProvider; the demo keeps the typed instance to read its bound addresses.
  const httpInstances = new WeakMap<LinkProvider, HttpServerProvider>();
  const httpFactory = createHttpServerProvider({ drainTimeoutMs: 1_000 });
  const http = async (...args: Parameters<typeof httpFactory>): Promise<LinkProvider> => {
    const instance = await httpFactory(...args);
    httpInstances.set(instance, instance);
    return instance;
  };
  const hosts: Host[] = [];
  let orchestrator: Orchestrator | undefined;
  let disposed = false;

  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await orchestrator?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await bus.close();
    await store[Symbol.asyncDispose]();
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  };

  try {
    const ids = hostIds(options.hosts);
    for (const [i, hostId] of ids.entries()) {
      const bindMap = Object.fromEntries(Object.values(DEMO_ADDRESSES).map((a) => [a, '127.0.0.1:0']));
      if (i === options.blockedHost) bindMap[DEMO_ADDRESSES.v3] = blockedAddress;
      hosts.push(
        await createHost({
          hostId,
          lattice: DEMO_LATTICE,
          labels: { zone: `zone-${(i % 3) + 1}` },
          transport: bus.connect(hostId),
          runtime: createWasmRuntime({ artifacts }),
          providers: createProviderRegistry(
            { [HTTP_SERVER_BUILTIN_IMAGE]: http, 'ghcr.io/wasmcloud/http-server': http },
            createMemoryProvider(),
          ),
          bindMap,
          heartbeatMs: 2_000,
          ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
        }),
      );
    }
    orchestrator = await createOrchestrator({
      lattice: DEMO_LATTICE,
      transport: bus.connect('orchestrator'),
      store,
      holder: 'cutover-demo',
      heartbeatMs: 250,
      // Tags are pinned to the digest of the bytes at plan time, as a registry would resolve them.
      resolveImage: async (ref) => {
        const bytes = artifacts[ref];
        return bytes === undefined ? undefined : sha256Digest(bytes);
      },
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
  } catch (error) {
    await dispose();
    throw error;
  }
  const orch = orchestrator;
  return {
    hosts,
    orchestrator: orch,
    blockedAddress,
    httpServer(host, providerId) {
      const provider = host.provider(providerId);
      return provider === undefined ? undefined : httpInstances.get(provider);
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
