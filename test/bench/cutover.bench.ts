// Benchmark (npm run bench): a host under continuous load upgraded 200 times with 3 changed links on
// memory providers, against a naive stop-old/start-new baseline in the same run, at the same upgrade cadence.
// Prints numbers; asserts nothing.
import { type ComponentInstance, ComponentSpec, createHost, Histogram, PROTOCOL_VERSION } from 'cutover';
import { createMemoryBus, createMemoryRuntime } from 'cutover/adapters/memory';
import { createMemoryProvider, createProviderRegistry } from 'cutover/adapters/providers';
import { componentMachine, type EffectInput } from 'cutover/machines';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bench, describe } from 'vitest';
import { createActor, fromPromise } from 'xstate';

const UPGRADES = 200;
/** Upgrades run (on a throw-away host, same for the baseline) before measuring: the first ones run cold code. */
const WARMUP = 50;
/** Both runs start an upgrade every CADENCE_MS (or as soon as the previous one finished), so they see the same load. */
const CADENCE_MS = 5;

const encoder = new TextEncoder();
const ref = (n: number) => `memory://bench/api:v${n}`;
const spec = (n: number) =>
  ComponentSpec.parse({
    id: 'api',
    app: 'bench',
    imageRef: ref(n),
    links: ['kv', 'cache', 'queue'].map((target) => ({
      source: 'api',
      target,
      namespace: 'wasi',
      package: 'keyvalue',
      // A distinct name per link: identity is (source, namespace, package, name), so all three really swap.
      name: target,
      interfaces: ['store'],
      sourceConfig: { version: String(n) },
      direction: 'outgoing',
    })),
  });
type Mode = { concurrency: number } | { perSecond: number };
// Closed loop: calls, upgrades and the cadence all run in microtasks (downloads are instant), so each upgrade
// overlaps calls in flight and calls arriving. Fixed rate: downloads take 2 ms of real time, the
// baseline is down for that long, cutover downloads while the old version serves. Same images in both runs.
const fetchDelayOf = (mode: Mode) => ('concurrency' in mode ? 0 : 2);
const image = (n: number, mode: Mode) => ({
  version: `v${n}`,
  operations: { echo: (p: Uint8Array) => p },
  fetchDelayMs: fetchDelayOf(mode),
});

const provider = (id: string) => ({
  type: 'provider.apply' as const,
  version: PROTOCOL_VERSION,
  app: 'bench',
  leaseToken: 1,
  spec: { id, app: 'bench', imageRef: `memory://providers/${id}` },
});
const summary = (h: Histogram) => {
  const s = h.summary();
  return { p50: +s.p50.toFixed(4), p99: +s.p99.toFixed(4), max: +s.max.toFixed(4) };
};

type Load = { stop(): Promise<{ issued: number; ok: number; refused: number; failed: number }> };

/** Closed loop (`concurrency` calls always in flight) or open loop at `perSecond`. */
function startLoad(call: () => Promise<unknown>, mode: Mode, isRefusal: (e: unknown) => boolean): Load {
  const counts = { issued: 0, ok: 0, refused: 0, failed: 0 };
  const pending = new Set<Promise<unknown>>();
  let running = true;
  const one = (): Promise<unknown> => {
    counts.issued++;
    const p = call().then(
      () => {
        counts.ok++;
      },
      (e: unknown) => {
        if (isRefusal(e)) counts.refused++;
        else counts.failed++;
      },
    );
    pending.add(p);
    p.finally(() => pending.delete(p));
    return p;
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  if ('concurrency' in mode) {
    const loop = async () => {
      while (running) await one();
    };
    for (let i = 0; i < mode.concurrency; i++) void loop();
  } else {
    let last = performance.now();
    let owed = 0;
    timer = setInterval(() => {
      const now = performance.now();
      owed += ((now - last) * mode.perSecond) / 1000;
      last = now;
      while (owed >= 1) {
        owed--;
        void one();
      }
    }, 1);
  }
  return {
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all([...pending]);
      return { ...counts };
    },
  };
}

/** Runs `upgrade(n)` for n = 2..upgrades+1, starting each on the CADENCE_MS grid (never two at once). */
async function onCadence(mode: Mode, upgrades: number, upgrade: (n: number) => Promise<void>): Promise<void> {
  const t0 = performance.now();
  for (let n = 2; n <= upgrades + 1; n++) {
    const at = t0 + (n - 2) * CADENCE_MS;
    // A closed loop never leaves the microtask queue (no timer would fire): the driver waits in it too.
    if ('concurrency' in mode) while (performance.now() < at) await Promise.resolve();
    else if (at > performance.now()) await new Promise((r) => setTimeout(r, at - performance.now()));
    await upgrade(n);
  }
}

const isCode =
  (...codes: string[]) =>
  (e: unknown) =>
    codes.includes((e as { code?: string }).code ?? '');

