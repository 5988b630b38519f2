import { rolloutOutput } from '../../machines/rollout/rolloutOutput';
import { type AnalysisRunView, analysisRuns } from './analysisRuns';
import { randomBytes } from 'node:crypto';
import { type Actor, type InspectionEvent, type Observer, type Snapshot, createActor } from 'xstate';
import { rolloutMachine } from '../../machines/rollout/rolloutMachine';
import type { RolloutEvent } from '../../machines/rollout/types';
import { CutoverError, hasCode, isCutoverError, toCutoverError } from '../errors';
import { type Clock, systemClock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { Transport } from '../ports/transport';
import { encode, parseWith } from '../protocol/decode';
import { parseManifest } from '../protocol/manifest';
import {
  type RolloutContext,
  RolloutInput,
  type RolloutKind,
  type RolloutOutcome,
  type RolloutOutput,
} from '../protocol/rollout';
import { AppRevision, type AppRevisionInput, type ComponentSpec, type ProviderSpec } from '../protocol/spec';
import { Strategy, type StrategyInput } from '../protocol/strategy';
import { subjects } from '../protocol/subjects';
import { specHash } from '../protocol/hash';
import { type Lease, createLeases } from './lease';
import { LatticeClient, appWorkloads } from './latticeClient';
import { Persister } from './persister';
import { reconcile } from './reconcile';
import {
  AppRecord,
  type HistoryEntry,
  HistoryRecord,
  RevisionRecord,
  RolloutRecord,
  StableRecord,
  keys,
} from './records';
import { rolloutEffects } from './rolloutEffects';
import { ScalerHolds } from './scalers';

/** Options of {@link createOrchestrator}. */
export interface OrchestratorOptions {
  lattice: string;
  transport: Transport;
  store: StateStore;
  clock?: Clock;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** How often verification re-queries inventories when no report arrives, and the scaler period (ms). */
  heartbeatMs?: number;
  /** Lease time-to-live per app (ms); renewed at a third of it. */
  leaseTtlMs?: number;
  /** This orchestrator's name as a lease holder (default: random). */
  holder?: string;
  /** Pins an image reference to a digest at plan time, so a rollback is exact. */
  resolveImage?: (ref: string) => Promise<string | undefined>;
  /** Revisions kept in history per app (the stable one is never dropped). Default 10. */
  revisionHistoryLimit?: number;
  /** Bound of every request to a host (ms, real time of the transport). Default 5,000. */
  requestTimeoutMs?: number;
  /** Run per-app scalers (default true). */
  scalers?: boolean;
  /** Problems the orchestrator found on its own (e.g. `snapshot.invalid` at start). */
  onProblem?: (error: CutoverError) => void;
  /**
   * How often (ms) to look for unfinished rollouts nobody drives (their app's lease expired or was released,
   * e.g. another orchestrator died) and take them over; 0 turns it off. Default half the lease TTL.
   */
  takeoverMs?: number;
  /** Called with each rollout this orchestrator resumes, at start or by taking it over. */
  onResume?: (rolloutId: string, app: string) => void;
}

/** A JSON-friendly view of a rollout. */
export interface RolloutView {
  id: string;
  app: string;
  kind: RolloutKind;
  parent: string | null;
  /** Dotted state, e.g. `progressing.verifying`. */
  state: string;
  done: boolean;
  outcome: RolloutOutcome | null;
  reason: string | null;
  code: string | null;
  targetVersion: string;
  stableVersion: string | null;
  batch: number;
  batches: number;
  paused: boolean;
  conditions: string[];
  progressDeadlineAt: number | null;
}

/** A started rollout. */
export interface RolloutHandle {
  readonly id: string;
  snapshot(): RolloutView;
  /** Called on every change of state; returns an unsubscribe function. */
  subscribe(fn: (view: RolloutView) => void): () => void;
  /** Resolves with the outcome once the rollout is final (never rejects). */
  readonly done: Promise<RolloutOutput>;
}

/** What `status(app)` reports. */
export interface AppStatus {
  app: string;
  phase: AppRecord['phase'] | 'unknown';
  rolloutId: string | null;
  state: string | null;
  stableVersion: string | null;
  targetVersion: string | null;
  paused: boolean;
  /** Batches done and planned (a step that re-plans may change `batches`). */
  batch: number;
  batches: number;
  reason: string | null;
  conditions: string[];
  /** Every analysis the rollout started, with its figures so far. */
  analyses: AnalysisRunView[];
  scalerHolders: string[];
  hosts: Array<{
    hostId: string;
    workloads: Array<{
      id: string;
      kind: 'component' | 'provider';
      status: string;
      servingHash: string | null;
      on: 'stable' | 'target' | 'other';
    }>;
  }>;
}

export interface DeployOptions {
  strategy?: StrategyInput;
}

/** The orchestrator API (DESIGN §5); everything it returns is plain JSON-friendly data. */
export interface Orchestrator extends AsyncDisposable {
  readonly lattice: string;
  /** This orchestrator's name as a lease holder. */
  readonly holder: string;
  /**
   * The orchestrator that drives an app (or the app of a rollout) now: the holder of its live lease, or
   * null when nobody holds it. The API forwards requests to it.
   */
  owner(of: { app: string } | { rolloutId: string }): Promise<string | null>;
  deploy(manifest: string | AppRevisionInput, options?: DeployOptions): Promise<RolloutHandle>;
  pause(app: string): Promise<RolloutView>;
  resume(app: string): Promise<RolloutView>;
  promote(app: string, options?: { full?: boolean }): Promise<RolloutView>;
  abort(app: string, reason?: string): Promise<RolloutView>;
  /** Starts the last rollout's target again as a new rollout linked to it. */
  retry(app: string, options?: DeployOptions): Promise<RolloutHandle>;
  /** Goes straight back to stable (or `toRevision` from history), skipping pauses and analysis. */
  undo(app: string, toRevision?: string): Promise<RolloutHandle>;
  status(app: string): Promise<AppStatus>;
  history(app: string): Promise<HistoryEntry[]>;
  /** A rollout this orchestrator drives, by id. */
  rollout(id: string): RolloutHandle | undefined;
  /** Any rollout by id as last stored (driven here or not, e.g. finished before a restart), with its output once final. */
  lookup(id: string): Promise<{ rollout: RolloutView; output: RolloutOutput | null } | undefined>;
  /** One scaler pass for an app now (it also runs every `heartbeatMs`). */
  reconcile(app: string): Promise<void>;
  /** Problems found on start, such as `snapshot.invalid` records left untouched. */
  readonly problems: readonly CutoverError[];
  /** Writes done and largest snapshot written, for benchmarks. */
  readonly stats: { snapshotWrites: number; largestSnapshotBytes: number };
  close(): Promise<void>;
}

type RolloutActor = Actor<typeof rolloutMachine>;

interface Run {
  id: string;
  app: string;
  kind: RolloutKind;
  parent: string | null;
  supersedes: string | null;
  createdAt: number;
  actor: RolloutActor;
  persister: Persister;
  listeners: Set<(v: RolloutView) => void>;
  done: Promise<RolloutOutput>;
  handle: RolloutHandle;
}

function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['', ''];
    const rest = stateString(v);
    return rest ? `${k}.${rest}` : k;
  }
  return '';
}

