import type { InspectionEvent, Observer } from 'xstate';
import { blueGreenSchedule } from '../../../machines/rollout/blueGreen';
import { canarySchedule } from '../../../machines/rollout/canary';
import { planBatches } from '../../../machines/rollout/plan';
import { CutoverError } from '../../errors';
import type { RolloutView } from '../../orchestrator/createOrchestrator';
import type { ComponentInventory } from '../../protocol/inventory';
import type { RolloutOutcome } from '../../protocol/rollout';
import { Strategy, type StrategyInput } from '../../protocol/strategy';
import { type FrontDoor, httpTarget, startFrontDoor } from './frontDoor';
import { type DemoLattice, hostIds, startLattice } from './lattice';
import { type LoadGenerator, type LoadTotals, startLoad } from './loadGenerator';
import { DEMO_APP, type DemoVersion, demoManifest, versionOfImage } from './manifest';
import { type PauseFigures, pauseFigures } from './pauseFigures';

/** One rollout of the demo and how it ended. */
export interface DemoRollout {
  from: DemoVersion | null;
  to: DemoVersion;
  outcome: RolloutOutcome;
  reason: string | null;
  durationMs: number;
}

/** How the demo's two rollouts proceed. */
export const DEMO_STRATEGIES = ['rolling', 'canary', 'blue-green'] as const;
export type DemoStrategy = (typeof DEMO_STRATEGIES)[number];

/** What a demo run measured. */
export interface DemoResult {
  strategy: DemoStrategy;
  /** The first install of v1 (not one of the two rollouts the demo is about). */
  install: DemoRollout;
  rollouts: DemoRollout[];
  invocations: LoadTotals;
  /** `--serve` only: the real HTTP stream sent through the front door to the hosts' HTTP servers. */
  http: LoadTotals | null;
  pauseMs: PauseFigures;
  hosts: Array<{ id: string; version: DemoVersion | null }>;
  /** The host whose v3 address was taken, and the hosts that ran v3 before the rollback. */
  blockedHost: string;
  blockedAddress: string;
  rolledBackHosts: string[];
  rate: number;
  elapsedMs: number;
  /** Zero lost, no wrong reply, completed then rolledBack, every host back on v2. */
  ok: boolean;
  problems: string[];
}

/** Per-host line of the live progress. */
export interface HostRow {
  id: string;
  /** Component status from the host's reports (`running`, `upgrading`, …) and its phase if applying. */
  state: string;
  version: DemoVersion | null;
  /** 1-based batch of the current rollout this host belongs to. */
  batch: number | null;
}

/** Receives the demo's progress (the terminal renderer implements it). */
export interface DemoObserver {
  note(text: string): void;
  rollout(label: { from: DemoVersion | null; to: DemoVersion }, view: RolloutView): void;
  host(row: HostRow): void;
  load(totals: LoadTotals): void;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Hosts in the lattice (at least 2; default 5). */
  hosts?: number;
  /** Invocations per second over all hosts (default 2,000). */
  rate?: number;
  /** Keep the lattice up behind an HTTP front door on this local port until `signal` aborts (0: any port). */
  serve?: number;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  observer?: DemoObserver;
  /** Ends `--serve` (Ctrl-C); aborting earlier stops the demo after the current step. */
  signal?: AbortSignal;
  /** Quiet time with load before, between and after the rollouts (ms, default 400). */
  settleMs?: number;
  /** How long a host must serve the new version under load before its batch passes (ms, default 400). */
  minReadyMs?: number;
  /** `rolling` (default), `canary` (1 host, analysis, 50%, all) or `blue-green` (standby, switch, analysis). */
  strategy?: DemoStrategy;
}

/** An error-rate analysis of the real load the demo sends, short enough to watch. */
const demoAnalysis = {
  name: 'error rate',
  provider: 'errorRate',
  intervalMs: 500,
  count: 2,
  failureCondition: { max: 0.01 },
} as const;

