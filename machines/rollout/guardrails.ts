import { CutoverError } from '../../src/errors';
import { type AppRevision, type LinkSpec, linkKey } from '../../src/protocol/spec';
import type { OnConflict } from '../../src/protocol/strategies';

/** A component or provider as guardrails see it: what it binds through its config and its links. */
export interface GuardrailWorkload {
  id: string;
  /** Only a provider binds addresses from its own config; default `component`. */
  kind?: 'component' | 'provider' | undefined;
  /** Image and digest: with the config, what makes a new instance (links alone are changed in place). */
  imageRef?: string | undefined;
  digest?: string | undefined;
  config?: Readonly<Record<string, string>> | undefined;
  /** Links of either direction; a link listed by both of its ends counts once. */
  links?: readonly LinkSpec[] | undefined;
}

/** One host: what it serves now (`from`) and what the plan puts there (`to`). */
export interface GuardrailHost {
  hostId: string;
  from: readonly GuardrailWorkload[];
  to: readonly GuardrailWorkload[];
}

/**
 * How the two versions share a host: `inPlace` (the host's apply releases old links under the gate
 * before it puts new ones) or `standby` (blue-green: the old version keeps everything until promotion).
 */
export type Coexistence = 'inPlace' | 'standby';

/** Everything {@link findGuardrails} checks. */
export interface GuardrailInput {
  fromVersion: string;
  toVersion: string;
  coexistence: Coexistence;
  hosts: readonly GuardrailHost[];
}

/** A put that must wait for `heldBy` to be deleted, so it runs as a swap under the gate, not in `linking`. */
export interface SwapFinding {
  kind: 'swap';
  /** Key of the new link (see `linkKey`). */
  link: string;
  change: 'added' | 'changed';
  /** Key of the old link that holds the resource until it is deleted. */
  heldBy: string;
  resource: string;
  hosts: string[];
}

/** Two versions (or two parts of one) need the same exclusive resource on a host at the same time. */
export interface ConflictFinding {
  kind: 'conflict';
  resource: string;
  /** What the new version needs it for, e.g. `link "http/wasi:http/default"`. */
  wantedBy: string;
  /** What holds it meanwhile. */
  heldBy: string;
  fromVersion: string;
  toVersion: string;
  hosts: string[];
}

export type GuardrailFinding = SwapFinding | ConflictFinding;

/** What to do with a plan after its guardrails were checked. */
export type GuardrailDecision =
  | { strategy: 'asPlanned'; swaps: SwapFinding[] }
  | { strategy: 'rolling'; swaps: SwapFinding[]; conflicts: ConflictFinding[]; reason: string };

/** A listening address: `wildcard` for 0.0.0.0, :: or no host. */
export interface ListenAddress {
  host: string;
  port: number;
  wildcard: boolean;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '*']);
const ADDRESS_KEY = /(^|[-_.])(address|addr|listen|bind)$/i;
const PORT_KEY = /(^|[-_.])port$/i;

/**
 * Parses a listening address (`0.0.0.0:8080`, `:8080`, `[::1]:80`, `http://localhost:8080/`, `8080`);
 * undefined for something else or port 0, which never collides.
 */
export function normalizeAddress(value: string): ListenAddress | undefined {
  let v = value.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  v = v.replace(/\/.*$/, '');
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\]:(\d+)$/.exec(v);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2] ?? '';
  } else if (/^\d+$/.test(v)) {
    host = '';
    portText = v;
  } else {
    const i = v.lastIndexOf(':');
    if (i === -1 || v.indexOf(':') !== i) return undefined;
    host = v.slice(0, i);
    portText = v.slice(i + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port === 0 || port > 65535) return undefined;
  host = host.toLowerCase();
  if (host === 'localhost') host = '127.0.0.1';
  const wildcard = WILDCARDS.has(host);
  return { host: wildcard ? '0.0.0.0' : host, port, wildcard };
}

/** True when two listening addresses cannot both be bound: same port and a shared or wildcard host. */
export function addressesConflict(a: ListenAddress, b: ListenAddress): boolean {
  return a.port === b.port && (a.wildcard || b.wildcard || a.host === b.host);
}

function formatAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The exclusive addresses a config asks for (`address`, `port` and their `*_address` / `*-port` kin). */
export function configAddresses(config: Readonly<Record<string, string>>): ListenAddress[] {
  const out: ListenAddress[] = [];
  for (const [key, value] of Object.entries(config)) {
    const parsed = ADDRESS_KEY.test(key)
      ? normalizeAddress(value)
      : PORT_KEY.test(key) && /^\d+$/.test(value.trim())
        ? normalizeAddress(value.trim())
        : undefined;
    if (parsed) out.push(parsed);
  }
  return out;
}

