// Rolling update on in-memory lattices of 100, 1,000 and 10,000 real hosts, one component each,
// maxParallel 10% of hosts. Prints figures; asserts nothing about time.
import { type Host, createHost, createOrchestrator } from 'cutover';
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';
import { bench, describe } from 'vitest';
import { revision } from '../fixtures/orchestrator';

interface Result {
  hosts: number;
  wallMs: number;
  cpuMsPerHost: number;
  msPerHost: number;
  snapshotWrites: number;
  snapshotKB: number;
  heapMB: number;
  /** Heap growth during the rollout (orchestrator, messages, new instances), hosts' own baseline excluded. */
  rolloutHeapMB: number;
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
  const orch = await createOrchestrator({
    lattice: 'bench',
    transport: bus.connect('orchestrator'),
    store,
    scalers: false,
    requestTimeoutMs: 60_000,
  });
  const strategy = { type: 'rolling', maxParallel: '10%', maxUnavailable: '10%' } as const;
  const v1 = revision({ app: 'bench', version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
  await (await orch.deploy(v1, { strategy: { type: 'rolling', maxParallel: '100%', maxUnavailable: '100%' } })).done;
  const writesBefore = orch.stats.snapshotWrites;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed / 1024 / 1024;

  const v2 = revision({ app: 'bench', version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const out = await (await orch.deploy(v2, { strategy })).done;
  const wallMs = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  if (out.outcome !== 'completed') throw new Error(`bench rollout ended ${out.outcome}: ${out.reason}`);
  const heapMB = process.memoryUsage().heapUsed / 1024 / 1024;
  const result: Result = {
    hosts: n,
    wallMs: Math.round(wallMs),
    cpuMsPerHost: Number(((used.user + used.system) / 1000 / n).toFixed(3)),
    msPerHost: Number((wallMs / n).toFixed(3)),
    snapshotWrites: orch.stats.snapshotWrites - writesBefore,
    snapshotKB: Number((orch.stats.largestSnapshotBytes / 1024).toFixed(2)),
    heapMB: Math.round(heapMB),
    rolloutHeapMB: Math.round(heapMB - heapBefore),
  };
  await orch.close();
  for (const h of hosts) await h.stop();
  await bus.close();
  return result;
}

describe('orchestrator', () => {
  for (const n of [100, 1_000, 10_000]) {
    bench(
      `rolling update of ${n} hosts (maxParallel 10%)`,
      async () => {
        const r = await run(n);
        results.push(r);
        console.log(
          `orchestrator ${n} hosts: wall ${r.wallMs} ms, ${r.msPerHost} ms/host, cpu ${r.cpuMsPerHost} ms/host, ` +
            `${r.snapshotWrites} snapshot writes, largest snapshot ${r.snapshotKB} KB, heap ${r.heapMB} MB ` +
            `(+${r.rolloutHeapMB} MB during the rollout)`,
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
        heapMB: big.heapMB,
        snapshotKB: big.snapshotKB,
        growth100to10k: Number((big.msPerHost / small.msPerHost).toFixed(2)),
      }),
    );
  }
});