/** The demo's strategy of each kind; every one completes v2 and rolls v3 back at the blocked host. */
function demoStrategy(kind: DemoStrategy, batchSize: number, minReadyMs: number): StrategyInput {
  switch (kind) {
    case 'rolling':
      return { type: 'rolling', maxParallel: batchSize, maxUnavailable: batchSize, hostOrder: 'name', minReadyMs };
    case 'canary':
      // One host first and measured; then half (which reaches the blocked host); then the rest.
      return {
        type: 'canary',
        hostOrder: 'name',
        steps: [
          { setHosts: 1 },
          { analysis: demoAnalysis },
          { setHosts: '50%' },
          { pause: { durationMs: 500 } },
          { setHosts: '100%' },
        ],
      };
    case 'blue-green':
      // v2 and v3 stand by beside the serving version; v3 cannot bind on the blocked host, so it is never
      // promoted anywhere. After the switch to v2, the old instance is kept for a quick way back.
      return {
        type: 'blueGreen',
        previewHosts: 1,
        maxParallel: batchSize,
        keepOldForMs: 2_000,
        postPromotionAnalysis: demoAnalysis,
      };
  }
}

/** The batches a strategy puts each host in (the same pure planners the rollout uses). */
function plannedBatches(strategy: StrategyInput, ids: string[]): string[][] {
  const hosts = ids.map((hostId) => ({ hostId, labels: {} }));
  const s = Strategy.parse(strategy);
  if (s.type === 'canary') return canarySchedule(s, hosts).batches.filter((b) => b.length > 0);
  if (s.type === 'blueGreen') return blueGreenSchedule(s, ids, hosts).standby;
  return planBatches(ids, hosts, s);
}

