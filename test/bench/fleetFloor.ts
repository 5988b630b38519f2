// Helpers of the in-memory fleet benchmark (orchestrator.bench.ts): the transport floor a rollout is compared
// with, and a peak heap/RSS sampler.
import { writeSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { ComponentSpec, encode, subjects } from 'cutover';
import { createMemoryBus } from 'cutover/adapters/memory';
import { componentMachine } from 'cutover/machines';
import { createActor } from 'xstate';
import { fromEffect } from '../../src/host/fromEffect';

export interface FloorRun {
  wallMs: number;
  cpuMs: number;
}

/**
 * The least work any rollout of `n` hosts could do on the memory bus: `n` bare subscribers on the real
 * `component.apply` subjects (one bus connection each, as real hosts have), each answering with a canned
 * `accepted` reply and no machine; one client connection sends every host one `component.apply` in batches of
 * `parallel` (each batch awaited, like a rollout's maxParallel) and decodes each reply.
 * The body is encoded once, as the orchestrator caches the encoded body per spec. Each subscriber parses the
 * request: a host that does not even read its message is not doing a rollout, and the floor should be a bound a
 * real rollout can approach, not an empty loop. Only the send/answer loop is timed, not the setup.
 */
export async function floorOnce(n: number, parallel: number, lattice = 'bench'): Promise<FloorRun> {
  const bus = createMemoryBus();
  const decoder = new TextDecoder();
  try {
    const ids = Array.from({ length: n }, (_, i) => `h${i}`);
    for (const hostId of ids) {
      const reply = encode({ type: 'accepted', version: 1, hostId, hash: 'floor' });
      bus.connect(hostId).subscribe(subjects.componentApply(lattice, hostId), (msg) => {
        const req = JSON.parse(decoder.decode(msg.data)) as { type?: unknown };
        if (req.type !== 'component.apply') throw new Error(`floor host ${hostId} got ${String(req.type)}`);
        return reply;
      });
    }
    const client = bus.connect('orchestrator');
    const body = encode({
      type: 'component.apply',
      version: 1,
      app: lattice,
      leaseToken: 1,
      spec: { id: 'api', app: lattice, imageRef: 'mem://api:2' },
    });
    let accepted = 0;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    for (let start = 0; start < n; start += parallel) {
      await Promise.all(
        ids.slice(start, start + parallel).map(async (hostId) => {
          const data = await client.request(subjects.componentApply(lattice, hostId), body, { timeoutMs: 60_000 });
          const reply = JSON.parse(decoder.decode(data)) as { type?: unknown };
          if (reply.type === 'accepted') accepted++;
        }),
      );
    }
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    if (accepted !== n) throw new Error(`floor: ${accepted} of ${n} hosts accepted`);
    return { wallMs, cpuMs: (used.user + used.system) / 1000 };
  } finally {
    await bus.close();
  }
}

/**
 * The floor run `runs` times (it is short); the median wall time and the CPU of that same run. `collect` (a
 * full GC) runs before each, outside the timing, so a run does not pay for the garbage of what ran before it.
 */
export async function floor(n: number, parallel: number, collect: () => void, runs = 3): Promise<FloorRun> {
  return median(runs, collect, () => floorOnce(n, parallel));
}

/**
 * The component machine alone: `n` actors of the bare machine whose every effect resolves at once (no bus, no
 * gate, no reports, no orchestrator), each moved from v1 to v2 in batches of `parallel`. What the statechart's
 * own transitions and invoked actors cost per host, to set beside the transport floor: a rollout runs one such
 * machine on every host. Only the v2 upgrade is timed (v1 is installed first, untimed, as in the rollout).
 */
export async function machineFloorOnce(n: number, parallel: number): Promise<FloorRun> {
  // The promise logic hosts use (xstate's fromPromise minus an AbortController per invocation), each effect
  // settling at once.
  const machine = componentMachine.provide({
    actors: {
      admit: fromEffect(async () => {}),
      fetch: fromEffect(async () => {}),
      validate: fromEffect(async () => {}),
      putLinks: fromEffect(async () => ({ at: 0, swaps: 0 })),
      pauseGate: fromEffect(async () => {}),
      swapLink: fromEffect(async () => {}),
      instantiate: fromEffect(async () => {}),
      resumeGate: fromEffect(async () => {}),
      restoreLinks: fromEffect(async () => {}),
      disposeInstance: fromEffect(async () => {}),
      stop: fromEffect(async () => {}),
      // Deadlines never fire here: every effect settles first.
      deadline: fromEffect<void, { at: number }>(() => new Promise<void>(() => undefined)),
    },
  });
  const actors = Array.from({ length: n }, () => createActor(machine, { input: { id: 'api', kind: 'component' } }));
  for (const a of actors) a.start();
  const upgrade = async (version: string) => {
    const spec = ComponentSpec.parse({ id: 'api', app: 'bench', imageRef: `mem://api:${version}` });
    for (let start = 0; start < n; start += parallel) {
      await Promise.all(
        actors.slice(start, start + parallel).map(
          (actor) =>
            new Promise<void>((resolve, reject) => {
              const applied = actor.on('component.applied', () => {
                applied.unsubscribe();
                failed.unsubscribe();
                resolve();
              });
              const failed = actor.on('component.failed', (e) => reject(new Error(`machine floor: ${e.reason}`)));
              actor.send({ type: 'component.apply', spec, hash: `hash-${version}`, at: 0 });
            }),
        ),
      );
    }
  };
  try {
    await upgrade('1');
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await upgrade('2');
    const wallMs = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    const serving = actors.filter((a) => a.getSnapshot().context.serving?.hash === 'hash-2').length;
    if (serving !== n) throw new Error(`machine floor: ${serving} of ${n} actors serve v2`);
    return { wallMs, cpuMs: (used.user + used.system) / 1000 };
  } finally {
    for (const a of actors) a.stop();
  }
}

/** {@link machineFloorOnce} `runs` times; the median wall time and the CPU of that run. */
export async function machineFloor(n: number, parallel: number, collect: () => void, runs = 3): Promise<FloorRun> {
  return median(runs, collect, () => machineFloorOnce(n, parallel));
}

async function median(runs: number, collect: () => void, once: () => Promise<FloorRun>): Promise<FloorRun> {
  const all: FloorRun[] = [];
  for (let i = 0; i < runs; i++) {
    collect();
    all.push(await once());
  }
  all.sort((a, b) => a.wallMs - b.wallMs);
  return all[Math.floor(all.length / 2)] as FloorRun;
}

export interface Peak {
  peakHeapMB: number;
  peakRssMB: number;
}

const MB = 1024 * 1024;

/**
 * Samples heapUsed and RSS every 10 ms while started. The timer is unref'd so it never keeps the worker alive.
 * A busy event loop delays samples, so the peak is a lower bound of the true one (GC runs between samples).
 * Near the heap limit it writes a warning straight to fd 2: a V8 out-of-memory kills the process without
 * running JavaScript, and console output in a vitest worker goes through IPC that would be lost with it.
 */
export function sampleHeap(label: string): { stop(): Peak } {
  const limit = getHeapStatistics().heap_size_limit;
  let heap = 0;
  let rss = 0;
  let warned = false;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.heapUsed > heap) heap = m.heapUsed;
    if (m.rss > rss) rss = m.rss;
    if (!warned && m.heapUsed > 0.7 * limit) {
      warned = true;
      writeSync(
        2,
        `\n${label}: heap ${Math.round(m.heapUsed / MB)} MB is over 70% of this worker's limit ` +
          `${Math.round(limit / MB)} MB; if the worker dies now it ran out of heap. Raise the limit with ` +
          `vitest's --execArgv=--max-old-space-size=8192, NODE_OPTIONS=--max-old-space-size=8192 or test.execArgv ` +
          `in vitest.config.ts.\n`,
      );
    }
  };
  sample();
  const timer = setInterval(sample, 10);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakHeapMB: Math.round(heap / MB), peakRssMB: Math.round(rss / MB) };
    },
  };
}

/** This process's V8 heap limit in MB. */
export const heapLimitMB = (): number => Math.round(getHeapStatistics().heap_size_limit / MB);