function stable(value: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(Object.entries(value ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function linkFingerprint(l: LinkSpec): string {
  return JSON.stringify([l.target, [...l.interfaces].sort(), stable(l.sourceConfig), stable(l.targetConfig)]);
}

interface Holder {
  key: string;
  kind: 'link' | 'workload';
  fingerprint: string;
  addresses: ListenAddress[];
}

function holders(workloads: readonly GuardrailWorkload[]): Map<string, Holder> {
  const out = new Map<string, Holder>();
  for (const w of workloads) {
    const key = `workload:${w.id}`;
    if (!out.has(key)) {
      out.set(key, {
        key,
        kind: 'workload',
        fingerprint: JSON.stringify([w.imageRef ?? '', w.digest ?? '', stable(w.config)]),
        addresses: w.kind === 'provider' ? configAddresses(w.config ?? {}) : [],
      });
    }
    for (const l of w.links ?? []) {
      const k = linkKey(l);
      if (out.has(k)) continue;
      out.set(k, {
        key: k,
        kind: 'link',
        fingerprint: linkFingerprint(l),
        addresses: [...configAddresses(l.sourceConfig), ...configAddresses(l.targetConfig)],
      });
    }
  }
  return out;
}

function describeHolder(h: Holder): string {
  return h.kind === 'link' ? `link "${h.key}"` : `workload "${h.key.slice('workload:'.length)}"`;
}

type Pending = Omit<SwapFinding, 'hosts'> | Omit<ConflictFinding, 'hosts'>;

function findOnHost(host: GuardrailHost, input: GuardrailInput): Pending[] {
  const before = holders(host.from);
  const after = holders(host.to);
  const out: Pending[] = [];
  // A blue-green standby of a changed provider binds every link of that provider again, changed or not.
  const rebinding = new Set<string>();
  if (input.coexistence === 'standby') {
    const old = new Map(host.from.map((w) => [w.id, w]));
    for (const w of host.to) {
      const prev = old.get(w.id);
      if (w.kind !== 'provider' || prev === undefined) continue;
      if (holders([w]).get(`workload:${w.id}`)?.fingerprint !== holders([prev]).get(`workload:${w.id}`)?.fingerprint) {
        for (const l of w.links ?? []) rebinding.add(linkKey(l));
      }
    }
  }
  // Held in the same form before and after: the host does not acquire it again.
  const kept = (h: Holder) =>
    before.get(h.key)?.fingerprint === h.fingerprint &&
    after.get(h.key)?.fingerprint === h.fingerprint &&
    !rebinding.has(h.key);
  const conflict = (resource: ListenAddress, wanted: Holder, held: Holder, fromVersion: string): Pending => ({
    kind: 'conflict',
    resource: `address ${formatAddress(resource)}`,
    wantedBy: describeHolder(wanted),
    heldBy: describeHolder(held),
    fromVersion,
    toVersion: input.toVersion,
  });
  for (const wanted of after.values()) {
    if (kept(wanted)) continue;
    for (const addr of wanted.addresses) {
      for (const held of before.values()) {
        if (!held.addresses.some((a) => addressesConflict(a, addr))) continue;
        // A holder the new version keeps as it is clashes within the new version: reported below, once.
        if (held.key !== wanted.key && kept(held)) continue;
        const sameLink = held.key === wanted.key && held.kind === 'link';
        // A changed link is already deleted before its put.
        if (sameLink && input.coexistence === 'inPlace') continue;
        const heldUntilEnd = input.coexistence === 'standby' || held.kind === 'workload';
        if (!heldUntilEnd && wanted.kind === 'link') {
          out.push({
            kind: 'swap',
            link: wanted.key,
            change: before.has(wanted.key) ? 'changed' : 'added',
            heldBy: held.key,
            resource: `address ${formatAddress(addr)}`,
          });
        } else {
          out.push(conflict(addr, wanted, held, input.fromVersion));
        }
      }
      for (const other of after.values()) {
        if (other.key === wanted.key) continue;
        // Report a pair of new holders once, from the side that sorts first.
        if (!kept(other) && other.key < wanted.key) continue;
        if (other.addresses.some((a) => addressesConflict(a, addr))) {
          out.push(conflict(addr, wanted, other, input.toVersion));
        }
      }
    }
  }
  return out;
}

/**
 * Every place where the two versions would contend for an exclusive resource (a listening address) on
 * a host: puts that must become swaps under the gate, and conflicts no ordering resolves. Findings are
 * grouped across hosts.
 * @example
 * findGuardrails({ fromVersion: 'v1', toVersion: 'v2', coexistence: 'inPlace', hosts: [{ hostId: 'h1', from, to }] })
 */
export function findGuardrails(input: GuardrailInput): GuardrailFinding[] {
  const grouped = new Map<string, { finding: Pending; hosts: Set<string> }>();
  for (const host of input.hosts) {
    for (const finding of findOnHost(host, input)) {
      const id = JSON.stringify(finding);
      const entry = grouped.get(id) ?? { finding, hosts: new Set<string>() };
      entry.hosts.add(host.hostId);
      grouped.set(id, entry);
    }
  }
  const out = [...grouped.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { finding, hosts }]): GuardrailFinding => ({ ...finding, hosts: [...hosts].sort() }));
  return out;
}

function quoteHosts(hosts: readonly string[]): string {
  const shown = hosts.slice(0, 5).map((h) => `"${h}"`);
  return hosts.length > 5 ? `${shown.join(', ')} and ${hosts.length - 5} more` : shown.join(', ');
}

/** The sentence a conflict is reported with. */
export function describeConflict(c: ConflictFinding): string {
  const hosts = `on host${c.hosts.length === 1 ? '' : 's'} ${quoteHosts(c.hosts)}`;
  if (c.fromVersion === c.toVersion) {
    return `${c.resource} is needed by ${c.wantedBy} and ${c.heldBy} of "${c.toVersion}" at once ${hosts}`;
  }
  return `${c.resource} is held by "${c.fromVersion}" (${c.heldBy}) while "${c.toVersion}" (${c.wantedBy}) needs it ${hosts}`;
}

/** `plan.conflict` naming the resource, both versions and the hosts of every conflict. */
export function conflictError(conflicts: readonly ConflictFinding[], note = ''): CutoverError {
  const first = conflicts[0];
  if (first === undefined) return new CutoverError('plan.conflict', `plan conflict${note}`);
  const more = conflicts.length > 1 ? `; and ${conflicts.length - 1} more` : '';
  return new CutoverError('plan.conflict', `plan conflict: ${describeConflict(first)}${more}${note}`, {
    issues: conflicts.map((c) => ({ path: c.resource, message: describeConflict(c) })),
  });
}

/**
 * Checks a plan's guardrails: swaps to perform, or `plan.conflict`. With `onConflict: 'rolling'` a
 * blue-green plan whose conflicts an in-place rolling update avoids falls back to rolling instead.
 */
export function checkGuardrails(input: GuardrailInput, onConflict: OnConflict = 'fail'): GuardrailDecision {
  const findings = findGuardrails(input);
  const conflicts = findings.filter((f): f is ConflictFinding => f.kind === 'conflict');
  const swaps = findings.filter((f): f is SwapFinding => f.kind === 'swap');
  if (conflicts.length === 0) return { strategy: 'asPlanned', swaps };
  if (onConflict === 'fail') throw conflictError(conflicts);
  if (input.coexistence === 'inPlace') {
    throw conflictError(
      conflicts,
      ' (a rolling update upgrades in place too, so onConflict "rolling" cannot avoid it)',
    );
  }
  const inPlace = findGuardrails({ ...input, coexistence: 'inPlace' });
  const stillConflicting = inPlace.filter((f): f is ConflictFinding => f.kind === 'conflict');
  if (stillConflicting.length > 0) throw conflictError(stillConflicting, ' (also when upgraded in place)');
  return {
    strategy: 'rolling',
    swaps: inPlace.filter((f): f is SwapFinding => f.kind === 'swap'),
    conflicts,
    reason: `falling back to a rolling update: ${conflicts.map(describeConflict).join('; ')}`,
  };
}

/** The workloads of a revision with the given ids, as the guardrails see them. */
export function guardrailWorkloads(revision: AppRevision, ids: readonly string[]): GuardrailWorkload[] {
  const wanted = new Set(ids);
  return [
    ...revision.components
      .filter((c) => wanted.has(c.spec.id))
      .map((c) => ({
        id: c.spec.id,
        kind: 'component' as const,
        imageRef: c.spec.imageRef,
        digest: c.spec.digest,
        config: c.spec.config,
        links: c.spec.links,
      })),
    ...revision.providers
      .filter((p) => wanted.has(p.spec.id))
      .map((p) => ({
        id: p.spec.id,
        kind: 'provider' as const,
        imageRef: p.spec.imageRef,
        digest: p.spec.digest,
        config: p.spec.config,
        links: p.spec.links,
      })),
  ];
}
