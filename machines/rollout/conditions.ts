// A rollout's conditions as records (docs/rollout-semantics.md, "Conditions"): setting one that holds, and clearing one that
// stopped holding (it stays, with status false and the instant it cleared). Pure list functions the machine's
// assigns and the status view use; they must not read clocks or the store: every instant is passed in.
import type { Condition } from '../../src/protocol/rollout';

/** Most conditions a rollout keeps (its snapshot stays small); the oldest cleared ones go first. */
export const MAX_CONDITIONS = 16;
/** Most hosts a condition names (the message says how many more). */
export const MAX_CONDITION_HOSTS = 8;

const trim = (list: Condition[]): Condition[] => {
  while (list.length > MAX_CONDITIONS) {
    const i = list.findIndex((c) => !c.status);
    list.splice(i === -1 ? 0 : i, 1);
  }
  return list;
};

/**
 * `list` with `record` set: it replaces a condition of the same type. A condition that already holds
 * keeps its `since` (it has held since then) and the hosts it named; its message is the new one.
 * @example
 * setCondition([], { type: 'HostLost', status: true, reason: 'hostLost', message: 'h3 lost', since: 5, hosts: ['h3'] })
 */
export function setCondition(list: readonly Condition[], record: Condition): Condition[] {
  const before = list.find((c) => c.type === record.type);
  const still = before?.status === true && record.status;
  const since = still ? before.since : record.since;
  // Hosts named while it holds stay named (a host lost in batch 2 is still gone after batch 3).
  const named =
    still && before.hosts !== undefined ? [...new Set([...before.hosts, ...(record.hosts ?? [])])] : record.hosts;
  const hosts = named === undefined ? undefined : named.slice(0, MAX_CONDITION_HOSTS);
  const next: Condition = { ...record, since, ...(hosts === undefined ? {} : { hosts }) };
  return trim([...list.filter((c) => c.type !== record.type), next]);
}

/** `list` with condition `type` no longer holding since `at` (kept with status false); unchanged when it does not hold. */
export function clearCondition(list: readonly Condition[], type: string, at: number, message?: string): Condition[] {
  return list.map((c) =>
    c.type === type && c.status ? { ...c, status: false, since: at, message: message ?? `${c.message} (cleared)` } : c,
  );
}

/** Whether condition `type` holds in `list`. */
export const holds = (list: readonly Condition[], type: string): boolean =>
  list.some((c) => c.type === type && c.status);

/** `list` with every condition of `more` set in turn (a batch of conditions an effect reports). */
export const setConditions = (list: readonly Condition[], more: readonly Condition[] | undefined): Condition[] =>
  (more ?? []).reduce<Condition[]>((acc, c) => setCondition(acc, c), [...list]);

/** Host ids as people read them in a message: `"h1", "h2" and 3 more`. */
export function namedHosts(hosts: readonly string[], total = hosts.length): string {
  const shown = hosts.slice(0, MAX_CONDITION_HOSTS).map((h) => `"${h}"`);
  const more = total - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}
