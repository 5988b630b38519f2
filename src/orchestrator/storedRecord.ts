/**
 * Tolerant reads of the orchestrator's own records in bucket `cutover`: a record that is absent or does not
 * validate reads as null. It owns no state and never writes; a caller that must tell "absent" from
 * "invalid" (e.g. to report `snapshot.invalid`) reads the store itself.
 */
import type { StateStore } from '../ports/store';
import { AppRecord, RolloutRecord, keys } from './records';

/** Any schema with zod's `safeParse`. */
interface Schema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false };
}

/** The record at `key` of bucket `cutover` validated by `schema`, or null when absent or invalid. */
export async function readRecord<T>(store: StateStore, key: string, schema: Schema<T>): Promise<T | null> {
  const e = await store.get('cutover', key);
  if (!e) return null;
  const parsed = schema.safeParse(e.value);
  return parsed.success ? parsed.data : null;
}

/** The rollout the app's record names (its latest), or null. */
export async function lastRollout(store: StateStore, app: string): Promise<RolloutRecord | null> {
  const appRec = await readRecord(store, keys.app(app), AppRecord);
  if (!appRec) return null;
  return readRecord(store, keys.rollout(appRec.rolloutId), RolloutRecord);
}
