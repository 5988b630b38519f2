import type { InspectionEvent, Observer } from 'xstate';
import { planBatches } from '../../../machines/rollout/plan';
import { CutoverError } from '../../errors';
import type { RolloutView } from '../../orchestrator/createOrchestrator';
import type { ComponentInventory } from '../../protocol/inventory';
import type { RolloutOutcome } from '../../protocol/rollout';
import type { StrategyInput } from '../../protocol/strategy';
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

/** What a demo run measured. */
export interface DemoResult {
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
  const rolling: StrategyInput = {
    type: 'rolling',
    maxParallel: batchSize,
    maxUnavailable: batchSize,
    hostOrder: 'name',
    minReadyMs: options.minReadyMs ?? 400,
  };
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
      // The same pure planner the rollout uses, so the batch shown per host is the one it gets.
      const batches = planBatches(
        ids,
        ids.map((hostId) => ({ hostId, labels: {} })),
        { maxParallel: size, maxUnavailable: size, hostOrder: 'name' },
      );
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
        `rollout v1 → v2: new code, listen address 0.0.0.0:8080 → 0.0.0.0:8081, ${batchSize} host(s) per batch`,
      );
      rollouts.push(await deploy('v1', 'v2', rolling, batchSize));
      await sleep(settleMs, options.signal);
    }
    if (!interrupted()) {
      onV3.clear();
      observer?.note(
        `rollout v2 → v3: new code, address 0.0.0.0:8082, which ${blockedHost} cannot bind (${lattice.blockedAddress} is taken)`,
      );
      rollouts.push(await deploy('v2', 'v3', rolling, batchSize));
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

export type { DemoLattice };