const COMPONENT_ID = `${DEMO_APP}-greeter`;
const PROVIDER_ID = `${DEMO_APP}-httpserver`;
/** Real HTTP requests per second in `--serve` mode (new connection each, so kept modest). */
const HTTP_RATE = 50;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Runs the cutover demo: installs v1 on a lattice of in-memory hosts running real wasm, rolls out v2
 * (completes) and v3 (its new listen address is taken on the first host of the second batch, so that
 * host restores itself and the rollout rolls back), all under a steady invocation load checked answer
 * by answer.
 * @example
 * const result = await runDemo({ hosts: 5, rate: 2000 });
 * console.log(result.rollouts.map((r) => r.outcome)); // ['completed', 'rolledBack']
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const hostCount = options.hosts ?? 5;
  const rate = options.rate ?? 2_000;
  // Serving, the pauses are longer so a person has time to curl between the steps.
  const settleMs = options.settleMs ?? (options.serve === undefined ? 400 : 3_000);
  if (!Number.isInteger(hostCount) || hostCount < 2 || hostCount > 100) {
    throw new CutoverError('plan.invalid', `--hosts must be a whole number from 2 to 100, got "${hostCount}"`);
  }
  if (!Number.isFinite(rate) || rate < 0 || rate > 100_000) {
    throw new CutoverError('plan.invalid', `--rate must be from 0 to 100000 per second, got "${rate}"`);
  }
  const observer = options.observer;
  const started = performance.now();
  // Batches of ~40% of the hosts: two or more batches, so v3 fails in the second one.
  const batchSize = Math.max(1, Math.ceil(hostCount * 0.4));
  const ids = hostIds(hostCount);
  const blockedIndex = batchSize;
  const blockedHost = ids[blockedIndex] ?? '';
  const strategyKind = options.strategy ?? 'rolling';
  const rollout = demoStrategy(strategyKind, batchSize, options.minReadyMs ?? 400);
  const install: StrategyInput = { type: 'rolling', maxParallel: '100%', maxUnavailable: '100%' };

  const lattice = await startLattice({
    hosts: hostCount,
    blockedHost: blockedIndex,
    ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
  });
  let door: FrontDoor | undefined;
  let loadTimer: ReturnType<typeof setInterval> | undefined;
  let load: LoadGenerator | undefined;
  let httpLoad: LoadGenerator | undefined;
  const unsubscribe: Array<() => void> = [];
  try {
    const rows = new Map<string, HostRow>(ids.map((id) => [id, { id, state: 'empty', version: null, batch: null }]));
    const onV3 = new Set<string>();
    const update = (id: string, c: ComponentInventory) => {
      const row = rows.get(id);
      if (row === undefined || c.id !== COMPONENT_ID) return;
      row.state =
        c.pending === undefined || c.pending.phase === c.status ? c.status : `${c.status} (${c.pending.phase})`;
      row.version = versionOfImage(c.servingImageRef) ?? null;
      if (row.version === 'v3') onV3.add(id);
      observer?.host({ ...row });
    };
    for (const host of lattice.hosts) {
      unsubscribe.push(
        host.onReport((report) => {
          if (report.type === 'component.changed') update(host.hostId, report.component);
          if (report.type === 'component.failed' && report.componentId === COMPONENT_ID) {
            const serving = rows.get(host.hostId)?.version ?? 'nothing';
            observer?.note(
              `${host.hostId} refused the new version (${report.code}: ${report.reason}); it restored itself and serves ${serving}`,
            );
          }
        }),
      );
    }

    const deploy = async (
      from: DemoVersion | null,
      to: DemoVersion,
      strategy: StrategyInput,
      size: number,
    ): Promise<DemoRollout> => {
      // The same pure planners the rollout uses, so the batch shown per host is the one it gets.
      const batches =
        from === null
          ? planBatches(
              ids,
              ids.map((hostId) => ({ hostId, labels: {} })),
              { maxParallel: size, maxUnavailable: size, hostOrder: 'name' },
            )
          : plannedBatches(strategy, ids);
      for (const [i, batch] of batches.entries()) {
        for (const id of batch) {
          const row = rows.get(id);
          if (row === undefined) continue;
          row.batch = i + 1;
          observer?.host({ ...row });
        }
      }
      const t0 = performance.now();
      const handle = await lattice.orchestrator.deploy(demoManifest(to), { strategy });
      const label = { from, to };
      observer?.rollout(label, handle.snapshot());
      unsubscribe.push(handle.subscribe((view) => observer?.rollout(label, view)));
      const output = await handle.done;
      const durationMs = Math.round(performance.now() - t0);
      observer?.rollout(label, handle.snapshot());
      return { from, to, outcome: output.outcome, reason: output.reason ?? null, durationMs };
    };

    if (options.serve !== undefined) {
      door = await startFrontDoor({
        port: options.serve,
        targets: () =>
          lattice.hosts.flatMap((host) => {
            const address = lattice.httpServer(host, PROVIDER_ID)?.addresses().values().next().value;
            return address === undefined ? [] : [{ hostId: host.hostId, address }];
          }),
      });
      observer?.note(
        `serving: curl -s -d hello http://${door.address}/   (answers vN:hello from a host's HTTP server)`,
      );
    }

    observer?.note(
      `lattice "${DEMO_APP}": ${hostCount} hosts, real wasm (v1/v2/v3 core modules), HTTP server provider per host`,
    );
    const installed = await deploy(null, 'v1', install, hostCount);
    if (installed.outcome !== 'completed') {
      throw new CutoverError(
        'plan.invalid',
        `installing v1 ended ${installed.outcome}: ${installed.reason ?? 'no reason'}`,
      );
    }
    observer?.note(
      `installed v1 on ${hostCount} hosts in ${installed.durationMs} ms; load: ${rate} invocations/s through the hosts' gates`,
    );

    load = startLoad({
      targets: lattice.hosts.map((h) => ({
        id: h.hostId,
        invoke: (payload) => h.invoke(COMPONENT_ID, 'handle', payload),
      })),
      rate,
    });
    if (door !== undefined) {
      const address = door.address;
      httpLoad = startLoad({ targets: [httpTarget('http', () => address)], rate: HTTP_RATE });
      observer?.note(`plus ${HTTP_RATE} real HTTP requests/s through http://${address}/ to the hosts' HTTP servers`);
    }
    const running = load;
    loadTimer = setInterval(() => observer?.load(running.totals()), 100);
    await sleep(settleMs, options.signal);

    const rollouts: DemoRollout[] = [];
    const interrupted = () => options.signal?.aborted === true;
    if (!interrupted()) {
      observer?.note(
        `rollout v1 → v2 (${strategyKind}): new code, listen address 0.0.0.0:8080 → 0.0.0.0:8081, ${describeStrategy(strategyKind, batchSize)}`,
      );
      rollouts.push(await deploy('v1', 'v2', rollout, batchSize));
      await sleep(settleMs, options.signal);
    }
    if (!interrupted()) {
      onV3.clear();
      observer?.note(
        `rollout v2 → v3: new code, address 0.0.0.0:8082, which ${blockedHost} cannot bind (${lattice.blockedAddress} is taken)`,
      );
      rollouts.push(await deploy('v2', 'v3', rollout, batchSize));
    }
    await Promise.all(lattice.hosts.map((h) => h.settled()));
    await sleep(settleMs, options.signal);

    const [invocations, http] = await Promise.all([load.stop(), httpLoad?.stop() ?? null]);
    clearInterval(loadTimer);
    loadTimer = undefined;
    observer?.load(invocations);
    const pauseMs = pauseFigures(lattice.hosts.flatMap((h) => h.gate(COMPONENT_ID) ?? []));
    const hosts = lattice.hosts.map((h) => {
      const c = h.inventory().components.find((x) => x.id === COMPONENT_ID);
      return { id: h.hostId, version: versionOfImage(c?.servingImageRef) ?? null };
    });

    const problems: string[] = [];
    if (interrupted()) problems.push('interrupted');
    if (invocations.dropped > 0) problems.push(`${invocations.dropped} invocation(s) lost`);
    if (http !== null && http.dropped > 0) problems.push(`${http.dropped} http request(s) lost`);
    if (http !== null && (http.failures['wrong.reply'] ?? 0) > 0) problems.push('wrong http replies');
    const wrong = invocations.failures['wrong.reply'] ?? 0;
    if (wrong > 0) problems.push(`${wrong} wrong repl${wrong === 1 ? 'y' : 'ies'}`);
    const outcomes = rollouts.map((r) => r.outcome).join(',');
    if (outcomes !== 'completed,rolledBack') problems.push(`outcomes ${outcomes}, expected completed,rolledBack`);
    const off = hosts.filter((h) => h.version !== 'v2').map((h) => `${h.id} on ${h.version ?? 'nothing'}`);
    if (off.length > 0) problems.push(`not back on v2: ${off.join(', ')}`);
    if (rate > 0 && invocations.served === 0) problems.push('no invocation was served');

    if (door !== undefined && options.signal !== undefined && !options.signal.aborted) {
      observer?.note(`still serving on http://${door.address}/ (every host back on v2); Ctrl-C to stop`);
      await sleep(2_147_483_647, options.signal);
    }

    return {
      strategy: strategyKind,
      install: installed,
      rollouts,
      invocations,
      http,
      pauseMs,
      hosts,
      blockedHost,
      blockedAddress: lattice.blockedAddress,
      rolledBackHosts: [...onV3].filter((id) => id !== blockedHost).sort(),
      rate,
      elapsedMs: Math.round(performance.now() - started),
      ok: problems.length === 0,
      problems,
    };
  } finally {
    if (loadTimer !== undefined) clearInterval(loadTimer);
    await load?.stop(0);
    await httpLoad?.stop(0);
    for (const u of unsubscribe) u();
    await door?.close();
    await lattice.dispose();
  }
}

function describeStrategy(kind: DemoStrategy, batchSize: number): string {
  if (kind === 'canary') return '1 host and an error-rate analysis, then 50%, a pause, then all';
  if (kind === 'blue-green')
    return `standby beside the serving version (preview host first, ${batchSize} at a time), one switch, then an error-rate analysis`;
  return `${batchSize} host(s) per batch`;
}

export type { DemoLattice };
