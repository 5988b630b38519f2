// A lattice of real hosts and orchestrators on the memory adapter, one simulated clock for everything (hosts,
// orchestrators, the memory bus's request timeouts, the memory runtime's downloads), and handles to inject
// the faults a scheduler must survive. The faults themselves live in faultyRuntime.ts and faults.ts.
import { createMemoryBus, type MemoryBus } from '../../adapters/memory/createMemoryBus';
import { createMemoryRuntime, type MemoryImage, type MemoryRuntime } from '../../adapters/memory/createMemoryRuntime';
import { createMemoryStore, type MemoryStore } from '../../adapters/memory/createMemoryStore';
import { createMemoryProvider } from '../../adapters/providers/memoryProvider';
import { createHost } from '../host/createHost';
import type { Host } from '../host/types';
import { createOrchestrator } from '../orchestrator/createOrchestrator';
import type { Orchestrator, OrchestratorOptions } from '../orchestrator/types';
import type { LinkSpec } from '../protocol/spec';
import type { ComponentRuntime } from '../ports/runtime';
import type { Transport } from '../ports/transport';
import { type DriveOptions, drive, until } from './drive';
import { type FaultHandle, faultHandle, type SwitchableStore, switchableStore } from './faults';
import { FaultTable, type HostFaultOptions } from './faultyRuntime';
import { SimulatedClock, settle } from './simulatedClock';

/** A host of a test lattice: its id and labels (placement spreads by labels). */
export interface TestHost {
  hostId: string;
  labels?: Record<string, string>;
}

/** Options of {@link createTestLattice}. */
export interface TestLatticeOptions {
  /** A count (hosts `h1…hn`), or the hosts by id or with labels. */
  hosts: number | ReadonlyArray<string | TestHost>;
  /** The one clock of the lattice (default: a new simulated clock at 0). The bus gets it too. */
  clock?: SimulatedClock;
  /** Lattice name (default `test`). */
  lattice?: string;
  /** Host heartbeats on the simulated clock, ms (default 0: off). */
  heartbeatMs?: number;
  /** A runtime for some hosts instead of the shared memory runtime (looked up when a host is added). */
  runtimes?: Record<string, ComponentRuntime>;
  /** Wraps a host's bus connection (e.g. {@link slowTransport}); faults still see the bus connection. */
  hostTransport?: (hostId: string, transport: Transport, clock: SimulatedClock) => Transport;
  /** Defaults for every {@link TestLattice.orchestrator} (after the lattice's own). */
  orchestrator?: Partial<OrchestratorOptions>;
}

/** Handles to switch faults on; each returns a {@link FaultHandle} whose `clear()` ends the fault. */
export interface LatticeFaults {
  /** Validation of what `hostId` downloads (one image, or every image) fails with `validate.failed`. */
  failValidation(hostId: string, options?: HostFaultOptions & { message?: string }): FaultHandle;
  /** Downloads on `hostId` never finish (its workloads stay `downloading`) until cleared or aborted. */
  neverReady(hostId: string, options?: HostFaultOptions): FaultHandle;
  /** Downloads on `hostId` take `ms` more simulated time. */
  slowDownload(hostId: string, ms: number, options?: HostFaultOptions): FaultHandle;
  /** Providers on `hostId` refuse link puts (those `match` picks) with `link.failed` and `reason`. */
  refuseLinks(hostId: string, options?: { reason?: string; match?: (link: LinkSpec) => boolean }): FaultHandle;
  /**
   * `hostId` is lost. `crash` (default): it stops (requests to it find no responder at once, as on NATS once
   * its connection is gone) and returns as a fresh host with the same id and labels, serving nothing.
   * `partition`: it stays up but drops off the bus (requests to it time out), and returns with what it had.
   * Resolves once the host is gone.
   */
  loseHost(hostId: string, options?: { mode?: 'crash' | 'partition' }): Promise<LostHost>;
  /** The store path of the lattice's orchestrators fails with `store.unavailable`; `clear()` recovers it. */
  storeOutage(): FaultHandle;
  /** A fraction (0..1) of calls to instances of `image` fail with `invoke.failed`, spread evenly. */
  errorRate(image: string, rate: number, options?: { hostId?: string }): FaultHandle;
  /** Calls to instances of `image` answer `ms` simulated ms late. */
  latency(image: string, ms: number, options?: { hostId?: string }): FaultHandle;
  /** Ends every fault still on. */
  clearAll(): void;
}

/** A lost host's fault handle: `clear()` brings the host back; `returned()` does and waits until it is. */
export interface LostHost extends FaultHandle {
  /** Ends the fault and resolves with the host once it is back on the bus. */
  returned(): Promise<Host>;
}

