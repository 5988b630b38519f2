// NATS benchmark (issue 8 item 6): loopback round trips on a real nats-server against real hosts, KV CAS puts,
// and a 100-host rollout over NATS. Prints numbers, asserts nothing about time.
// The round trips run twice: against a host in this process (the figures since issue 8: `applyP99Ms`, …), where
// the host's cut-over and GC share the requester's event loop, and against a host in a process of its own
// (`applyRemoteP99Ms`, …), as hosts are deployed (test/bench/fleet/hostProcess.mjs on the built package).
// Where the tail comes from (issue 20 goal 4) is printed per operation under `tail`: how many of the slowest 1%
// of samples overlapped a GC pause (of this process, or of the host process) and how many had a thread of the
// processes involved (this one, nats-server, the host process) waiting for a CPU (Linux run-queue time from
// /proc/<pid>/task/*/schedstat), and the p99 of the samples with neither.
// One file over 400 lines on purpose: both round-trip setups share the samples, the tail attribution and the
// JSON line, which would otherwise be split across files that cannot run alone.
// Last line of the run: {"bench":"nats","applyP99Ms":…,"kvPutP99Ms":…,"rollout100Ms":…,"tail":{…}}
import { openSync, closeSync, readdirSync, readSync } from 'node:fs';
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type Host,
  type HostOutcome,
  type Orchestrator,
  type StateStore,
  type Transport,
  createHost,
  createOrchestrator,
  subjects,
} from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { revision as appRevision } from '../fixtures/orchestrator';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { BUILD_TIMEOUT_MS, ensureBuilt } from '../readme/builtPackage';
import { type Child, fleetScript, nextMessage, startChild, stopChildren } from './fleet/childProcess';

const lattice = 'bench';
const hostId = 'bench-host';
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * One timed operation: how long it took, its window in epoch ms (so it can be matched against the GC pauses of
 * any process on this machine), and the longest any one thread of the processes involved waited for a CPU
 * during it (null where /proc/<pid>/task/<tid>/schedstat is not available).
 */
interface Sample {
  ms: number;
  start: number;
  end: number;
  cpuWaitMs: number | null;
}

/**
 * Run-queue time of every thread of some processes (Linux schedstat, second field, ns): how long each was
 * runnable but had no CPU. The files are opened once and re-read in place, a few µs each.
 */
class CpuWait {
  private readonly fds: number[] = [];
  private readonly buf = Buffer.alloc(128);

  constructor(pids: readonly number[]) {
    for (const pid of pids) {
      try {
        for (const tid of readdirSync(`/proc/${pid}/task`))
          this.fds.push(openSync(`/proc/${pid}/task/${tid}/schedstat`, 'r'));
      } catch {
        // Not Linux, or the process is gone: its wait is not counted.
      }
    }
  }

  /** Each thread's run-queue time so far (ns), or null where none can be read. */
  read(): Float64Array | null {
    if (this.fds.length === 0) return null;
    const out = new Float64Array(this.fds.length);
    for (const [i, fd] of this.fds.entries()) {
      try {
        const n = readSync(fd, this.buf, 0, this.buf.length, 0);
        out[i] = Number(this.buf.toString('latin1', 0, n).split(' ')[1] ?? 0);
      } catch {
        // A thread that exited: NaN, so its delta is not counted.
        out[i] = Number.NaN;
      }
    }
    return out;
  }

  /**
   * The longest any one thread waited between two reads (ms). The longest, not the sum: a sum over threads can
   * exceed the sample's time, while one thread's wait is time that work on it was held up.
   */
  static longest(before: Float64Array | null, after: Float64Array | null): number | null {
    if (before === null || after === null) return null;
    let max = 0;
    for (let i = 0; i < before.length; i++) {
      const d = (after[i] ?? 0) - (before[i] ?? 0);
      if (d > max) max = d;
    }
    return max / 1e6;
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

/** The samples of one operation, and the processes whose CPU wait counts against it. */
interface Series {
  readonly samples: Sample[];
  readonly pids: () => number[];
  wait: CpuWait | undefined;
}

const series = (pids: () => number[]): Series => ({ samples: [], pids, wait: undefined });

/** Per-operation latencies, recorded by each bench body (tinybench's own table has means). */
const samples = {
  apply: series(() => [process.pid, server.pid]),
  inventory: series(() => [process.pid, server.pid]),
  kvPut: series(() => [process.pid, server.pid]),
  applyRemote: series(() => [process.pid, server.pid, remoteHost.proc.pid ?? -1]),
  inventoryRemote: series(() => [process.pid, server.pid, remoteHost.proc.pid ?? -1]),
};
/** From sending an apply to the host's applied report (in this process / in the host process). */
const applied: number[] = [];
const appliedRemote: number[] = [];

/** A sample during which a thread of its processes waited this long for a CPU counts as delayed by the scheduler. */
const CPU_WAIT_MS = 0.5;

/** GC pauses of this process (the requester, and the in-process host), in epoch ms. */
const gcPauses: Array<[number, number]> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const start = performance.timeOrigin + e.startTime;
    gcPauses.push([start, start + e.duration]);
  }
});

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, index)] ?? 0) * 1000) / 1000;
}