async function runCutover(mode: Mode, upgrades = UPGRADES) {
  const bus = createMemoryBus();
  const runtime = createMemoryRuntime();
  for (let n = 1; n <= upgrades + 1; n++) runtime.publish(ref(n), image(n, mode));
  const host = await createHost({
    hostId: 'bench',
    lattice: 'bench',
    transport: bus.connect('bench'),
    runtime,
    providers: createProviderRegistry({}, createMemoryProvider()),
    heartbeatMs: 0,
    gateCapacity: 100_000,
  });
  for (const id of ['kv', 'cache', 'queue']) await host.apply(provider(id));
  await host.apply({ type: 'component.apply', version: PROTOCOL_VERSION, app: 'bench', leaseToken: 1, spec: spec(1) });
  const payload = encoder.encode('x');
  const load = startLoad(
    () => host.invoke('api', 'echo', payload),
    mode,
    isCode('gate.overflow', 'gate.closed', 'invoke.notFound'),
  );
  let failedUpgrades = 0;
  const gate = host.gate('api');
  // Only this run's windows: the gate was opened by the first install, never paused before.
  const pausesBefore = gate?.pauses.count ?? 0;
  await onCadence(mode, upgrades, async (n) => {
    const outcome = await host.apply({
      type: 'component.apply',
      version: PROTOCOL_VERSION,
      app: 'bench',
      leaseToken: 1,
      spec: spec(n),
    });
    if (outcome.type !== 'component.applied') failedUpgrades++;
  });
  const counts = await load.stop();
  const result = {
    // Gate-closed window of each upgrade: from the gate closing (pausing) to its reopening (new instance in).
    pauseMs: gate ? summary(gate.pauses) : undefined,
    pauses: (gate?.pauses.count ?? 0) - pausesBefore,
    // Arrival → dispatch of the calls that arrived while the gate was closed.
    extraLatencyP99Ms: gate ? +gate.bufferedWait.quantile(0.99).toFixed(4) : 0,
    bufferedCalls: gate?.bufferedWait.count ?? 0,
    ...counts,
    lost: counts.issued - counts.ok - counts.refused,
    failedUpgrades,
  };
  await host.stop();
  await bus.close();
  return result;
}

// Built once: a fresh error (with its stack) per refused call would slow the baseline for the load's sake.
const notServing = new Error('no instance serves');

/** The naive way: stop the old instance, then fetch, validate and start the new one; no gate. */
async function runBaseline(mode: Mode, upgrades = UPGRADES) {
  const runtime = createMemoryRuntime();
  for (let n = 1; n <= upgrades + 1; n++) runtime.publish(ref(n), image(n, mode));
  const start = async (n: number) =>
    runtime.instantiate(await runtime.validate(await runtime.fetch(ref(n)), spec(n)), spec(n));
  let current: ComponentInstance | undefined = await start(1);
  const providers = await Promise.all(
    ['kv', 'cache', 'queue'].map((id) =>
      createMemoryProvider()(
        { id, app: 'bench', imageRef: id, config: {}, secrets: [], links: [], annotations: {} },
        { hostId: 'b', lattice: 'b', invoke: async () => new Uint8Array(), mapAddress: (a) => a },
      ),
    ),
  );
  const payload = encoder.encode('x');
  const load = startLoad(
    async () => {
      if (current === undefined) throw notServing;
      return current.invoke('echo', payload);
    },
    mode,
    () => false,
  );
  const windows = new Histogram();
  await onCadence(mode, upgrades, async (n) => {
    const t0 = performance.now();
    await current?.dispose();
    current = undefined;
    for (const [i, p] of providers.entries()) {
      const from = spec(n - 1).links[i];
      const to = spec(n).links[i];
      if (from) await p.deleteLink(from);
      if (to) await p.putLink(to);
    }
    current = await start(n);
    windows.record(performance.now() - t0);
  });
  const counts = await load.stop();
  // Every call that arrived while nothing served failed: nobody buffers for a naive upgrade.
  return { downMs: summary(windows), ...counts, lost: counts.issued - counts.ok - counts.refused };
}

/** `gc()` even without --expose-gc (vitest's workers run without it): heap deltas need a collected heap. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function bytesPerActor(): number {
  const gc = collector();
  const idle = fromPromise<void, EffectInput>(() => new Promise<void>(() => {}));
  const logic = componentMachine.provide({ actors: { admit: idle } });
  const actors = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) actors.push(createActor(logic, { input: { id: `c${i}` } }).start());
  gc();
  const after = process.memoryUsage().heapUsed;
  const bytes = Math.round((after - before) / actors.length);
  for (const a of actors) a.stop();
  return bytes;
}

describe('cutover', async () => {
  for (const mode of [{ concurrency: 64 }, { perSecond: 10_000 }]) {
    await runCutover(mode, WARMUP);
    await runBaseline(mode, WARMUP);
  }
  const fast = await runCutover({ concurrency: 64 });
  const fastBase = await runBaseline({ concurrency: 64 });
  const fixed = await runCutover({ perSecond: 10_000 });
  const fixedBase = await runBaseline({ perSecond: 10_000 });
  const perActor = bytesPerActor();
  console.log('cutover, load as fast as the event loop allows:', JSON.stringify(fast));
  console.log(
    'baseline (stop old → links → fetch, validate, start new; no gate), same load and cadence:',
    JSON.stringify(fastBase),
  );
  console.log('cutover, fixed 10k invocations/s:', JSON.stringify(fixed));
  console.log('baseline, fixed 10k invocations/s:', JSON.stringify(fixedBase));
  console.log(`bytes per idle component actor (10,000 actors): ${perActor}`);
  const pauseP99Ms = Math.max(fast.pauseMs?.p99 ?? 0, fixed.pauseMs?.p99 ?? 0);
  console.log(
    JSON.stringify({
      bench: 'cutover',
      pauseP99Ms,
      pauseP50Ms: Math.max(fast.pauseMs?.p50 ?? 0, fixed.pauseMs?.p50 ?? 0),
      pauseMaxMs: Math.max(fast.pauseMs?.max ?? 0, fixed.pauseMs?.max ?? 0),
      extraLatencyP99Ms: Math.max(fast.extraLatencyP99Ms, fixed.extraLatencyP99Ms),
      baselineDownP99Ms: Math.max(fastBase.downMs.p99, fixedBase.downMs.p99),
      dropped: fast.lost + fixed.lost,
      baselineDropped: fastBase.lost + fixedBase.lost,
      bytesPerActor: perActor,
    }),
  );
  bench(
    'invoke through an open gate',
    async () => {
      await Promise.resolve();
    },
    { iterations: 1, time: 0 },
  );
});
