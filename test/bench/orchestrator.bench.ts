// Rolling update on in-memory lattices of 100, 1,000 and 10,000 real hosts, one component each,
// maxParallel 10% of hosts. Prints figures; asserts nothing about time.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Host, createHost, createOrchestrator } from 'cutover';
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';
import { bench, describe } from 'vitest';
import { revision } from '../fixtures/orchestrator';

// Heap figures are taken after a full GC; the bench worker is not started with --expose-gc, so expose it here.
setFlagsFromString('--expose-gc');
const collect = (globalThis.gc ?? runInNewContext('gc')) as () => void;
const heapMB = () => {
  collect();
  collect();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

interface Result {
  hosts: number;
  wallMs: number;
  cpuMsPerHost: number;
  msPerHost: number;
  snapshotWrites: number;
  snapshotKB: number;
  /** Whole process after the rollout (hosts, their instances, orchestrator), after GC. */
  processHeapMB: number;
  /** After the rollout minus the idle hosts before the orchestrator started (both after GC). */
  rolloutHeapMB: number;
  /** What the orchestrator itself retains: after the rollout minus after closing it (both after GC). */
  orchestratorHeapMB: number;
  /** Heap per host with one component, orchestrator closed. */
  hostKB: number;
}
const results: Result[] = [];

async function run(n: number): Promise<Result> {
  const bus = createMemoryBus();
  const store = createMemoryStore({ lattice: 'bench' });
  const runtime = createMemoryRuntime();
  runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
  const hosts: Host[] = [];
  for (let i = 0; i < n; i++) {
    hosts.push(
      await createHost({ hostId: `h${i}`, lattice: 'bench', transport: bus.connect(`h${i}`), runtime, heartbeatMs: 0 }),
    );
  }
  const heapHosts = heapMB();
  let orch = await createOrchestrator({
    lattice: 'bench',
    transport: bus.connect('orchestrator'),
    store,
    scalers: false,
    requestTimeoutMs: 60_000,
  });
  const strategy = { type: 'rolling', maxParallel: '10%', maxUnavailable: '10%' } as const;
  const v1 = revision({ app: 'bench', version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
  const first = await (
    await orch.deploy(v1, { strategy: { type: 'rolling', maxParallel: '100%', maxUnavailable: '100%' } })
  ).done;
  if (first.outcome !== 'completed') throw new Error(`bench first deploy ended ${first.outcome}: ${first.reason}`);
  const writesBefore = orch.stats.snapshotWrites;

  const v2 = revision({ app: 'bench', version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const out = await (await orch.deploy(v2, { strategy })).done;
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  if (out.outcome !== 'completed') throw new Error(`bench rollout ended ${out.outcome}: ${out.reason}`);
  const snapshotWrites = orch.stats.snapshotWrites - writesBefore;
  const largestSnapshotBytes = orch.stats.largestSnapshotBytes;
  const heapAfter = heapMB();
  await orch.close();
  orch = undefined as unknown as typeof orch;
  const heapClosed = heapMB();
  const result: Result = {
    hosts: n,
    wallMs: Math.round(wallMs),
    cpuMsPerHost: Number(((used.user + used.system) / 1000 / n).toFixed(3)),
    msPerHost: Number((wallMs / n).toFixed(3)),
    snapshotWrites,
    snapshotKB: Number((largestSnapshotBytes / 1024).toFixed(2)),
    processHeapMB: Math.round(heapAfter),
    rolloutHeapMB: Math.round(heapAfter - heapHosts),
    orchestratorHeapMB: Number((heapAfter - heapClosed).toFixed(1)),
    hostKB: Number(((heapClosed * 1024) / n).toFixed(1)),
  };
  for (const h of hosts) await h.stop();
  await bus.close();
  return result;
}

describe('orchestrator', () => {
  for (const n of [100, 1_000, 10_000]) {
    bench(
      `rolling update of ${n} hosts (maxParallel 10%)`,
      async () => {
        // The first lattice pays for JIT warm-up; without a discarded run, growth from 100 hosts means nothing.
        if (n === 100) await run(n);
        const r = await run(n);
        results.push(r);
        console.log(
          `orchestrator ${n} hosts: wall ${r.wallMs} ms, ${r.msPerHost} ms/host, cpu ${r.cpuMsPerHost} ms/host, ` +
            `${r.snapshotWrites} snapshot writes, largest snapshot ${r.snapshotKB} KB; heap after GC: process ` +
            `${r.processHeapMB} MB, orchestrator ${r.orchestratorHeapMB} MB, +${r.rolloutHeapMB} MB over idle hosts, ` +
            `${r.hostKB} KB/host`,
        );
        if (n === 10_000) printSummary();
      },
      { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
    );
  }
  function printSummary() {
    const small = results.find((r) => r.hosts === 100);
    const big = results.find((r) => r.hosts === 10_000);
    if (!small || !big) return;
    console.log(
      JSON.stringify({
        bench: 'orchestrator',
        hosts: big.hosts,
        wallMs: big.wallMs,
        msPerHost: big.msPerHost,
        heapMB: big.orchestratorHeapMB,
        processHeapMB: big.processHeapMB,
        rolloutHeapMB: big.rolloutHeapMB,
        hostKB: big.hostKB,
        cpuMsPerHost: big.cpuMsPerHost,
        snapshotKB: big.snapshotKB,
        growth100to10k: Number((big.msPerHost / small.msPerHost).toFixed(2)),
      }),
    );
  }
});