const msOf = (s: Series) => s.samples.map((x) => x.ms);

/**
 * Where one operation's tail comes from: of the samples at or above its p99, how many overlapped a GC pause
 * of `pauses`, how many waited ≥ CPU_WAIT_MS for a CPU, how many neither; the GC pauses over 1 ms during the
 * samples; and the p99 without the samples that overlapped a GC, and without those nor the ones that waited.
 */
function tailOf(s: Series, pauses: ReadonlyArray<readonly [number, number]>) {
  const overlapsGc = (x: Sample) => pauses.some(([start, end]) => start < x.end && end > x.start);
  const waited = (x: Sample) => (x.cpuWaitMs ?? 0) >= CPU_WAIT_MS;
  const p99 = percentile(msOf(s), 99);
  const slowest = p99 === null ? [] : s.samples.filter((x) => x.ms >= p99);
  const first = s.samples[0]?.start ?? 0;
  const last = s.samples.at(-1)?.end ?? 0;
  return {
    p99Ms: p99,
    slowest: slowest.length,
    slowestOverlappingGc: slowest.filter(overlapsGc).length,
    slowestWaitingForCpu: slowest.filter(waited).length,
    slowestNeither: slowest.filter((x) => !overlapsGc(x) && !waited(x)).length,
    // How much of a slow sample the CPU wait explains: compare with the slowest samples' median time.
    slowestMedianMs: percentile(
      slowest.map((x) => x.ms),
      50,
    ),
    slowestMedianCpuWaitMs: percentile(
      slowest.map((x) => x.cpuWaitMs ?? 0),
      50,
    ),
    gcPausesOver1Ms: pauses.filter(([start, end]) => end - start > 1 && start < last && end > first).length,
    samplesOverlappingGc: s.samples.filter(overlapsGc).length,
    samplesWaitingForCpu: s.samples.filter(waited).length,
    p99NoGcMs: percentile(
      s.samples.filter((x) => !overlapsGc(x)).map((x) => x.ms),
      99,
    ),
    p99QuietMs: percentile(
      s.samples.filter((x) => !overlapsGc(x) && !waited(x)).map((x) => x.ms),
      99,
    ),
    cpuWaitKnown: s.samples.every((x) => x.cpuWaitMs !== null),
  };
}

/** Bench options that drop warmup samples, so the percentiles cover measured runs only. */
const measured = (timedSeries: Series, ...into: number[][]) => ({
  time: 2_000,
  warmupTime: 200,
  setup: (_task: unknown, mode: 'warmup' | 'run') => {
    if (mode !== 'run') return;
    timedSeries.samples.length = 0;
    for (const list of into) list.length = 0;
    // Threads are listed now, once the processes run whatever threads they will.
    timedSeries.wait?.close();
    timedSeries.wait = new CpuWait(timedSeries.pids());
  },
});

async function timed<T>(into: Series, op: () => Promise<T>): Promise<T> {
  const w0 = into.wait?.read() ?? null;
  const start = performance.now();
  const value = await op();
  const end = performance.now();
  const w1 = into.wait?.read() ?? null;
  into.samples.push({
    ms: end - start,
    start: performance.timeOrigin + start,
    end: performance.timeOrigin + end,
    cpuWaitMs: CpuWait.longest(w0, w1),
  });
  return value;
}

/** A reply must be the one the benchmark expects, or its numbers would time error paths. */
function expectReply(data: Uint8Array, type: string): void {
  const reply = JSON.parse(dec.decode(data)) as { type?: unknown; message?: unknown };
  if (reply.type !== type) throw new Error(`expected a "${type}" reply, got ${dec.decode(data).slice(0, 300)}`);
}

let server: NatsServerHandle;
let orchestratorNc: NatsConnection;
let hostNc: NatsConnection;
let orchestrator: Transport;
let hostTransport: Transport;
let host: Host;
let store: StateStore;
let revision = 0;
/** The host in a process of its own (one host, 20 components, its own connection) and what it reports. */
const remoteLattice = 'benchremote';
const remoteHostId = 'h0000';
let remoteHost: Child;
let remoteEvents: { unsubscribe(): void } | undefined;
let remoteWaiter: ((report: { type?: unknown }) => void) | undefined;
let rollout100Ms: number | null = null;
const rolloutFacts: Record<string, unknown> = {};