/** A running test lattice; `await using` stops its orchestrators, hosts and bus. */
export interface TestLattice extends AsyncDisposable {
  readonly lattice: string;
  readonly clock: SimulatedClock;
  readonly bus: MemoryBus;
  /** The store itself; orchestrators reach it through a path {@link LatticeFaults.storeOutage} can cut. */
  readonly store: MemoryStore;
  /** The runtime hosts share (unless given their own): publish images here. */
  readonly runtime: MemoryRuntime;
  readonly hosts: Map<string, Host>;
  readonly faults: LatticeFaults;
  /** The host `hostId`; throws when there is none. */
  host(hostId: string): Host;
  addHost(hostId: string, labels?: Record<string, string>): Promise<Host>;
  /** Stops a host for good (see {@link LatticeFaults.loseHost} for one that returns). */
  removeHost(hostId: string): Promise<void>;
  /**
   * An orchestrator on this lattice's bus, store path and clock (scalers off unless asked for). The clock moves
   * in 50 ms steps while it starts and while any of its calls waits on it (an orchestrator gathers host
   * inventories in a 100 ms scatter/gather window); a call that settles at once moves nothing.
   */
  orchestrator(options?: Partial<OrchestratorOptions>): Promise<Orchestrator>;
  /**
   * Publishes an image on the shared runtime. By default its one operation `echo` answers `<version>:<payload>`,
   * where `version` defaults to the tag of `ref` (`mem://api:2` → `2`).
   */
  publish(ref: string, image?: Partial<MemoryImage>): string;
  /** What each host serves for an app: hostId → workload id → serving spec hash. */
  serving(app: string): Record<string, Record<string, string | undefined>>;
  /** Advances the clock until `done` settles; returns its value. */
  drive<T>(done: Promise<T>, options?: DriveOptions): Promise<T>;
  /** Advances the clock until `holds()` is true. */
  until(holds: () => boolean, options?: DriveOptions): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `orchestrator` whose calls move `clock` in small steps while they wait on it: a deploy or a status may
 * gather host inventories first (a scatter/gather window on the lattice's simulated clock), which would
 * otherwise wait for a clock nobody moves. A call that settles at once moves nothing.
 */
function drivenWhileWaiting(orchestrator: Orchestrator, clock: SimulatedClock): Orchestrator {
  return new Proxy(orchestrator, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out: unknown = Reflect.apply(value, target, args);
        if (!(out instanceof Promise)) return out;
        // The call settles as it would anyway; the clock only moves if it is still waiting once all is idle.
        let waiting = true;
        const settled = out.finally(() => {
          waiting = false;
        });
        void (async () => {
          await settle();
          for (let i = 0; waiting && i < 100_000; i++) await clock.advance(50);
        })();
        return settled;
      };
    },
  });
}

function hostList(hosts: TestLatticeOptions['hosts']): TestHost[] {
  if (typeof hosts === 'number') return Array.from({ length: hosts }, (_, i) => ({ hostId: `h${i + 1}` }));
  return hosts.map((h) => (typeof h === 'string' ? { hostId: h } : h));
}

/**
 * Starts real hosts (memory bus, memory runtime, memory providers) and hands out orchestrators, all on one
 * simulated clock, with fault handles.
 * @example
 * await using lattice = await createTestLattice({ hosts: 3 });
 * lattice.publish('mem://api:1');
 * const orchestrator = await lattice.orchestrator();
 * await lattice.drive((await orchestrator.deploy(v1)).done);
 */
