// Benchmark (npm run bench): a host under continuous load upgraded 200 times with 3 changed links on
// memory providers, against a naive stop-old/start-new baseline in the same run. Prints numbers; asserts nothing.
import { type ComponentInstance, ComponentSpec, createHost, Histogram, PROTOCOL_VERSION } from 'cutover';
import { createMemoryBus, createMemoryRuntime } from 'cutover/adapters/memory';
import { createMemoryProvider, createProviderRegistry } from 'cutover/adapters/providers';
import { componentMachine, type EffectInput } from 'cutover/machines';
import { bench, describe } from 'vitest';
import { createActor, fromPromise } from 'xstate';

const UPGRADES = 200;
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
      interfaces: ['store'],
      sourceConfig: { version: String(n) },
      direction: 'outgoing',
    })),
  });
// In the fixed-rate runs downloads take 2 ms of real time (timer-driven load needs the event loop to turn):
// the baseline is down for that long, cutover downloads while the old version serves. In the closed-loop runs
// everything is microtask-fast, so load and upgrades interleave call by call.
const image = (n: number, fetchDelayMs: number) => ({
  version: `v${n}`,
  operations: { echo: (p: Uint8Array) => p },
  fetchDelayMs,
});
type Mode = { concurrency: number } | { perSecond: number };
const delayOf = (mode: Mode) => ('concurrency' in mode ? 0 : 2);
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

const isCode =
  (...codes: string[]) =>
  (e: unknown) =>
    codes.includes((e as { code?: string }).code ?? '');

async function runCutover(mode: Mode) {
  const bus = createMemoryBus();
  const runtime = createMemoryRuntime();
  for (let n = 1; n <= UPGRADES + 1; n++) runtime.publish(ref(n), image(n, delayOf(mode)));
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
  for (let n = 2; n <= UPGRADES + 1; n++) {
    const outcome = await host.apply({
      type: 'component.apply',
      version: PROTOCOL_VERSION,
      app: 'bench',
      leaseToken: 1,
      spec: spec(n),
    });
    if (outcome.type !== 'component.applied') failedUpgrades++;
  }
  const counts = await load.stop();
  const gate = host.gate('api');
  const result = {
    pauseMs: gate ? summary(gate.pauses) : undefined,
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

/** The naive way: stop the old instance, then fetch, validate and start the new one; no gate. */
async function runBaseline(mode: Mode) {
  const runtime = createMemoryRuntime();
  for (let n = 1; n <= UPGRADES + 1; n++) runtime.publish(ref(n), image(n, delayOf(mode)));
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
      if (current === undefined) throw new Error('no instance');
      return current.invoke('echo', payload);
    },
    mode,
    () => false,
  );
  const windows = new Histogram();
  for (let n = 2; n <= UPGRADES + 1; n++) {
    const t0 = performance.now();
    await current?.dispose();
    current = undefined;
    for (const [i, p] of providers.entries()) {
      const link = spec(n).links[i];
      if (link) await p.putLink(link);
    }
    current = await start(n);
    windows.record(performance.now() - t0);
  }
  const counts = await load.stop();
  return { pauseMs: summary(windows), ...counts, lost: counts.issued - counts.ok - counts.refused };
}

function bytesPerActor(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  const idle = fromPromise<void, EffectInput>(() => new Promise<void>(() => {}));
  const logic = componentMachine.provide({ actors: { admit: idle } });
  const actors = [];
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) actors.push(createActor(logic, { input: { id: `c${i}` } }).start());
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const bytes = Math.round((after - before) / actors.length);
  for (const a of actors) a.stop();
  return bytes;
}

describe('cutover', async () => {
  const fast = await runCutover({ concurrency: 64 });
  const fastBase = await runBaseline({ concurrency: 64 });
  const fixed = await runCutover({ perSecond: 10_000 });
  const fixedBase = await runBaseline({ perSecond: 10_000 });
  const perActor = bytesPerActor();
  console.log('cutover, load as fast as the event loop allows:', JSON.stringify(fast));
  console.log('baseline (stop old → start new, no gate), same load:', JSON.stringify(fastBase));
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