// The apply bench alternates two real specs (v1, v2 of one component), so every apply is a real change the
// host accepts and cuts over to; an apply of the hash already serving would be answered without any work.
const runtime = createMemoryRuntime();
const cartImages = ['mem://cart:1', 'mem://cart:2'] as const;
const applyRequests = cartImages.map((imageRef) =>
  enc.encode(
    JSON.stringify({
      type: 'component.apply',
      version: 1,
      app: 'shop',
      leaseToken: 1,
      spec: { id: 'cart', app: 'shop', imageRef },
    }),
  ),
);
let nextApply = 0;
const inventoryRequest = enc.encode(JSON.stringify({ type: 'host.inventory', version: 1 }));

/** Resolves with the host's next applied/failed report for the cart component. */
function nextOutcome(of: Host): Promise<HostOutcome> {
  return new Promise((resolve) => {
    const off = of.onReport((report) => {
      if (report.type === 'component.changed' || report.type === 'component.deleted') return;
      if (report.componentId !== 'cart') return;
      off();
      resolve(report);
    });
  });
}

/** Resolves with the remote host's next applied/failed report for the cart component (from its events). */
function nextRemoteOutcome(): Promise<{ type?: unknown }> {
  return new Promise((resolve) => {
    remoteWaiter = resolve;
  });
}

beforeAll(async () => {
  gcObserver.observe({ entryTypes: ['gc'] });
  // The remote host runs the built package (plain node); a fresh clone builds it first.
  await ensureBuilt();
  server = await startNatsServer();
  orchestratorNc = await server.connect();
  hostNc = await server.connect();
  orchestrator = createNatsTransport(orchestratorNc);
  hostTransport = createNatsTransport(hostNc);
  for (const [i, ref] of cartImages.entries()) {
    runtime.publish(ref, { version: String(i + 1), operations: { handle: (p) => p } });
  }
  host = await createHost({ hostId, lattice, transport: hostTransport, runtime, heartbeatMs: 0 });
  // 19 more components so the inventory reply has 20 entries, as a busy host's would.
  runtime.publish('mem://filler:1', { version: '1', operations: { handle: (p) => p } });
  for (let i = 0; i < 19; i++) {
    const outcome = await host.apply({ id: `filler${i}`, app: 'shop', imageRef: 'mem://filler:1' });
    if (outcome.type !== 'component.applied') throw new Error(`filler apply ended ${outcome.type}`);
  }
  await hostTransport.flush();
  store = createNatsStore(orchestratorNc, { lattice });
  revision = await store.put('cutover', 'bench.lease', { holder: 'bench', token: 0 });

  remoteHost = startChild('remote host process', fleetScript('hostProcess.mjs'), {
    FLEET_NATS_URL: server.url,
    FLEET_LATTICE: remoteLattice,
    FLEET_FIRST: '0',
    FLEET_HOSTS: '1',
    FLEET_CONNECTIONS: '1',
    FLEET_FILLERS: '19',
  });
  await nextMessage(remoteHost, 'ready');
  remoteEvents = orchestrator.subscribe(subjects.hostEvents(remoteLattice, remoteHostId), (msg) => {
    const report = JSON.parse(dec.decode(msg.data)) as { type?: unknown; componentId?: unknown };
    if (report.componentId !== 'cart') return;
    if (report.type !== 'component.applied' && report.type !== 'component.failed') return;
    const waiter = remoteWaiter;
    remoteWaiter = undefined;
    waiter?.(report);
  });
  await orchestrator.flush();
  // A stale dist/ is built first: on a busy machine that alone can take minutes.
}, BUILD_TIMEOUT_MS + 60_000);

