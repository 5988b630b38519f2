/**
 * The apps of a lattice as a whole: listing them (`list`, from their app records) and deleting one
 * (`delete`: undeploy from every host, then forget its records). Deleting stops the app's scaler first (its
 * stable record goes), removes every workload through the same fenced, live-lease sends the scalers use,
 * and refuses while a rollout drives the app. It must not start or command rollouts.
 */
import { CutoverError } from '../errors';
import type { StateStore } from '../ports/store';
import type { HeldLeases } from './heldLeases';
import type { LatticeClient } from './latticeClient';
import { reconcileThrough } from './reconcile';
import { AppRecord, StableRecord, keyToken, keys } from './records';
import type { Revisions } from './revisions';
import type { AppRevision } from '../protocol/spec';
import { readRecord } from './storedRecord';
import type { AppSummary, DeleteResult } from './types';

/** What {@link deleteApp} works with. */
export interface AppsContext {
  store: StateStore;
  client: LatticeClient;
  leases: HeldLeases;
  /** Whether a rollout of the app is driven here. */
  driving(app: string): boolean;
  /** Rounds of delete-and-look before giving up (default 20), each waiting up to `pollMs` for host reports. */
  rounds?: number;
  pollMs: number;
}

/** Every app with a record on the lattice, by name. */
export async function listApps(store: StateStore): Promise<AppSummary[]> {
  const out: AppSummary[] = [];
  for (const key of await store.keys('cutover', 'app.')) {
    // `app.<token>` is the app record; `app.<token>.<id>` keys are not.
    if (key.split('.').length !== 2) continue;
    const record = await readRecord(store, key, AppRecord).catch(() => null);
    if (record === null) continue;
    const { app, phase, stableVersion, targetVersion, rolloutId, at } = record;
    out.push({ app, phase, stableVersion, targetVersion, rolloutId, at });
  }
  return out.sort((a, b) => a.app.localeCompare(b.app));
}

/**
 * Undeploys `app`: stops its scaler, deletes every workload of it from every host (components before
 * providers) until none is left, then removes its records (stable, app, scaler, history, revisions, desired
 * state) and releases its lease. `rollout.notFound` for an app never deployed; `rollout.invalidCommand` while a
 * rollout of it runs (abort it first).
 */
export async function deleteApp(o: AppsContext, app: string): Promise<DeleteResult> {
  const { store } = o;
  const record = await readRecord(store, keys.app(app), AppRecord);
  if (record === null) throw new CutoverError('rollout.notFound', `app "${app}" is not deployed on this lattice`);
  if (o.driving(app) || record.phase === 'upgrading') {
    throw new CutoverError(
      'rollout.invalidCommand',
      `rollout ${record.rolloutId} of "${app}" is in progress: abort it (cutover abort ${app}) before deleting`,
    );
  }
  await o.leases.acquire(app);
  // The scaler keeps an app on its stable revision: without the record it leaves the app alone.
  await store.delete('cutover', keys.stable(app));
  const signal = new AbortController().signal;
  let sent = 0;
  const rounds = o.rounds ?? 20;
  for (let round = 0; ; round++) {
    const result = await reconcileThrough(
      o.client,
      app,
      null,
      (hostId, op) => o.client.control(hostId, app, () => o.leases.sendToken(app, signal), op),
      { send: true },
    );
    sent += result.sent;
    if (result.failed !== null) {
      throw new CutoverError(
        'invoke.failed',
        `host ${result.failed.hostId} could not delete ${result.failed.id}: ${result.failed.reason}`,
        {
          hostId: result.failed.hostId,
        },
      );
    }
    if (result.clean && result.sent === 0) break;
    if (round >= rounds) {
      throw new CutoverError('transport.timeout', `workloads of "${app}" are still on hosts after ${rounds} rounds`, {
        retryable: true,
      });
    }
    await o.client.changed(o.pollMs, signal);
  }
  let records = 1;
  const remove = async (bucket: 'cutover' | 'latticedata', key: string) => {
    if ((await store.get(bucket, key)) === null) return;
    await store.delete(bucket, key);
    records++;
  };
  for (const key of await store.keys('cutover', `revision.${keyToken(app)}.`)) await remove('cutover', key);
  for (const key of await store.keys('latticedata', `${keys.desired(app)}.`)) await remove('latticedata', key);
  await remove('latticedata', keys.desired(app));
  await remove('cutover', keys.scaler(app));
  await remove('cutover', keys.history(app));
  await remove('cutover', keys.app(app));
  o.leases.drop(app);
  return { app, sent, records };
}

/** A stored revision of `app`: `version`, or its stable one; `rollout.notFound` when there is none. */
export async function storedRevision(
  store: StateStore,
  revisions: Revisions,
  app: string,
  version: string | undefined,
): Promise<AppRevision> {
  let wanted = version;
  if (wanted === undefined) {
    const stable = await readRecord(store, keys.stable(app), StableRecord);
    if (stable === null)
      throw new CutoverError('rollout.notFound', `app "${app}" has no stable revision on this lattice`);
    wanted = stable.version;
  }
  const record = await store.get('cutover', keys.revision(app, wanted));
  if (record === null) throw new CutoverError('rollout.notFound', `revision "${wanted}" of "${app}" is not stored`);
  return revisions.load(app, wanted, false);
}
