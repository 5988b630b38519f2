/**
 * The orchestrator's composition root: it builds its parts (held leases, revisions, history, runs,
 * takeover, scaler pass, status) over one transport and store, wires them to one another, starts their
 * timers and maps the public {@link Orchestrator} API onto them, each operation on an app under that app's
 * lock. It holds no behaviour of its own beyond that wiring and the order of close.
 */
import { randomBytes } from 'node:crypto';
import type { CutoverError } from '../errors';
import { Notifier } from '../observability/notifications';
import { systemClock } from '../ports/clock';
import { AppLocks } from './appLocks';
import { HeldLeases } from './heldLeases';
import { History } from './history';
import { Inflight } from './inflight';
import { LatticeClient } from './latticeClient';
import { Outages } from './outages';
import { Revisions, parseRevision } from './revisions';
import type { EffectContext } from './effects';
import { analysisProvidersOf } from './effects/analysis';
import { type RunStats, rolloutPublisher } from './runs/launch';
import { Runs } from './runs/runs';
import { Takeover } from './runs/takeover';
import { ScalerPass } from './scalerPass';
import { ScalerHolds } from './scalers';
import { type StatusContext, appStatus, lookupRollout, ownerOf } from './status';
import { deleteApp, listApps, storedRevision } from './apps';
import type { Orchestrator, OrchestratorOptions } from './types';

/** The public types, re-exported where they have always been imported from. */
export type * from './types';

/**
 * Starts an orchestrator on a lattice: rollouts as `rollout` machines, per-app leases, scalers and
 * crash-safe snapshots in the store. Unfinished rollouts found in the store resume at once.
 * @example
 * await using orch = await createOrchestrator({ lattice: 'default', transport, store });
 * const rollout = await orch.deploy(manifestText, { strategy: { type: 'rolling', maxParallel: '25%' } });
 * console.log((await rollout.done).outcome);
 */
export async function createOrchestrator(options: OrchestratorOptions): Promise<Orchestrator> {
  const { lattice, transport, store } = options;
  const clock = options.clock ?? systemClock;
  const pollMs = options.heartbeatMs ?? 1_000;
  const ttlMs = options.leaseTtlMs ?? 15_000;
  const holder = options.holder ?? `orchestrator-${randomBytes(4).toString('hex')}`;
  const outages = new Outages(clock);
  const client = new LatticeClient({
    transport,
    lattice,
    clock,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    outages,
  });
  const scalers = new ScalerHolds(store);
  const problems: CutoverError[] = [];
  const stats: RunStats = { snapshotWrites: 0, largestSnapshotBytes: 0 };
  const problem = (e: CutoverError) => {
    problems.push(e);
    options.onProblem?.(e);
  };

  const locks = new AppLocks();
  const leases: HeldLeases = new HeldLeases({
    store,
    clock,
    holder,
    ttlMs,
    ...(options.leaseSafetyMs === undefined ? {} : { safetyMs: options.leaseSafetyMs }),
    outages,
    // A takeover raises the token on every host before the new token is used for anything.
    fence: async (app, token) => {
      await client.fenceAll(app, token);
    },
    onLost: (app) => runs.stopApp(app),
  });
  const revisions = new Revisions({ store, clock, resolveImage: options.resolveImage });
  const history = new History({
    store,
    clock,
    limit: options.revisionHistoryLimit ?? 10,
    localRun: (rolloutId) => runs.get(rolloutId),
  });
  const effects: EffectContext = {
    store,
    client,
    clock,
    scalers,
    pollMs,
    analysisProviders: analysisProvidersOf(options.analysisProviders, clock),
    sendToken: (app, signal) => leases.sendToken(app, signal),
    inflight: new Inflight(),
    outages,
    loadRevision: (app, version, pin) => revisions.load(app, version, pin),
    recordHistory: (app, rolloutId, outcome, reason) => history.record(app, rolloutId, outcome, reason),
    publish: rolloutPublisher(transport, lattice),
    notifier: new Notifier(options.notify, lattice, holder, clock),
  };
  const runs: Runs = new Runs({
    closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
    store,
    clock,
    effects,
    inspect: options.inspect,
    stats,
    problem,
    leases,
    revisions,
  });
  const takeover = new Takeover({
    store,
    clock,
    runs,
    leases,
    locks,
    everyMs: options.takeoverMs ?? Math.max(100, Math.floor(ttlMs / 2)),
    problem,
    onResume: (rolloutId, app) => {
      // History times the holds of a resumed rollout too.
      const run = runs.get(rolloutId);
      if (run !== undefined) history.watch(app, rolloutId, run);
      options.onResume?.(rolloutId, app);
    },
  });
  const scalerPass = new ScalerPass({
    store,
    clock,
    client,
    scalers,
    revisions,
    leases,
    driving: (app) => runs.active(app) !== undefined,
    pollMs,
    enabled: options.scalers !== false,
  });
  const statusContext: StatusContext = { store, client, scalers, revisions, runs, leases, holder, clock };

  await takeover.resumeUnfinished(true);
  leases.startRenewing();
  scalerPass.schedule();
  takeover.schedule();

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    leases.stop();
    scalerPass.stop();
    takeover.stop();
    await runs.close();
    history.close();
    client.close();
    // Releasing lets another orchestrator take over at once; with the store out it would wait, so it is bounded
    // (the leases then simply expire).
    const timeoutMs = options.closeTimeoutMs ?? 5_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      leases.releaseAll(),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
        timer.unref?.();
      }),
    ]);
    clearTimeout(timer);
  };

  return {
    lattice,
    problems,
    stats,
    deploy: (manifest, opts = {}) => {
      const revision = parseRevision(manifest);
      return locks.run(revision.app, () => runs.start(revision, opts.strategy, 'deploy', null));
    },
    pause: (app) => locks.run(app, async () => runs.command(app, { type: 'rollout.pause', at: clock.now() })),
    resume: (app) => locks.run(app, async () => runs.command(app, { type: 'rollout.resume', at: clock.now() })),
    promote: (app, o = {}) =>
      locks.run(app, async () => {
        const at = clock.now();
        const view = await runs.command(app, { type: 'rollout.promote', full: o.full === true, at });
        // History keeps the promotions people gave (best effort: the rollout is what counts).
        await history.promoted(app, view.id, { at, full: o.full === true }).catch(() => undefined);
        return view;
      }),
    abort: (app, reason) =>
      locks.run(app, async () =>
        runs.command(
          app,
          reason === undefined
            ? { type: 'rollout.abort', at: clock.now() }
            : { type: 'rollout.abort', reason, at: clock.now() },
        ),
      ),
    retry: (app, opts = {}) => locks.run(app, () => runs.retry(app, opts.strategy)),
    undo: (app, toRevision) => locks.run(app, () => runs.undo(app, toRevision)),
    status: (app) => appStatus(statusContext, app),
    history: (app) => history.read(app),
    holder,
    owner: (of) => ownerOf(statusContext, of),
    rollout: (id) => runs.get(id)?.handle,
    lookup: (id) => lookupRollout(store, id),
    reconcile: (app) => locks.run(app, () => scalerPass.reconcileApp(app)),
    list: () => listApps(store),
    revision: (app, version) => storedRevision(store, revisions, app, version),
    delete: (app) =>
      locks.run(app, () =>
        deleteApp({ store, client, leases, pollMs, driving: (a) => runs.active(a) !== undefined }, app),
      ),
    close,
    [Symbol.asyncDispose]: close,
  };
}
