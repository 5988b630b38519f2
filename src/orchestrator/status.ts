/**
 * What the orchestrator reports: a rollout as a plain {@link RolloutView}, an app's {@link AppStatus} (its
 * rollout, analyses, scaler holders and what each host serves), a stored rollout looked up by id, and who
 * drives an app now. Read-only: it must not write the store, send to hosts, or start, stop or command a run.
 */
import { rolloutOutput } from '../../machines/rollout/rolloutOutput';
import type { StateStore } from '../ports/store';
import type { Condition, RolloutContext, RolloutOutput } from '../protocol/rollout';
import { setConditions } from '../../machines/rollout/conditions';
import { specHash } from '../protocol/hash';
import { analysisRuns } from './analysisRuns';
import type { HeldLeases } from './heldLeases';
import { type LatticeClient, appWorkloads } from './latticeClient';
import { AppRecord, RolloutRecord, StableRecord, keys } from './records';
import type { Revisions } from './revisions';
import type { Run } from './runs/launch';
import type { ScalerHolds } from './scalers';
import { readRecord } from './storedRecord';
import type { AppStatus, RolloutView } from './types';

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
 */
export function viewOf(
  run: Pick<Run, 'id' | 'app' | 'kind' | 'parent'>,
  snap: { value: unknown; status: string; context: RolloutContext },
  extra: readonly Condition[] = [],
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
    conditions: setConditions(c.conditions, extra),
    progressDeadlineAt: c.progressDeadlineAt,
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
}

/** An app's status: its latest rollout (live here, or as stored), analyses, scaler holders and hosts. */
export async function appStatus(o: StatusContext, app: string): Promise<AppStatus> {
  const { store } = o;
  const appRec = await readRecord(store, keys.app(app), AppRecord);
  const stable = await readRecord(store, keys.stable(app), StableRecord);
  const run = o.runs.active(app) ?? (appRec ? o.runs.get(appRec.rolloutId) : undefined);
  const rec = run ? null : appRec ? await readRecord(store, keys.rollout(appRec.rolloutId), RolloutRecord) : null;
  const ctx = run ? run.actor.getSnapshot().context : (rec?.snapshot.context ?? null);
  const state = run ? stateString(run.actor.getSnapshot().value) : rec ? stateString(rec.snapshot.value) : null;
  const hashesOf = async (version: string | null | undefined) => {
    if (!version) return new Set<string>();
    try {
      const r = await o.revisions.load(app, version, false);
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
  const inventories = await o.client.ping();
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
    conditions: ctx ? setConditions(ctx.conditions, []) : [],
    analyses: ctx && appRec ? await analysisRuns(store, appRec.rolloutId, ctx.strategy) : [],
    scalerHolders: await o.scalers.holders(app),
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

/** Any rollout as last stored, with its output once final; undefined when none is stored under `id`. */
export async function lookupRollout(
  store: StateStore,
  id: string,
): Promise<{ rollout: RolloutView; output: RolloutOutput | null } | undefined> {
  const rec = await readRecord(store, keys.rollout(id), RolloutRecord);
  if (!rec) return undefined;
  const output = rec.snapshot.status === 'done' ? rolloutOutput(rec.snapshot.context) : null;
  return { rollout: viewOf(rec, rec.snapshot), output };
}
