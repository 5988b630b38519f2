/**
 * What the orchestrator reports: a rollout as a plain {@link RolloutView} (versions, strategy and step, pause,
 * hold, promotion, analyses, batches, times), an app's {@link AppStatus} (its latest rollout's story, scaler
 * holders and, per host, the serving / target / standby / retained version and its verification), a stored
 * rollout looked up by id, and who drives an app now. The schemas are in viewSchemas.ts, the derivations in
 * statusFacts.ts. Read-only: it must not write the store, send to hosts, or start, stop or command a run.
 */
import { rolloutOutput } from '../../machines/rollout/rolloutOutput';
import type { StateStore } from '../ports/store';
import type { Condition, RolloutContext, RolloutOutput } from '../protocol/rollout';
import { setConditions } from '../../machines/rollout/conditions';
import { type GateRule, verdict } from '../../machines/rollout/plan';
import type { Clock } from '../ports/clock';
import type { HostInventory } from '../protocol/inventory';
import type { HeldLeases } from './heldLeases';
import { type LatticeClient, appWorkloads } from './latticeClient';
import { AppRecord, RolloutRecord, StableRecord, keys } from './records';
import type { Revisions } from './revisions';
import type { Run } from './runs/launch';
import type { ScalerHolds } from './scalers';
import { readRecord } from './storedRecord';
import {
  type ViewFacts,
  batchesIn,
  heldOf,
  pauseOf,
  previousVersion,
  promotionOf,
  stepOf,
  versionRef,
  viewFacts,
} from './statusFacts';
import type { AppStatus, RolloutView } from './types';
import type { VersionRef, Versions } from './viewSchemas';

/** A machine state value as a dotted string, e.g. `progressing.verifying`. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['', ''];
    const rest = stateString(v);
    return rest ? `${k}.${rest}` : k;
  }
  return '';
}

/**
 * The view of a rollout from its identity and a (live or stored) snapshot. `extra` are conditions the
 * orchestrator knows beside the rollout's own (outages it waits out, e.g. `StoreUnavailable`), merged by type.
 * `facts` are what the store tells beyond the snapshot (see statusFacts.ts): without them (a live snapshot)
 * the hashes, planned batches, analyses, a canary's step and the finish time are left empty or null.
 */
export function viewOf(
  run: Pick<Run, 'id' | 'app' | 'kind' | 'parent'> & { createdAt?: number },
  snap: { value: unknown; status: string; context: RolloutContext },
  extra: readonly Condition[] = [],
  facts?: ViewFacts,
): RolloutView {
  const c = snap.context;
  const state = stateString(snap.value);
  const done = snap.status === 'done';
  return {
    id: run.id,
    app: run.app,
    kind: run.kind,
    parent: run.parent,
    state,
    done,
    outcome: done ? c.outcome : null,
    reason: c.reason,
    code: c.code,
    targetVersion: c.targetVersion,
    stableVersion: c.stableVersion,
    batch: c.batch,
    batches: c.batches,
    paused: c.paused,
    conditions: setConditions(c.conditions, extra),
    progressDeadlineAt: c.progressDeadlineAt,
    strategy: c.strategy.type,
    versions: facts?.versions ?? {
      target: { version: c.targetVersion, hashes: null },
      stable: c.stableVersion === null ? null : { version: c.stableVersion, hashes: null },
      previous: null,
    },
    step: stepOf(c, state, facts),
    pause: pauseOf(c, state),
    held: heldOf(c, state),
    promotion: promotionOf(c, state, facts),
    analyses: facts?.analyses ?? [],
    plannedBatches: batchesIn(facts?.plannedBatches ?? [], state),
    verification: { verified: c.verified, unverified: [...c.unverified.hosts], unverifiedCount: c.unverified.count },
    startedAt: run.createdAt ?? null,
    finishedAt: facts?.finishedAt ?? null,
  };
}