afterAll(async () => {
  gcObserver.disconnect();
  let remoteGc: Array<[number, number]> = [];
  try {
    if (remoteHost !== undefined) {
      const reply = nextMessage(remoteHost, 'gc');
      remoteHost.proc.send({ type: 'gc' });
      remoteGc = (await reply).pauses as Array<[number, number]>;
    }
  } finally {
    remoteEvents?.unsubscribe();
    if (remoteHost !== undefined) await stopChildren([remoteHost]);
  }
  for (const s of Object.values(samples)) s.wait?.close();
  // In-process, the host's GC is this process's; remote, the host process's counts as well as the requester's.
  const bothGc = [...gcPauses, ...remoteGc];
  const tail = {
    apply: tailOf(samples.apply, gcPauses),
    inventory: tailOf(samples.inventory, gcPauses),
    kvPut: tailOf(samples.kvPut, gcPauses),
    applyRemote: tailOf(samples.applyRemote, bothGc),
    inventoryRemote: tailOf(samples.inventoryRemote, bothGc),
  };
  const line = {
    bench: 'nats',
    applyP50Ms: percentile(msOf(samples.apply), 50),
    applyP99Ms: percentile(msOf(samples.apply), 99),
    appliedP50Ms: percentile(applied, 50),
    appliedP99Ms: percentile(applied, 99),
    inventoryP50Ms: percentile(msOf(samples.inventory), 50),
    inventoryP99Ms: percentile(msOf(samples.inventory), 99),
    kvPutP50Ms: percentile(msOf(samples.kvPut), 50),
    kvPutP99Ms: percentile(msOf(samples.kvPut), 99),
    applyRemoteP50Ms: percentile(msOf(samples.applyRemote), 50),
    applyRemoteP99Ms: percentile(msOf(samples.applyRemote), 99),
    appliedRemoteP50Ms: percentile(appliedRemote, 50),
    appliedRemoteP99Ms: percentile(appliedRemote, 99),
    inventoryRemoteP50Ms: percentile(msOf(samples.inventoryRemote), 50),
    inventoryRemoteP99Ms: percentile(msOf(samples.inventoryRemote), 99),
    rollout100Ms,
    rollout100: rolloutFacts,
    tail,
    // The machine's 1-minute load average at the end: a tail is mostly this machine's other work (see `tail`).
    loadAvg1: Number(loadavg()[0]?.toFixed(2)),
    samples: {
      apply: samples.apply.samples.length,
      applied: applied.length,
      inventory: samples.inventory.samples.length,
      kvPut: samples.kvPut.samples.length,
      applyRemote: samples.applyRemote.samples.length,
      inventoryRemote: samples.inventoryRemote.samples.length,
    },
  };
  await host?.stop();
  await Promise.all([orchestrator?.close(), hostTransport?.close(), store?.close()]);
  await server?.[Symbol.asyncDispose]();
  for (const [name, t] of Object.entries(tail)) {
    console.log(
      `${name}: p99 ${t.p99Ms} ms; of the slowest ${t.slowest}, ${t.slowestOverlappingGc} overlapped a GC pause, ` +
        `${t.slowestWaitingForCpu} waited >= ${CPU_WAIT_MS} ms for a CPU (median ${t.slowestMedianCpuWaitMs} of ` +
        `${t.slowestMedianMs} ms), ${t.slowestNeither} neither; ` +
        `p99 without GC ${t.p99NoGcMs} ms, without GC nor CPU wait ${t.p99QuietMs} ms`,
    );
  }
  console.log(JSON.stringify(line));
});

/**
 * 100 real hosts over 4 shared NATS connections (25 each), an orchestrator on its own connection with the
 * JetStream KV store; deploys v1 everywhere, then times a rolling v2 rollout (maxParallel 10%).
 */
