// Link traits, from wadm's `LinkProperty` to cutover's {@link LinkSpec}s: each trait checked where it
// stands (its target and source exist, its interfaces are known, deprecated `*_config` forms, link config
// names unique across the manifest, link secrets) and drafted; then the drafts of one source merged by the
// host's link key. It owns the link rules and link config/secret annotations; it must not touch component
// specs (they get their links in `revision.ts`) nor scaler traits.
import type { z } from 'zod';
import { type LinkSpec, linkKey } from '../spec';
import type { BuildContext } from './context';
import { type PathPart, formatPath } from './findings';
import { LINK_CONFIG_REFS_ANNOTATION, LINK_SECRET_REFS_ANNOTATION, mergeConfigs } from './revision';
import { unknownInterface } from './rules';
import type { WadmLinkProperty, WadmSecretProperty } from './schema';

interface LinkDraft {
  link: LinkSpec;
  path: PathPart[];
  targetPath: PathPart[];
  targetName: string;
  sourceIndex: number;
}

/** The link traits of one manifest: drafted one by one as components are read, then merged once. */
export interface LinkDrafts {
  /** Checks the link trait at `tpath` of component `owner` (index `ci`) and drafts its link if it resolves. */
  draft(owner: string, ci: number, tpath: PathPart[], l: WadmLinkProperty): void;
  /** The drafted links merged by link key, reporting links that cannot coexist. */
  merge(): LinkSpec[];
}