function viewOf(
  run: Pick<Run, 'id' | 'app' | 'kind' | 'parent'>,
  snap: { value: unknown; status: string; context: RolloutContext },
): RolloutView {
  const c = snap.context;
  return {
    id: run.id,
    app: run.app,
    kind: run.kind,
    parent: run.parent,
    state: stateString(snap.value),
    done: snap.status === 'done',
    outcome: snap.status === 'done' ? c.outcome : null,
    reason: c.reason,
    code: c.code,
    targetVersion: c.targetVersion,
    stableVersion: c.stableVersion,
    batch: c.batch,
    batches: c.batches,
    paused: c.paused,
    conditions: [...c.conditions],
    progressDeadlineAt: c.progressDeadlineAt,
  };
}

/** A record validated by {@link RolloutRecord} is a persisted snapshot of the rollout machine. */
function asSnapshot(snapshot: RolloutRecord['snapshot']): Snapshot<unknown> {
  return snapshot as unknown as Snapshot<unknown>;
}

const UNDO_STRATEGY: StrategyInput = {
  type: 'rolling',
  maxParallel: '100%',
  maxUnavailable: '100%',
  pauseAfterBatch: false,
};

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
  const historyLimit = options.revisionHistoryLimit ?? 10;
  const holder = options.holder ?? `orchestrator-${randomBytes(4).toString('hex')}`;
  const client = new LatticeClient({ transport, lattice, clock, requestTimeoutMs: options.requestTimeoutMs ?? 5_000 });
  const leases = createLeases(store, { holder, ttlMs, clock });
  const scalerHolds = new ScalerHolds(store);
  const runs = new Map<string, Run>();
  const activeByApp = new Map<string, Run>();
  const held = new Map<string, Lease>();
  const problems: CutoverError[] = [];
  const stats = { snapshotWrites: 0, largestSnapshotBytes: 0 };
  const appLocks = new Map<string, Promise<unknown>>();
  let closed = false;
  let renewTimer: unknown;
  let scalerTimer: unknown;

  const problem = (e: CutoverError) => {
    problems.push(e);
    options.onProblem?.(e);
  };

  /** Serialises operations per app (deploys, controls), so two deploys never race. */
  const locked = <T>(app: string, fn: () => Promise<T>): Promise<T> => {
    const prev = appLocks.get(app) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    appLocks.set(
      app,
      next.catch(() => undefined),
    );
    return next;
  };

  const acquireLease = async (app: string): Promise<Lease> => {
    const lease = await leases.acquire(app);
    held.set(app, lease);
    return lease;
  };
  const leaseToken = async (app: string): Promise<number> => (held.get(app) ?? (await acquireLease(app))).token;

  const renewAll = async () => {
    for (const [app, lease] of held) {
      try {
        held.set(app, await leases.renew(lease));
      } catch (e) {
        if (hasCode(e, 'lease.stale')) {
          // Another orchestrator took the app over: stop driving it here (its snapshot stays for the new holder).
          held.delete(app);
          const run = activeByApp.get(app);
          if (run) stopRun(run);
        }
      }
    }
  };
  const scheduleRenew = () => {
    if (closed) return;
    renewTimer = clock.setTimeout(
      () => {
        void renewAll().finally(scheduleRenew);
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    );
  };

  const readJson = async <T>(
    bucket: 'cutover',
    key: string,
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  ) => {
    const e = await store.get(bucket, key);
    if (!e) return null;
    const parsed = schema.safeParse(e.value);
    return parsed.success ? parsed.data : null;
  };

  const pinRevision = async (revision: AppRevision): Promise<AppRevision> => {
    const resolve = options.resolveImage;
    if (!resolve) return revision;
    const pin = async <S extends ComponentSpec | ProviderSpec>(spec: S): Promise<S> => {
      if (spec.digest) return spec;
      const digest = await resolve(spec.imageRef);
      return digest ? { ...spec, digest } : spec;
    };
    return {
      ...revision,
      components: await Promise.all(revision.components.map(async (c) => ({ ...c, spec: await pin(c.spec) }))),
      providers: await Promise.all(revision.providers.map(async (p) => ({ ...p, spec: await pin(p.spec) }))),
    };
  };

  const loadRevision = async (app: string, version: string, pin: boolean): Promise<AppRevision> => {
    const e = await store.get('cutover', keys.revision(app, version));
    if (!e) throw new CutoverError('plan.invalid', `revision "${version}" of "${app}" is not stored`);
    const record = parseWith(RevisionRecord, e.value, 'snapshot.invalid', `revision "${version}" of "${app}"`);
    if (!pin || record.pinned || !options.resolveImage) return record.revision;
    const revision = await pinRevision(record.revision);
    await store.put(
      'cutover',
      keys.revision(app, version),
      { ...record, revision, pinned: true },
      { expectedRevision: e.revision },
    );
    return revision;
  };

  const saveRevision = async (revision: AppRevision) => {
    const key = keys.revision(revision.app, revision.version);
    const e = await store.get('cutover', key);
    if (e) {
      const old = RevisionRecord.safeParse(e.value);
      if (old.success && old.data.revision.contentHash !== revision.contentHash) {
        throw new CutoverError(
          'manifest.invalid',
          `version "${revision.version}" of "${revision.app}" was already deployed with different content: give the change a new version`,
        );
      }
      return;
    }
    const record: RevisionRecord = { schema: 1, revision, pinned: false, storedAt: clock.now() };
    await store.put('cutover', key, record);
  };

  const readHistory = async (app: string): Promise<HistoryEntry[]> =>
    (await readJson('cutover', keys.history(app), HistoryRecord))?.entries ?? [];

  /**
   * What history no longer lists is removed from the store: the rollout's record, its plan (batches, gates,
   * analysis runs) and its revision when no kept entry and not stable names that version. Best effort: a
   * leftover is only space, and the next pruning tries again for nothing it already removed.
   */
  const forget = async (
    app: string,
    dropped: readonly HistoryEntry[],
    kept: readonly HistoryEntry[],
    stableVersion: string | null,
  ) => {
    for (const d of dropped) {
      if (runs.get(d.rolloutId)?.actor.getSnapshot().status === 'active') continue;
      const rec = await readJson('cutover', keys.rollout(d.rolloutId), RolloutRecord).catch(() => null);
      if (rec?.snapshot.status === 'active') continue;
      for (const key of await store.keys('cutover', `${keys.plan(d.rolloutId)}.`)) await store.delete('cutover', key);
      await store.delete('cutover', keys.plan(d.rolloutId));
      await store.delete('cutover', keys.rollout(d.rolloutId));
      if (d.version !== stableVersion && !kept.some((k) => k.version === d.version)) {
        await store.delete('cutover', keys.revision(app, d.version));
      }
    }
  };

  const recordHistory = async (
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ) => {
    for (let attempt = 0; ; attempt++) {
      const e = await store.get('cutover', keys.history(app));
      const parsed = e ? HistoryRecord.safeParse(e.value) : null;
      const entries = parsed?.success ? parsed.data.entries : [];
      const run = runs.get(rolloutId);
      const existing = entries.find((x) => x.rolloutId === rolloutId);
      if (existing) {
        existing.outcome = outcome;
        existing.reason = reason;
        existing.at = clock.now();
      } else {
        const ctx = run?.actor.getSnapshot().context;
        entries.unshift({
          version: ctx?.targetVersion ?? '',
          rolloutId,
          kind: run?.kind ?? 'deploy',
          outcome,
          reason,
          at: clock.now(),
        });
      }
      const stable = await readJson('cutover', keys.stable(app), StableRecord);
      // Prune to the limit, never dropping the stable revision's newest entry.
      const stableIndex = stable
        ? entries.findIndex((x) => x.version === stable.version && x.outcome === 'completed')
        : -1;
      const kept = entries.filter((_, i) => i < historyLimit || i === stableIndex);
      try {
        await store.put(
          'cutover',
          keys.history(app),
          { schema: 1, entries: kept },
          { expectedRevision: e?.revision ?? 0 },
        );
        const dropped = entries.filter((x) => !kept.includes(x));
        if (dropped.length > 0) await forget(app, dropped, kept, stable?.version ?? null).catch(() => undefined);
        return;
      } catch (err) {
        if (!hasCode(err, 'store.conflict') || attempt > 20) throw err;
      }
    }
  };

  const publish = (rolloutId: string, value: unknown) => {
    try {
      transport.publish(subjects.rolloutEvents(lattice, rolloutId), encode(value));
    } catch {
      // Events are best effort; the store holds the truth.
    }
  };

  const effectContext = {
    store,
    client,
    clock,
    scalers: scalerHolds,
    pollMs,
    leaseToken,
    loadRevision,
    recordHistory,
    publish,
  };

  function stopRun(run: Run) {
    run.actor.stop();
    runs.delete(run.id);
    if (activeByApp.get(run.app) === run) activeByApp.delete(run.app);
  }

  /** Starts (or restores) the actor of a rollout and wires persistence, events and history. */
  function launch(
    meta: Omit<Run, 'actor' | 'persister' | 'listeners' | 'done' | 'handle'>,
    revision: number,
    start: { input: RolloutInput } | { snapshot: Snapshot<unknown>; input: RolloutInput },
  ): Run {
    const listeners = new Set<(v: RolloutView) => void>();
    let run!: Run;
    const persister = new Persister(store, keys.rollout(meta.id), revision, (e) => {
      problem(toCutoverError(e, 'store.conflict'));
      stopRun(run);
      // Stop renewing the app's lease too: whoever wrote the record can then take the rollout over,
      // instead of it staying stranded behind a lease this orchestrator no longer uses.
      const lease = held.get(meta.app);
      if (lease) {
        held.delete(meta.app);
        leases.release(lease).catch(() => undefined);
      }
    });
    const machine = rolloutMachine.provide({
      actors: rolloutEffects(effectContext, { supersedes: meta.supersedes, persister }),
    });
    const inspect = options.inspect;
    const actor = !('snapshot' in start)
      ? createActor(machine, inspect ? { input: start.input, inspect } : { input: start.input })
      : createActor(
          machine,
          inspect
            ? { snapshot: start.snapshot, input: start.input, inspect }
            : { snapshot: start.snapshot, input: start.input },
        );
    let resolveDone!: (o: RolloutOutput) => void;
    const done = new Promise<RolloutOutput>((r) => {
      resolveDone = r;
    });
    const handle: RolloutHandle = {
      id: meta.id,
      snapshot: () => viewOf(meta, actor.getSnapshot()),
      subscribe: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      done,
    };
    run = { ...meta, actor, persister, listeners, done, handle };
    let lastState = '';
    actor.subscribe({
      next: (snap) => {
        const record: RolloutRecord = {
          schema: 1,
          id: meta.id,
          app: meta.app,
          kind: meta.kind,
          parent: meta.parent,
          supersedes: meta.supersedes,
          createdAt: meta.createdAt,
          updatedAt: clock.now(),
          snapshot: RolloutRecord.shape.snapshot.parse(actor.getPersistedSnapshot()),
        };
        persister.schedule(record);
        const view = viewOf(meta, snap);
        const key = `${view.state}|${view.paused}|${view.conditions.length}|${view.batch}`;
        if (key !== lastState) {
          lastState = key;
          publish(meta.id, { type: 'rollout.snapshot', rollout: view });
          for (const l of listeners) l(view);
        }
        if (snap.status === 'done' && snap.output) {
          const output = snap.output;
          void (async () => {
            try {
              await persister.flush();
              if (output.outcome !== 'superseded')
                await recordHistory(meta.app, meta.id, output.outcome, output.reason);
              else await recordHistory(meta.app, meta.id, 'superseded', output.reason);
            } catch (e) {
              problem(toCutoverError(e, 'store.unavailable'));
            }
            stats.snapshotWrites += persister.writes;
            stats.largestSnapshotBytes = Math.max(stats.largestSnapshotBytes, persister.largestBytes);
            if (activeByApp.get(meta.app) === run) activeByApp.delete(meta.app);
            publish(meta.id, { type: 'rollout.outcome', output });
            resolveDone(output);
          })();
        }
      },
      error: (e) => problem(toCutoverError(e)),
    });
    runs.set(meta.id, run);
    activeByApp.set(meta.app, run);
    actor.start();
    return run;
  }

  const newId = () => `r${clock.now().toString(36)}${randomBytes(3).toString('hex')}`;

  async function startRollout(
    revision: AppRevision,
    strategyInput: StrategyInput | undefined,
    kind: RolloutKind,
    parent: string | null,
  ): Promise<RolloutHandle> {
    if (closed) throw new CutoverError('transport.closed', 'orchestrator is closed');
    const app = revision.app;
    await acquireLease(app);
    let active = activeByApp.get(app);
    if (active) {
      const state = stateString(active.actor.getSnapshot().value);
      // Past the commit point a rollout finishes first: the new one then starts from its result.
      if (state === 'completing' || state === 'finalizing') {
        await active.done;
        active = undefined;
      }
    }
    const stable = await readJson('cutover', keys.stable(app), StableRecord);
    const stableVersion = stable?.version ?? null;
    if (active && kind === 'deploy' && stableVersion === revision.version) kind = 'undo';
    const strategy = parseWith(
      Strategy,
      kind === 'undo' ? UNDO_STRATEGY : (strategyInput ?? { type: 'rolling' }),
      'strategy.invalid',
      'strategy',
    );
    await saveRevision(revision);
    const activeCtx = active?.actor.getSnapshot();
    // Held (by a person or an inconclusive analysis) stays held; a step pause of the old plan does not carry over.
    const startPaused =
      activeCtx !== undefined && (activeCtx.context.paused || activeCtx.matches({ progressing: 'held' }));
    const id = newId();
    const at = clock.now();
    const input = parseWith(
      RolloutInput,
      { rolloutId: id, app, targetVersion: revision.version, stableVersion, strategy, kind, startPaused, at },
      'plan.invalid',
      'rollout input',
    );
    const meta = { id, app, kind, parent, supersedes: active?.id ?? null, createdAt: at };
    // The record exists before anything happens, so a crash right after leaves a rollout to resume.
    const initial = RolloutRecord.shape.snapshot.parse(createActor(rolloutMachine, { input }).getPersistedSnapshot());
    const rev = await store.put(
      'cutover',
      keys.rollout(id),
      { schema: 1, ...meta, updatedAt: at, snapshot: initial } satisfies RolloutRecord,
      { expectedRevision: 0 },
    );
    if (active) {
      active.actor.send({ type: 'rollout.supersede', by: id, at });
      // Its actor ends at once; the store record reaches `superseded` through its own persister.
      await active.persister.flush().catch(() => undefined);
    }
    return launch(meta, rev, { input }).handle;
  }

  const revisionOf = (manifest: string | AppRevisionInput): AppRevision =>
    typeof manifest === 'string'
      ? parseManifest(manifest).revision
      : parseWith(AppRevision, manifest, 'manifest.invalid', 'revision');

  const activeRun = (app: string): Run => {
    const run = activeByApp.get(app);
    if (!run)
      throw new CutoverError('rollout.invalidCommand', `no rollout of "${app}" is in progress: use retry or deploy`);
    return run;
  };

  const command = (app: string, event: RolloutEvent): RolloutView => {
    const run = activeRun(app);
    if (run.actor.getSnapshot().status !== 'active') {
      throw new CutoverError('rollout.invalidCommand', `rollout "${run.id}" is finished: use retry or deploy`);
    }
    run.actor.send(event);
    return run.handle.snapshot();
  };

  const lastRollout = async (app: string): Promise<RolloutRecord | null> => {
    const appRec = await readJson('cutover', keys.app(app), AppRecord);
    if (!appRec) return null;
    return readJson('cutover', keys.rollout(appRec.rolloutId), RolloutRecord);
  };

  /** Scaler pass: stable specs wherever placement puts them, unless a rollout holds the scaler. */
  const reconcileApp = async (app: string) => {
    if (activeByApp.has(app)) return;
    const holders = await scalerHolds.holders(app);
    if (holders.length > 0) return;
    const stable = await readJson('cutover', keys.stable(app), StableRecord);
    if (!stable) return;
    const revision = await loadRevision(app, stable.version, false);
    let token: number;
    try {
      token = await leaseToken(app);
    } catch (e) {
      if (hasCode(e, 'lease.held')) return;
      throw e;
    }
    await reconcile(client, app, revision, token, { send: true });
  };

  const scalerPass = async () => {
    const apps = (await store.keys('cutover', 'stable.')).map((k) => k.slice('stable.'.length));
    for (const token of apps) {
      const stable = await store.get('cutover', `stable.${token}`);
      const parsed = stable ? StableRecord.safeParse(stable.value) : null;
      if (!parsed?.success) continue;
      const appRec = await readJson('cutover', `app.${token}`, AppRecord);
      if (!appRec) continue;
      try {
        await reconcileApp(appRec.app);
      } catch (e) {
        if (!isCutoverError(e)) throw e;
      }
    }
  };
  const scheduleScaler = () => {
    if (closed || options.scalers === false) return;
    scalerTimer = clock.setTimeout(() => {
      void scalerPass()
        .catch(() => undefined)
        .finally(scheduleScaler);
    }, pollMs);
  };

  // Resume unfinished rollouts: level-triggered effects make re-running them safe. At start, and then
  // periodically, so rollouts of an orchestrator that died (lease expired or released) are taken over.
  const reported = new Set<string>();
  const failed = new Set<string>();
  const resumeUnfinished = async (startup: boolean) => {
    for (const key of await store.keys('cutover', keys.rolloutPrefix)) {
      if (closed) return;
      const e = await store.get('cutover', key);
      if (!e) continue;
      const parsed = RolloutRecord.safeParse(e.value);
      if (!parsed.success) {
        if (reported.has(key)) continue;
        reported.add(key);
        problem(
          new CutoverError('snapshot.invalid', `rollout record "${key}" is invalid; left untouched`, {
            cause: parsed.error,
          }),
        );
        continue;
      }
      const rec = parsed.data;
      // Under the app's lock, so a deploy of the same app never interleaves with a takeover.
      await locked(rec.app, async () => {
        // One that cannot be restored is reported once, not retried forever.
        if (rec.snapshot.status !== 'active' || runs.has(rec.id) || failed.has(rec.id)) return;
        // Later passes leave alone an app this orchestrator already drives (a stale record of it).
        if (!startup && activeByApp.has(rec.app)) return;
        try {
          await acquireLease(rec.app);
        } catch (err) {
          if (hasCode(err, 'lease.held')) return;
          throw err;
        }
        try {
          const meta = {
            id: rec.id,
            app: rec.app,
            kind: rec.kind,
            parent: rec.parent,
            supersedes: rec.supersedes,
            createdAt: rec.createdAt,
          };
          const c = rec.snapshot.context;
          const input: RolloutInput = {
            rolloutId: c.rolloutId,
            app: c.app,
            targetVersion: c.targetVersion,
            stableVersion: c.stableVersion,
            strategy: c.strategy,
            kind: c.kind,
            startPaused: c.paused,
            at: rec.createdAt,
          };
          launch(meta, e.revision, { snapshot: asSnapshot(rec.snapshot), input });
          options.onResume?.(rec.id, rec.app);
        } catch (err) {
          failed.add(rec.id);
          problem(
            new CutoverError(
              'snapshot.invalid',
              `rollout "${rec.id}" could not be restored: ${toCutoverError(err).message}`,
              { cause: err },
            ),
          );
        }
      });
    }
  };
  const takeoverMs = options.takeoverMs ?? Math.max(100, Math.floor(ttlMs / 2));
  let takeoverTimer: unknown;
  const scheduleTakeover = () => {
    if (closed || takeoverMs <= 0) return;
    takeoverTimer = clock.setTimeout(() => {
      void resumeUnfinished(false)
        .catch((e: unknown) => {
          if (isCutoverError(e)) problem(e);
        })
        .finally(scheduleTakeover);
    }, takeoverMs);
  };
  await resumeUnfinished(true);
  scheduleRenew();
  scheduleScaler();
  scheduleTakeover();

  const close = async () => {
    if (closed) return;
    closed = true;
    clock.clearTimeout(renewTimer);
    clock.clearTimeout(scalerTimer);
    clock.clearTimeout(takeoverTimer);
    for (const run of [...runs.values()]) {
      run.actor.stop();
      await run.persister.flush().catch(() => undefined);
      stats.snapshotWrites += run.persister.writes;
    }
    runs.clear();
    activeByApp.clear();
    client.close();
    for (const lease of held.values()) await leases.release(lease).catch(() => undefined);
    held.clear();
  };

  return {
    lattice,
    problems,
    stats,
    deploy: (manifest, opts = {}) => {
      const revision = revisionOf(manifest);
      return locked(revision.app, () => startRollout(revision, opts.strategy, 'deploy', null));
    },
    pause: (app) => locked(app, async () => command(app, { type: 'rollout.pause', at: clock.now() })),
    resume: (app) => locked(app, async () => command(app, { type: 'rollout.resume', at: clock.now() })),
    promote: (app, o = {}) =>
      locked(app, async () => command(app, { type: 'rollout.promote', full: o.full === true, at: clock.now() })),
    abort: (app, reason) =>
      locked(app, async () =>
        command(
          app,
          reason === undefined
            ? { type: 'rollout.abort', at: clock.now() }
            : { type: 'rollout.abort', reason, at: clock.now() },
        ),
      ),
    retry: (app, opts = {}) =>
      locked(app, async () => {
        if (activeByApp.has(app))
          throw new CutoverError('rollout.invalidCommand', `a rollout of "${app}" is in progress`);
        const last = await lastRollout(app);
        if (!last) throw new CutoverError('rollout.notFound', `no rollout of "${app}" to retry`);
        const revision = await loadRevision(app, last.snapshot.context.targetVersion, false);
        return startRollout(revision, opts.strategy ?? last.snapshot.context.strategy, 'retry', last.id);
      }),
    undo: (app, toRevision) =>
      locked(app, async () => {
        const stable = await readJson('cutover', keys.stable(app), StableRecord);
        const version = toRevision ?? stable?.version;
        if (version === undefined)
          throw new CutoverError('rollout.notFound', `"${app}" has no stable revision to undo to`);
        const revision = await loadRevision(app, version, false);
        const last = activeByApp.get(app)?.id ?? (await lastRollout(app))?.id ?? null;
        return startRollout(revision, UNDO_STRATEGY, 'undo', last);
      }),
    status: async (app) => {
      const appRec = await readJson('cutover', keys.app(app), AppRecord);
      const stable = await readJson('cutover', keys.stable(app), StableRecord);
      const run = activeByApp.get(app) ?? (appRec ? runs.get(appRec.rolloutId) : undefined);
      const rec = run ? null : appRec ? await readJson('cutover', keys.rollout(appRec.rolloutId), RolloutRecord) : null;
      const ctx = run ? run.actor.getSnapshot().context : (rec?.snapshot.context ?? null);
      const state = run ? stateString(run.actor.getSnapshot().value) : rec ? stateString(rec.snapshot.value) : null;
      const hashesOf = async (version: string | null | undefined) => {
        if (!version) return new Set<string>();
        try {
          const r = await loadRevision(app, version, false);
          return new Set([
            ...r.components.map((c) => specHash(c.spec, 'component')),
            ...r.providers.map((p) => specHash(p.spec, 'provider')),
          ]);
        } catch {
          return new Set<string>();
        }
      };
      const stableHashes = await hashesOf(stable?.version);
      const targetHashes = await hashesOf(ctx?.targetVersion);
      const inventories = await client.ping();
      return {
        app,
        phase: appRec?.phase ?? 'unknown',
        rolloutId: appRec?.rolloutId ?? null,
        state,
        stableVersion: stable?.version ?? null,
        targetVersion: ctx?.targetVersion ?? null,
        paused: ctx?.paused ?? false,
        batch: ctx?.batch ?? 0,
        batches: ctx?.batches ?? 0,
        reason: ctx?.reason ?? null,
        conditions: ctx ? [...ctx.conditions] : [],
        analyses: ctx && appRec ? await analysisRuns(store, appRec.rolloutId, ctx.strategy) : [],
        scalerHolders: await scalerHolds.holders(app),
        hosts: inventories
          .filter((inv) => appWorkloads(inv, app).length > 0)
          .map((inv) => ({
            hostId: inv.hostId,
            workloads: appWorkloads(inv, app).map((c) => ({
              id: c.id,
              kind: c.kind,
              status: c.status,
              servingHash: c.servingHash ?? null,
              on:
                c.servingHash !== undefined && stableHashes.has(c.servingHash)
                  ? ('stable' as const)
                  : c.servingHash !== undefined && targetHashes.has(c.servingHash)
                    ? ('target' as const)
                    : ('other' as const),
            })),
          })),
      };
    },
    history: readHistory,
    holder,
    owner: async (of) => {
      let app: string;
      if ('app' in of) app = of.app;
      else {
        const local = runs.get(of.rolloutId);
        if (local) return holder;
        const rec = await readJson('cutover', keys.rollout(of.rolloutId), RolloutRecord).catch(() => null);
        if (!rec) return null;
        app = rec.app;
      }
      const lease = await leases.current(app);
      return lease !== null && lease.expiresAt > clock.now() ? lease.holder : null;
    },
    rollout: (id) => runs.get(id)?.handle,
    lookup: async (id) => {
      const rec = await readJson('cutover', keys.rollout(id), RolloutRecord);
      if (!rec) return undefined;
      const output = rec.snapshot.status === 'done' ? rolloutOutput(rec.snapshot.context) : null;
      return { rollout: viewOf(rec, rec.snapshot), output };
    },
    reconcile: (app) => locked(app, () => reconcileApp(app)),
    close,
    [Symbol.asyncDispose]: close,
  };
}