/** The runs this orchestrator drives, as status reads them. */
export interface LocalRuns {
  get(rolloutId: string): Run | undefined;
  active(app: string): Run | undefined;
}

/** What the status readers work with. */
export interface StatusContext {
  store: StateStore;
  client: LatticeClient;
  scalers: ScalerHolds;
  revisions: Revisions;
  runs: LocalRuns;
  leases: HeldLeases;
  /** This orchestrator's name as a lease holder. */
  holder: string;
  /** For per-host verification (what is left of `minReadyMs`); each inventory's instant when unset. */
  clock?: Clock;
}

/** The view of a rollout, live here or as stored, with the facts the store holds about it. */
async function fullView(
  o: StatusContext,
  rolloutId: string,
): Promise<{ view: RolloutView; context: RolloutContext } | null> {
  const run = o.runs.get(rolloutId);
  const rec = await readRecord(o.store, keys.rollout(rolloutId), RolloutRecord).catch(() => null);
  const meta = run ?? rec;
  const snap = run ? run.actor.getSnapshot() : rec?.snapshot;
  if (!meta || !snap) return null;
  const done = snap.status === 'done';
  const facts = await viewFacts(
    o.store,
    { id: rolloutId, app: meta.app, updatedAt: rec?.updatedAt ?? o.clock?.now() ?? 0, done },
    snap.context,
  );
  return { view: viewOf(meta, snap, [], facts), context: snap.context };
}

/** An app's status: its latest rollout's story (live here, or as stored), scaler holders and what hosts serve. */
export async function appStatus(o: StatusContext, app: string): Promise<AppStatus> {
  const { store } = o;
  const appRec = await readRecord(store, keys.app(app), AppRecord);
  const stable = await readRecord(store, keys.stable(app), StableRecord);
  const active = o.runs.active(app);
  const rolloutId = active?.id ?? appRec?.rolloutId ?? null;
  const found = rolloutId === null ? null : await fullView(o, rolloutId);
  const view = found?.view ?? null;
  const ctx = found?.context ?? null;
  // The app's versions: its stable one now (the rollout's may have been an earlier one), and its last target.
  const stableVersion = stable?.version ?? null;
  const versions: Versions = {
    target: view?.versions.target ?? null,
    stable: await versionRef(store, app, stableVersion).catch(() => null),
    previous: await previousVersion(store, app, stableVersion)
      .then((v) => versionRef(store, app, v))
      .catch(() => null),
  };
  const phase = appRec?.phase ?? 'unknown';
  const inventories = await o.client.ping();
  const hosts = hostStates(inventories, app, {
    versions,
    // What the app is meant to serve now: the rollout's target while it upgrades, else stable.
    expected: phase === 'upgrading' ? versions.target : (versions.stable ?? versions.target),
    rule: ctx
      ? { minReadyMs: ctx.strategy.minReadyMs, maxErrorRate: ctx.strategy.maxErrorRate ?? 1 }
      : { minReadyMs: 0, maxErrorRate: 1 },
    now: o.clock?.now(),
  });
  return {
    app,
    phase,
    rolloutId: appRec?.rolloutId ?? rolloutId,
    state: view?.state ?? null,
    stableVersion,
    targetVersion: view?.targetVersion ?? null,
    paused: view?.paused ?? false,
    batch: view?.batch ?? 0,
    batches: view?.batches ?? 0,
    reason: view?.reason ?? null,
    conditions: view?.conditions ?? [],
    scalerHolders: await o.scalers.holders(app),
    strategy: view?.strategy ?? null,
    versions,
    step: view?.step ?? null,
    pause: view?.pause ?? null,
    held: view?.held ?? null,
    promotion: view?.promotion ?? { pending: false, requested: 'no' },
    analyses: view?.analyses ?? [],
    plannedBatches: view?.plannedBatches ?? [],
    verification: view?.verification ?? { verified: 0, unverified: [], unverifiedCount: 0 },
    startedAt: view?.startedAt ?? null,
    finishedAt: view?.finishedAt ?? null,
    hosts,
  };
}

