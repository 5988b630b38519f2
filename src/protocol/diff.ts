import { canonicalJson } from './hash';
import { type AppRevision, type ConfigValues, type LinkSpec, linkKey } from './spec';

/** Keys added, removed and changed between two string maps (config values, annotations), each sorted. */
export interface KeyChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** A spec field a component or provider change can touch. */
export type SpecField =
  | 'id'
  | 'imageRef'
  | 'digest'
  | 'config'
  | 'secrets'
  | 'links'
  | 'scale'
  | 'maxInstances'
  | 'annotations';

/** One component or provider (matched by manifest name) present in both revisions with different content. */
export interface EntityChange {
  name: string;
  id: string;
  /** Which fields differ, sorted. `links` means a link it is source or target of was added, removed or changed. */
  fields: SpecField[];
  imageRef?: { from: string; to: string };
  config?: KeyChanges;
  /** Link keys (see `linkKey`) this entity takes part in that were added, removed or changed. */
  links?: KeyChanges;
}

/** Added and removed entries (name and id) plus changed ones, each sorted by name. */
export interface EntityDiff {
  added: { name: string; id: string }[];
  removed: { name: string; id: string }[];
  changed: EntityChange[];
}

/** A link field a link change can touch. */
export type LinkField = 'target' | 'interfaces' | 'sourceConfig' | 'targetConfig';

/** One link (same `linkKey`) present in both revisions with different content. */
export interface LinkChange {
  key: string;
  from: LinkSpec;
  to: LinkSpec;
  fields: LinkField[];
  sourceConfig?: KeyChanges;
  targetConfig?: KeyChanges;
}

/** Where a config value lives: a component's or provider's config, or one side of a link. */
export type ConfigScope = 'component' | 'provider' | 'link.source' | 'link.target';

/** One config key that changed on an owner present in both revisions. */
export interface ConfigValueChange {
  scope: ConfigScope;
  /** Manifest name of the component or provider, or the link key. */
  owner: string;
  key: string;
  from?: string;
  to?: string;
}

