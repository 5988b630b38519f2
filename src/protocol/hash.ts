import { createHash } from 'node:crypto';
import { parseWith } from './decode';
import { ComponentSpec, type ComponentSpecInput, ProviderSpec, type ProviderSpecInput } from './spec';

/**
 * JSON with object keys sorted at every depth and `undefined` members left out, so equal values
 * always serialise to the same bytes whatever order their keys were written in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`cannot hash number ${value}`);
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
}

/** Lowercase hex sha256 of a string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Links sorted by identity, so the order a manifest lists them in never changes a hash. */
function sortedLinks<T extends { source: string; target: string; namespace: string; package: string; name: string }>(
  links: readonly T[],
): T[] {
  const key = (l: T) => `${l.source}\u0000${l.namespace}\u0000${l.package}\u0000${l.name}\u0000${l.target}`;
  return [...links].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * The identity of a spec: sha256 of its canonical JSON after defaults. Key order, link order,
 * interface order and default values never change it; any real change does.
 * @example
 * specHash({ id: 'api', app: 'shop', imageRef: 'file:///v1.wasm' }) // '3f1c…'
 */
export function specHash(
  spec: ComponentSpecInput | ProviderSpecInput,
  kind: 'component' | 'provider' = 'component',
): string {
  const parsed =
    kind === 'component'
      ? parseWith(ComponentSpec, spec, 'spec.invalid', 'component spec')
      : parseWith(ProviderSpec, spec, 'spec.invalid', 'provider spec');
  const normalised = {
    ...parsed,
    links: sortedLinks(parsed.links).map((l) => ({ ...l, interfaces: [...new Set(l.interfaces)].sort() })),
    secrets: [...parsed.secrets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  return sha256Hex(`${kind}:${canonicalJson(normalised)}`);
}