/** What a host's workloads are judged against. */
interface HostJudging {
  versions: Versions;
  expected: VersionRef | null;
  rule: GateRule;
  /** The orchestrator's clock; each inventory's own instant when unset. */
  now: number | undefined;
}

/** Each host's workloads of `app`: the versions they serve, stand by with or retain, and their verification. */
export function hostStates(inventories: readonly HostInventory[], app: string, j: HostJudging): AppStatus['hosts'] {
  const byHash = new Map<string, string>();
  for (const ref of [j.versions.previous, j.versions.stable, j.versions.target]) {
    for (const hash of Object.values(ref?.hashes ?? {})) byHash.set(hash, ref?.version ?? '');
  }
  const stableHashes = new Set(Object.values(j.versions.stable?.hashes ?? {}));
  const targetHashes = new Set(Object.values(j.versions.target?.hashes ?? {}));
  const at = (hash: string | undefined) => (hash === undefined ? null : { hash, version: byHash.get(hash) ?? null });
  return inventories
    .filter((inv) => appWorkloads(inv, app).length > 0)
    .map((inv) => ({
      hostId: inv.hostId,
      workloads: appWorkloads(inv, app).map((w) => {
        const now = j.now ?? inv.at;
        const expected = j.expected?.hashes?.[`${w.kind}:${w.id}`];
        const verified = expected !== undefined && verdict(w, expected, j.rule, now).status === 'passed';
        const last = w.lastApply;
        const ready =
          expected !== undefined && w.servingHash === expected && w.status === 'running'
            ? last !== undefined && last.hash === expected && last.outcome === 'applied'
              ? Math.max(0, j.rule.minReadyMs - (now - last.at))
              : 0
            : null;
        const standby = w.standby?.hash ?? (w.pending?.phase === 'standby' ? w.pending.hash : undefined);
        return {
          id: w.id,
          kind: w.kind,
          status: w.status,
          servingHash: w.servingHash ?? null,
          on:
            w.servingHash !== undefined && stableHashes.has(w.servingHash)
              ? ('stable' as const)
              : w.servingHash !== undefined && targetHashes.has(w.servingHash)
                ? ('target' as const)
                : ('other' as const),
          serving: at(w.servingHash),
          target: w.pending !== undefined && w.pending.phase !== 'standby' ? at(w.pending.hash) : null,
          standby: at(standby),
          retained:
            w.retained === undefined
              ? null
              : { hash: w.retained.hash, version: byHash.get(w.retained.hash) ?? null, until: w.retained.until },
          verified,
          minReadyRemainingMs: ready,
        };
      }),
    }));
}

/** Who drives an app (or a rollout's app) now: this orchestrator for a run of its own, else the live lease's holder. */
export async function ownerOf(o: StatusContext, of: { app: string } | { rolloutId: string }): Promise<string | null> {
  let app: string;
  if ('app' in of) app = of.app;
  else {
    const local = o.runs.get(of.rolloutId);
    if (local) return o.holder;
    const rec = await readRecord(o.store, keys.rollout(of.rolloutId), RolloutRecord).catch(() => null);
    if (!rec) return null;
    app = rec.app;
  }
  return o.leases.liveHolder(app);
}

/** Any rollout as last stored, with the store's facts about it and its output once final; undefined when none is stored under `id`. */
export async function lookupRollout(
  store: StateStore,
  id: string,
): Promise<{ rollout: RolloutView; output: RolloutOutput | null } | undefined> {
  const rec = await readRecord(store, keys.rollout(id), RolloutRecord);
  if (!rec) return undefined;
  const done = rec.snapshot.status === 'done';
  const output = done ? rolloutOutput(rec.snapshot.context) : null;
  const facts = await viewFacts(store, { ...rec, done }, rec.snapshot.context);
  return { rollout: viewOf(rec, rec.snapshot, [], facts), output };
}