/** What {@link diffRevisions} returns; every list is in a deterministic order. */
export interface RevisionDiff {
  app: { from: string; to: string };
  version: { from: string; to: string };
  components: EntityDiff;
  providers: EntityDiff;
  links: { added: LinkSpec[]; removed: LinkSpec[]; changed: LinkChange[] };
  /** Config key changes on owners kept by both revisions (added and removed owners are listed above). */
  config: { added: ConfigValueChange[]; removed: ConfigValueChange[]; changed: ConfigValueChange[] };
  annotations: KeyChanges;
  /** True when nothing but the version differs. */
  empty: boolean;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

function keyChanges(from: Readonly<Record<string, string>>, to: Readonly<Record<string, string>>): KeyChanges {
  const added = Object.keys(to)
    .filter((k) => !Object.hasOwn(from, k))
    .sort(compare);
  const removed = Object.keys(from)
    .filter((k) => !Object.hasOwn(to, k))
    .sort(compare);
  const changed = Object.keys(to)
    .filter((k) => Object.hasOwn(from, k) && from[k] !== to[k])
    .sort(compare);
  return { added, removed, changed };
}

const hasChanges = (k: KeyChanges) => k.added.length + k.removed.length + k.changed.length > 0;

function linkContent(l: LinkSpec) {
  return { ...l, interfaces: [...new Set(l.interfaces)].sort() };
}

type Entry = AppRevision['components'][number] | AppRevision['providers'][number];

function diffEntities(
  from: readonly Entry[],
  to: readonly Entry[],
  scope: 'component' | 'provider',
  linkChanges: ReadonlySet<string>,
  config: RevisionDiff['config'],
): EntityDiff {
  const before = new Map(from.map((e) => [e.name, e]));
  const after = new Map(to.map((e) => [e.name, e]));
  const pick = (e: Entry) => ({ name: e.name, id: e.spec.id });
  const out: EntityDiff = {
    added: to
      .filter((e) => !before.has(e.name))
      .map(pick)
      .sort((a, b) => compare(a.name, b.name)),
    removed: from
      .filter((e) => !after.has(e.name))
      .map(pick)
      .sort((a, b) => compare(a.name, b.name)),
    changed: [],
  };
  for (const name of [...after.keys()].filter((n) => before.has(n)).sort(compare)) {
    const a = before.get(name) as Entry;
    const b = after.get(name) as Entry;
    const fields: SpecField[] = [];
    const change: EntityChange = { name, id: b.spec.id, fields };
    if (a.spec.id !== b.spec.id) fields.push('id');
    if (a.spec.imageRef !== b.spec.imageRef) {
      fields.push('imageRef');
      change.imageRef = { from: a.spec.imageRef, to: b.spec.imageRef };
    }
    if (a.spec.digest !== b.spec.digest) fields.push('digest');
    const cfg = keyChanges(a.spec.config, b.spec.config);
    if (hasChanges(cfg)) {
      fields.push('config');
      change.config = cfg;
      recordConfig(config, scope, name, a.spec.config, b.spec.config, cfg);
    }
    if (!same(a.spec.secrets, b.spec.secrets)) fields.push('secrets');
    const keysA = new Set(a.spec.links.map((l) => linkKey(l)));
    const keysB = new Set(b.spec.links.map((l) => linkKey(l)));
    const links: KeyChanges = {
      added: [...keysB].filter((k) => !keysA.has(k)).sort(compare),
      removed: [...keysA].filter((k) => !keysB.has(k)).sort(compare),
      changed: [...keysB].filter((k) => keysA.has(k) && linkChanges.has(k)).sort(compare),
    };
    if (hasChanges(links)) {
      fields.push('links');
      change.links = links;
    }
    if (!same(a.scale, b.scale)) fields.push('scale');
    const maxA = 'maxInstances' in a.spec ? a.spec.maxInstances : undefined;
    const maxB = 'maxInstances' in b.spec ? b.spec.maxInstances : undefined;
    if (maxA !== maxB) fields.push('maxInstances');
    if (!same(a.spec.annotations, b.spec.annotations)) fields.push('annotations');
    if (fields.length > 0) {
      fields.sort(compare);
      out.changed.push(change);
    }
  }
  return out;
}

function recordConfig(
  config: RevisionDiff['config'],
  scope: ConfigScope,
  owner: string,
  from: ConfigValues,
  to: ConfigValues,
  keys: KeyChanges,
): void {
  for (const key of keys.added) config.added.push({ scope, owner, key, to: to[key] as string });
  for (const key of keys.removed) config.removed.push({ scope, owner, key, from: from[key] as string });
  for (const key of keys.changed)
    config.changed.push({ scope, owner, key, from: from[key] as string, to: to[key] as string });
}

/**
 * What changes from one revision of an app to another: components and providers (matched by manifest
 * name), links (matched by `linkKey`), config keys and annotations. Pure; same inputs, same output.
 * @example
 * const d = diffRevisions(stable, next); d.components.changed.map((c) => `${c.name}: ${c.fields.join(',')}`)
 */
export function diffRevisions(from: AppRevision, to: AppRevision): RevisionDiff {
  const config: RevisionDiff['config'] = { added: [], removed: [], changed: [] };
  const before = new Map(from.links.map((l) => [linkKey(l), l]));
  const after = new Map(to.links.map((l) => [linkKey(l), l]));
  const links: RevisionDiff['links'] = {
    added: [...after]
      .filter(([k]) => !before.has(k))
      .sort(([a], [b]) => compare(a, b))
      .map(([, l]) => l),
    removed: [...before]
      .filter(([k]) => !after.has(k))
      .sort(([a], [b]) => compare(a, b))
      .map(([, l]) => l),
    changed: [],
  };
  const linkConfig: [ConfigScope, string, ConfigValues, ConfigValues, KeyChanges][] = [];
  for (const key of [...after.keys()].filter((k) => before.has(k)).sort(compare)) {
    const a = before.get(key) as LinkSpec;
    const b = after.get(key) as LinkSpec;
    if (same(linkContent(a), linkContent(b))) continue;
    const change: LinkChange = { key, from: a, to: b, fields: [] };
    if (a.target !== b.target) change.fields.push('target');
    if (!same(linkContent(a).interfaces, linkContent(b).interfaces)) change.fields.push('interfaces');
    const src = keyChanges(a.sourceConfig, b.sourceConfig);
    if (hasChanges(src)) {
      change.fields.push('sourceConfig');
      change.sourceConfig = src;
      linkConfig.push(['link.source', key, a.sourceConfig, b.sourceConfig, src]);
    }
    const tgt = keyChanges(a.targetConfig, b.targetConfig);
    if (hasChanges(tgt)) {
      change.fields.push('targetConfig');
      change.targetConfig = tgt;
      linkConfig.push(['link.target', key, a.targetConfig, b.targetConfig, tgt]);
    }
    links.changed.push(change);
  }
  const changedLinks = new Set(links.changed.map((c) => c.key));
  const components = diffEntities(from.components, to.components, 'component', changedLinks, config);
  const providers = diffEntities(from.providers, to.providers, 'provider', changedLinks, config);
  for (const args of linkConfig) recordConfig(config, ...args);
  const annotations = keyChanges(
    Object.fromEntries(Object.entries(from.annotations).filter(([k]) => k !== 'version')),
    Object.fromEntries(Object.entries(to.annotations).filter(([k]) => k !== 'version')),
  );
  const empty =
    from.app === to.app &&
    [components, providers, links].every((d) => d.added.length + d.removed.length + d.changed.length === 0) &&
    !hasChanges(annotations) &&
    same(from.policies, to.policies);
  return {
    app: { from: from.app, to: to.app },
    version: { from: from.version, to: to.version },
    components,
    providers,
    links,
    config,
    annotations,
    empty,
  };
}