async function rollout100(): Promise<void> {
  const connections = await Promise.all(Array.from({ length: 4 }, () => server.connect()));
  const orchNc = await server.connect();
  const rolloutLattice = 'bench100';
  const hostRuntime = createMemoryRuntime();
  hostRuntime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  hostRuntime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
  const transports: Transport[] = [];
  const hosts: Host[] = [];
  let orch: Orchestrator | undefined;
  let orchStore: StateStore | undefined;
  try {
    for (let i = 0; i < 100; i++) {
      const nc = connections[i % connections.length] as NatsConnection;
      const transport = createNatsTransport(nc);
      transports.push(transport);
      hosts.push(
        await createHost({
          hostId: `h${String(i).padStart(3, '0')}`,
          lattice: rolloutLattice,
          transport,
          runtime: hostRuntime,
          heartbeatMs: 0,
        }),
      );
    }
    await Promise.all(transports.map((t) => t.flush()));
    orchStore = createNatsStore(orchNc, { lattice: rolloutLattice });
    orch = await createOrchestrator({
      lattice: rolloutLattice,
      transport: createNatsTransport(orchNc),
      store: orchStore,
      heartbeatMs: 50,
      scalers: false,
    });
    const v1 = appRevision({ app: 'bench', version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
    const first = await (
      await orch.deploy(v1, { strategy: { type: 'rolling', maxParallel: '100%', maxUnavailable: '100%' } })
    ).done;
    if (first.outcome !== 'completed') throw new Error(`first deploy ended ${first.outcome}: ${first.reason}`);
    const writesBefore = orch.stats.snapshotWrites;

    const v2 = appRevision({ app: 'bench', version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
    const t0 = performance.now();
    const handle = await orch.deploy(v2, { strategy: { type: 'rolling', maxParallel: '10%', maxUnavailable: '10%' } });
    const out = await handle.done;
    const wallMs = performance.now() - t0;
    if (out.outcome !== 'completed') throw new Error(`v2 rollout ended ${out.outcome}: ${out.reason}`);
    const onV2 = hosts.filter((h) =>
      h.inventory().components.some((c) => c.id === 'api' && c.servingImageRef === 'mem://api:2'),
    ).length;
    if (onV2 !== hosts.length)
      throw new Error(`v2 rollout completed but only ${onV2} of ${hosts.length} hosts serve v2`);
    rollout100Ms = Math.round(wallMs);
    Object.assign(rolloutFacts, {
      hosts: hosts.length,
      connections: connections.length,
      batches: handle.snapshot().batches,
      msPerHost: Number((wallMs / hosts.length).toFixed(3)),
      snapshotWrites: orch.stats.snapshotWrites - writesBefore,
    });
    console.log(
      `nats rollout of ${hosts.length} hosts over ${connections.length} connections: ${rollout100Ms} ms ` +
        `(${handle.snapshot().batches} batches, ${orch.stats.snapshotWrites - writesBefore} snapshot writes to KV)`,
    );
  } finally {
    await orch?.close();
    await orchStore?.close();
    for (const h of hosts) await h.stop();
    await Promise.all(transports.map((t) => t.close()));
    await Promise.all([...connections, orchNc].map((nc) => nc.drain().catch(() => nc.close())));
  }
}

// The JSON line is printed in afterAll: it is the last line of this file's output (vitest's comparison
// summary of the group still follows it): `grep '^{"bench":"nats"'` picks it out.
describe('nats', () => {
  bench(
    'component.apply round trip (real host, alternating v1/v2)',
    async () => {
      const request = applyRequests[nextApply++ % applyRequests.length] as Uint8Array;
      const outcome = nextOutcome(host);
      const start = performance.now();
      const reply = await timed(samples.apply, () =>
        orchestrator.request(subjects.componentApply(lattice, hostId), request, { timeoutMs: 5_000 }),
      );
      expectReply(reply, 'accepted');
      // Waiting for the cut-over keeps applies from superseding each other; it is reported separately.
      const report = await outcome;
      applied.push(performance.now() - start);
      if (report.type !== 'component.applied') throw new Error(`apply ended ${report.type}`);
    },
    measured(samples.apply, applied),
  );

  bench(
    'inventory query (real host, 20 components)',
    async () => {
      const reply = await timed(samples.inventory, () =>
        orchestrator.request(subjects.inventory(lattice, hostId), inventoryRequest, { timeoutMs: 5_000 }),
      );
      expectReply(reply, 'host.inventory.reply');
    },
    measured(samples.inventory),
  );

  bench(
    'kv compare-and-set put',
    () =>
      timed(samples.kvPut, async () => {
        revision = await store.put(
          'cutover',
          'bench.lease',
          { holder: 'bench', token: revision },
          { expectedRevision: revision },
        );
      }),
    measured(samples.kvPut),
  );

  bench(
    'component.apply round trip (host in its own process, alternating v1/v2)',
    async () => {
      const request = applyRequests[nextApply++ % applyRequests.length] as Uint8Array;
      const outcome = nextRemoteOutcome();
      const start = performance.now();
      const reply = await timed(samples.applyRemote, () =>
        orchestrator.request(subjects.componentApply(remoteLattice, remoteHostId), request, { timeoutMs: 5_000 }),
      );
      expectReply(reply, 'accepted');
      // As in-process: the next apply waits for this one's report (from the host's events, over NATS).
      const report = await outcome;
      appliedRemote.push(performance.now() - start);
      if (report.type !== 'component.applied') throw new Error(`apply ended ${String(report.type)}`);
    },
    measured(samples.applyRemote, appliedRemote),
  );

  bench(
    'inventory query (host in its own process, 20 components)',
    async () => {
      const reply = await timed(samples.inventoryRemote, () =>
        orchestrator.request(subjects.inventory(remoteLattice, remoteHostId), inventoryRequest, { timeoutMs: 5_000 }),
      );
      expectReply(reply, 'host.inventory.reply');
    },
    measured(samples.inventoryRemote),
  );

  bench('rolling update of 100 hosts over NATS (maxParallel 10%)', rollout100, {
    iterations: 1,
    warmupIterations: 0,
    time: 0,
    warmupTime: 0,
  });
});