/** Empty {@link LinkDrafts} for the build `ctx`. */
export function createLinkDrafts(ctx: BuildContext): LinkDrafts {
  const { byName, findings, addRefs, checkSecrets } = ctx;
  const { issue, warn } = findings;
  const drafts: LinkDraft[] = [];
  const linkConfigNames = new Map<string, string>();

  function draft(owner: string, ci: number, tpath: PathPart[], l: WadmLinkProperty): void {
    const ppath: PathPart[] = [...tpath, 'properties'];
    const targetName = typeof l.target === 'string' ? l.target : l.target.name;
    const targetPath: PathPart[] = typeof l.target === 'string' ? [...ppath, 'target'] : [...ppath, 'target', 'name'];
    const target = byName.get(targetName);
    if (target === undefined) {
      issue(
        targetPath,
        `link ${l.name === undefined ? '' : `"${l.name}" `}target "${targetName}" is not a component in the manifest`,
      );
    }
    if (l.source?.name !== undefined) {
      if (!byName.has(l.source.name))
        issue([...ppath, 'source', 'name'], `link source "${l.source.name}" is not a component in the manifest`);
      else if (l.source.name !== owner) {
        warn(
          [...ppath, 'source', 'name'],
          `link source "${l.source.name}" is ignored: the source is "${owner}", the component owning the trait`,
        );
      }
    }
    l.interfaces.forEach((iface, k) => {
      if (unknownInterface(l.namespace, l.package, iface)) {
        warn([...ppath, 'interfaces', k], `unrecognized interface [${l.namespace}:${l.package}/${iface}]`);
      }
    });
    if (l.source_config !== undefined) {
      warn(
        [...ppath, 'source_config'],
        l.source === undefined
          ? 'source_config is deprecated, use source.config'
          : 'source_config is deprecated and ignored because source is given',
      );
    }
    if (l.target_config !== undefined) {
      warn(
        [...ppath, 'target_config'],
        typeof l.target === 'string'
          ? 'target_config is deprecated, use target.config'
          : 'target_config is deprecated and ignored because target is an object',
      );
    }
    // wadm: a `source` block wins over `source_config`; `target_config` applies only to the string form.
    const sourceConfigs = l.source !== undefined ? (l.source.config ?? []) : (l.source_config ?? []);
    const sourceConfigPath: PathPart[] =
      l.source !== undefined ? [...ppath, 'source', 'config'] : [...ppath, 'source_config'];
    const targetConfigs = typeof l.target === 'string' ? (l.target_config ?? []) : (l.target.config ?? []);
    const targetConfigPath: PathPart[] =
      typeof l.target === 'string' ? [...ppath, 'target_config'] : [...ppath, 'target', 'config'];
    const refs: string[] = [];
    for (const [configs, at] of [
      [targetConfigs, targetConfigPath],
      [sourceConfigs, sourceConfigPath],
    ] as const) {
      configs.forEach((cfg, j) => {
        const other = linkConfigNames.get(cfg.name);
        if (other !== undefined) issue([...at, j, 'name'], `duplicate link config name "${cfg.name}" (also ${other})`);
        else linkConfigNames.set(cfg.name, formatPath([...at, j, 'name']));
        if (cfg.properties === undefined) {
          refs.push(cfg.name);
          warn(
            [...at, j],
            `link config "${cfg.name}" has no properties: it refers to existing config that cannot be resolved here`,
          );
        }
      });
    }
    addRefs(ci, LINK_CONFIG_REFS_ANNOTATION, refs);
    const secretsAt: [readonly z.output<typeof WadmSecretProperty>[] | undefined, PathPart[]][] = [
      [typeof l.target === 'string' ? undefined : l.target.secrets, [...ppath, 'target', 'secrets']],
      [l.source?.secrets, [...ppath, 'source', 'secrets']],
    ];
    for (const [secrets, at] of secretsAt) {
      checkSecrets(secrets, at);
      if ((secrets ?? []).length > 0) {
        warn(at, 'link secrets are not carried by cutover links yet; their names are kept in an annotation');
        addRefs(
          ci,
          LINK_SECRET_REFS_ANNOTATION,
          (secrets ?? []).map((s) => s.name),
        );
      }
    }
    const source = byName.get(owner);
    if (target === undefined || source === undefined || source.index !== ci) return;
    drafts.push({
      sourceIndex: ci,
      path: ppath,
      targetPath,
      targetName,
      link: {
        source: source.id,
        target: target.id,
        namespace: l.namespace,
        package: l.package,
        interfaces: [...l.interfaces],
        name: l.name ?? 'default',
        sourceConfig: mergeConfigs(sourceConfigs).values,
        targetConfig: mergeConfigs(targetConfigs).values,
      },
    });
  }

  // wadm forbids a second link from one source on the same name + namespace:package + interface. The host
  // keys a link by (source, namespace, package, name) alone, so links sharing that key to different
  // targets cannot coexist either; to the same target they are one link with the union of interfaces.
  function merge(): LinkSpec[] {
    const merged = new Map<string, LinkDraft>();
    for (const d of drafts) {
      const key = linkKey(d.link);
      const first = merged.get(key);
      if (first === undefined) {
        merged.set(key, { ...d, link: { ...d.link, interfaces: [...d.link.interfaces] } });
        continue;
      }
      const owner = ctx.manifest.spec.components[d.sourceIndex]?.name ?? d.link.source;
      const shared = d.link.interfaces.find((i) => first.link.interfaces.includes(i));
      const targets =
        first.link.target === d.link.target ? '' : ` (targets "${first.targetName}" and "${d.targetName}")`;
      if (shared !== undefined) {
        issue(
          [...d.path, 'interfaces', d.link.interfaces.indexOf(shared)],
          `duplicate link found inside component "${owner}": ${d.link.name} (${d.link.namespace}:${d.link.package}/${shared})${targets}`,
        );
      } else if (first.link.target !== d.link.target) {
        issue(
          d.targetPath,
          `links from "${owner}" on ${d.link.namespace}:${d.link.package} named "${d.link.name}" go to different targets${targets}: give them different link names`,
        );
      } else {
        first.link.interfaces.push(...d.link.interfaces);
        Object.assign(first.link.sourceConfig, d.link.sourceConfig);
        Object.assign(first.link.targetConfig, d.link.targetConfig);
      }
    }
    return [...merged.values()].map((d) => d.link);
  }

  return { draft, merge };
}