export async function createTestLattice(options: TestLatticeOptions): Promise<TestLattice> {
  const clock = options.clock ?? new SimulatedClock();
  const lattice = options.lattice ?? 'test';
  const bus = createMemoryBus({ clock });
  const store = createMemoryStore({ lattice });
  const runtime = createMemoryRuntime({ clock });
  const table = new FaultTable(clock);
  const storePath: SwitchableStore = switchableStore(store);
  const hosts = new Map<string, Host>();
  const connections = new Map<string, Transport>();
  const orchestrators: Orchestrator[] = [];
  const handles: FaultHandle[] = [];
  const track = (handle: FaultHandle) => {
    handles.push(handle);
    return handle;
  };

  const labelsOf = new Map<string, Record<string, string>>();
  const removeHost = async (hostId: string) => {
    const host = hosts.get(hostId);
    hosts.delete(hostId);
    await host?.stop();
    await connections.get(hostId)?.close();
    connections.delete(hostId);
  };
  const addHost = async (hostId: string, labels: Record<string, string> = {}) => {
    if (hosts.has(hostId)) throw new Error(`host "${hostId}" is already in the lattice`);
    labelsOf.set(hostId, labels);
    const connection = bus.connect(hostId);
    connections.set(hostId, connection);
    const host: Host = await createHost({
      hostId,
      lattice,
      labels,
      transport: options.hostTransport?.(hostId, connection, clock) ?? connection,
      runtime: table.runtimeFor(hostId, options.runtimes?.[hostId] ?? runtime),
      clock,
      heartbeatMs: options.heartbeatMs ?? 0,
      defaultProvider: createMemoryProvider({
        refuse: (link, op) => (op === 'put' ? table.refusal(hostId, link) : undefined),
      }),
    });
    hosts.set(hostId, host);
    return host;
  };
  for (const h of hostList(options.hosts)) await addHost(h.hostId, h.labels ?? {});

  const faults: LatticeFaults = {
    failValidation: (hostId, o) => track(table.failValidation(hostId, o)),
    neverReady: (hostId, o) => track(table.neverReady(hostId, o)),
    slowDownload: (hostId, ms, o) => track(table.slowDownload(hostId, ms, o)),
    refuseLinks: (hostId, o) => track(table.refuseLinks(hostId, o)),
    loseHost: async (hostId, o = {}) => {
      const connection = connections.get(hostId);
      const host = hosts.get(hostId);
      if (connection === undefined || host === undefined) throw new Error(`no host "${hostId}" in the lattice`);
      let back: Promise<Host>;
      let handle: FaultHandle;
      if (o.mode === 'partition') {
        bus.partition(connection);
        handle = faultHandle(`host "${hostId}" is cut off`, () => {
          bus.heal(connection);
          back = Promise.resolve(host);
        });
      } else {
        await removeHost(hostId);
        handle = faultHandle(`host "${hostId}" crashed`, () => {
          back = addHost(hostId, labelsOf.get(hostId) ?? {});
        });
      }
      track(handle);
      return Object.assign(handle, {
        returned: async () => {
          handle.clear();
          return back;
        },
      });
    },
    storeOutage: () => {
      storePath.down();
      return track(faultHandle('the store is out', () => storePath.up()));
    },
    errorRate: (image, rate, o = {}) => {
      if (!(rate >= 0 && rate <= 1)) throw new RangeError(`error rate must be within 0..1, got ${rate}`);
      return track(table.version(image, { errorRate: rate, ...o }, `"${image}" fails ${rate * 100}% of calls`));
    },
    latency: (image, ms, o = {}) => {
      if (!(ms >= 0)) throw new RangeError(`latency must be 0 or more ms, got ${ms}`);
      return track(table.version(image, { latencyMs: ms, ...o }, `"${image}" answers ${ms} ms late`));
    },
    clearAll: () => {
      for (const h of handles.splice(0)) h.clear();
    },
  };

  return {
    lattice,
    clock,
    bus,
    store,
    runtime,
    hosts,
    faults,
    host: (hostId) => {
      const host = hosts.get(hostId);
      if (host === undefined) throw new Error(`no host "${hostId}" in the lattice`);
      return host;
    },
    addHost,
    removeHost,
    orchestrator: async (o = {}) => {
      // Started while the clock moves in small steps: an orchestrator that resumes rollouts first gathers host
      // inventories, a scatter/gather window on the lattice's (simulated) clock.
      const starting = createOrchestrator({
        lattice,
        transport: bus.connect(`orchestrator-${orchestrators.length + 1}`),
        store: storePath.store,
        clock,
        heartbeatMs: 1000,
        requestTimeoutMs: 2000,
        scalers: false,
        ...options.orchestrator,
        ...o,
      });
      const orchestrator = drivenWhileWaiting(await drive(clock, starting, { stepMs: 50 }), clock);
      orchestrators.push(orchestrator);
      return orchestrator;
    },
    publish: (ref, image = {}) => {
      const version = image.version ?? ref.slice(ref.lastIndexOf(':') + 1);
      return runtime.publish(ref, {
        version,
        operations: { echo: (payload) => encoder.encode(`${version}:${decoder.decode(payload)}`) },
        ...image,
      });
    },
    serving: (app) => {
      const out: Record<string, Record<string, string | undefined>> = {};
      for (const [id, h] of [...hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const mine = h.inventory().components.filter((c) => c.app === app && c.status !== 'stopped');
        out[id] = Object.fromEntries(mine.map((c) => [c.id, c.servingHash]));
      }
      return out;
    },
    drive: (done, o) => drive(clock, done, o),
    until: (holds, o) => until(clock, holds, o),
    [Symbol.asyncDispose]: async () => {
      faults.clearAll();
      for (const o of orchestrators) await o.close();
      for (const h of hosts.values()) await h.stop();
      await bus.close();
      await store.close();
    },
  };
}
