// The rollout's lifecycle effects around its batches: holding and releasing the app's scalers, the app record
// (`upgrading` when the rollout starts, its outcome when it ends) and the history entry, completing (the
// desired state, configs and stable record written, then what the revision dropped removed from every host),
// rolling back (every host driven to the stable revision) and the progress deadline. Every send to a host
// goes through send.ts (`reconcileThrough` with the scope's sender); this file must not plan, verify batches
// nor run analyses.
import type { z } from 'zod';
import type { DeadlineInput, FinalInput, Stamp, StepInput } from '../../../machines/rollout/types';
import { waitUntil } from '../../ports/clock';
import { type AppRecord, type ConfigRecord, type DesiredRecord, type StableRecord, keyToken, keys } from '../records';
import { reconcileThrough } from '../reconcile';
import { type EffectContext, type RunContext, never, stamp, withRetry } from './context';
import { endAnalyses } from './analysis';
import { noteLost, plannedHosts } from './batches';
import { hostSend, openScope } from './send';

/** The `suspendScalers` effect: holds the app's scalers (taking them over from a superseded rollout). */
export async function suspendScalers(
  o: EffectContext,
  run: RunContext,
  input: StepInput,
  signal: AbortSignal,
): Promise<Stamp> {
  await withRetry(() => o.scalers.suspend(input.app, input.rolloutId, run.supersedes), o.clock, signal);
  return stamp(o.clock);
}

/** The `markUpgrading` effect: the app record says `upgrading`, the history has the rollout in progress. */
export async function markUpgrading(o: EffectContext, input: StepInput, signal: AbortSignal): Promise<Stamp> {
  const record: AppRecord = {
    schema: 1,
    app: input.app,
    phase: 'upgrading',
    rolloutId: input.rolloutId,
    targetVersion: input.targetVersion,
    stableVersion: input.stableVersion,
    at: o.clock.now(),
  };
  await withRetry(() => o.store.put('cutover', keys.app(input.app), record), o.clock, signal);
  await o.recordHistory(input.app, input.rolloutId, 'inProgress', null);
  return stamp(o.clock);
}

/** The `complete` effect: the target becomes desired and stable, then what it dropped is removed from hosts. */
export async function complete(
  o: EffectContext,
  run: RunContext,
  input: FinalInput,
  signal: AbortSignal,
): Promise<Stamp> {
  const target = await o.loadRevision(input.app, input.targetVersion, false);
  const at = o.clock.now();
  const desired = {
    schema: 1 as const,
    app: input.app,
    version: target.version,
    components: target.components.map((c) => c.spec),
    providers: target.providers.map((p) => p.spec),
    links: target.links,
    at,
  } satisfies z.input<typeof DesiredRecord>;
  await withRetry(() => o.store.put('latticedata', keys.desired(input.app), desired), o.clock, signal);
  const wanted = new Set<string>();
  for (const w of [...target.components, ...target.providers]) {
    const key = keys.config(input.app, w.spec.id);
    wanted.add(key);
    const value: z.input<typeof ConfigRecord> = { schema: 1, app: input.app, id: w.spec.id, config: w.spec.config };
    await withRetry(() => o.store.put('configdata', key, value), o.clock, signal);
  }
  for (const key of await o.store.keys('configdata', `app.${keyToken(input.app)}.`)) {
    if (!wanted.has(key)) await o.store.delete('configdata', key);
  }
  const stable: StableRecord = { schema: 1, version: target.version, rolloutId: input.rolloutId, at };
  await withRetry(() => o.store.put('cutover', keys.stable(input.app), stable), o.clock, signal);
  // Remove what the revision dropped; bounded, the scaler finishes anything a lost host still runs.
  const scope = await openScope(o, run, input.app, signal);
  for (let round = 0; round < 50 && !signal.aborted; round++) {
    const since = o.client.generation;
    const r = await reconcileThrough(o.client, input.app, target, hostSend(scope), { send: true });
    if (Object.values(r.placement.hosts).every((d) => d.remove.length === 0)) break;
    await o.client.changed(o.pollMs, signal, since);
  }
  return stamp(o.clock);
}

/** The `rollback` effect: one reconcile of every host toward the stable revision (nothing, on a first deploy). */
export async function rollback(
  o: EffectContext,
  run: RunContext,
  input: StepInput,
  signal: AbortSignal,
): Promise<Stamp> {
  const stable = input.stableVersion === null ? null : await o.loadRevision(input.app, input.stableVersion, false);
  // Hosts of the rollout's plan known until now that no longer answer dropped out: kept in the steps record, so
  // that verifying the rollback names them in HostLost (the ping forgets them). The plan is read only then.
  const before = new Set(o.client.known);
  const inventories = await o.client.ping();
  const answering = new Set(inventories.map((i) => i.hostId));
  const missing = [...before].filter((h) => !answering.has(h));
  if (missing.length > 0) {
    const planned = await plannedHosts(o, input.rolloutId, signal);
    const dropped = missing.filter((h) => planned.has(h));
    if (dropped.length > 0) await noteLost(o, input.rolloutId, dropped, signal);
  }
  await reconcileThrough(o.client, input.app, stable, hostSend(await openScope(o, run, input.app, signal)), {
    send: true,
    inventories,
  });
  return stamp(o.clock);
}

/** The `resumeScalers` effect: releases the app's scalers and writes the rollout's outcome to the app record. */
export async function resumeScalers(o: EffectContext, input: FinalInput, signal: AbortSignal): Promise<Stamp> {
  await endAnalyses(o, input, signal);
  await withRetry(() => o.scalers.resume(input.app, input.rolloutId), o.clock, signal, 20);
  const phase =
    input.outcome === 'completed' ? 'deployed' : input.outcome === 'superseded' ? 'upgrading' : input.outcome;
  const stableVersion = input.outcome === 'completed' ? input.targetVersion : input.stableVersion;
  const record: AppRecord = {
    schema: 1,
    app: input.app,
    phase,
    rolloutId: input.rolloutId,
    targetVersion: input.targetVersion,
    stableVersion,
    at: o.clock.now(),
  };
  await withRetry(() => o.store.put('cutover', keys.app(input.app), record), o.clock, signal, 20);
  return stamp(o.clock);
}

/** The `deadline` effect: resolves at the progress deadline's instant (never, when there is none). */
export async function deadline(o: EffectContext, input: DeadlineInput, signal: AbortSignal): Promise<Stamp> {
  if (!Number.isFinite(input.at)) return never(signal);
  await waitUntil(o.clock, input.at, signal);
  if (signal.aborted) return never(signal);
  return { at: input.at };
}
