// Conversion from wadm's terms to an {@link AppRevision}: named configs folded into values, secret
// references, the annotations cutover adds, the revision's content hash and version, and the final
// assembly (links attached to both ends' specs, the whole checked against `AppRevision`). It owns what a
// revision looks like when it comes from a manifest; it must not report manifest problems of its own,
// except a revision that fails `AppRevision`, which is a bug in the mapping rather than in the manifest.
import type { z } from 'zod';
import { canonicalJson, sha256Hex, specHash } from '../hash';
import { AppRevision, type ConfigValues, type DirectedLink, type LinkSpec, type SecretRef } from '../spec';
import type { BuildContext } from './context';
import { fail, zodIssues } from './findings';
import type { WadmConfigProperty, WadmSecretProperty } from './schema';

/** Annotation on a spec listing the named configs it uses that have no properties (pre-existing config). */
export const CONFIG_REFS_ANNOTATION = 'cutover.dev/config-refs';
/** Annotation on a link's source spec listing pre-existing link configs (names are unique per manifest). */
export const LINK_CONFIG_REFS_ANNOTATION = 'cutover.dev/link-config-refs';
/** Annotation on a link's source spec listing link secret names (cutover does not carry link secrets yet). */
export const LINK_SECRET_REFS_ANNOTATION = 'cutover.dev/link-secret-refs';
/** How many hex digits of the content hash become the version of a manifest without a `version` annotation. */
export const CONTENT_VERSION_LENGTH = 12;
/** The manifest annotation that gives a revision its version. */
export const VERSION_ANNOTATION = 'version';

/** Named configs folded into values, and the names of those without properties (pre-existing config). */
export interface ConfigOutcome {
  values: ConfigValues;
  refs: string[];
}

/** Folds wadm's named configs into one set of values, left to right, collecting pre-existing names. */
export function mergeConfigs(configs: readonly z.output<typeof WadmConfigProperty>[] | undefined): ConfigOutcome {
  const values: ConfigValues = {};
  const refs: string[] = [];
  // wadm folds named configs left to right, so a later config overrides an earlier key.
  for (const c of configs ?? []) {
    if (c.properties === undefined) refs.push(c.name);
    else Object.assign(values, c.properties);
  }
  return { values, refs };
}

/** wadm secret properties as cutover {@link SecretRef}s. */
export function toSecretRefs(secrets: readonly z.output<typeof WadmSecretProperty>[] | undefined): SecretRef[] {
  return (secrets ?? []).map((s) => {
    const ref: SecretRef = { name: s.name, policy: s.properties.policy, key: s.properties.key };
    if (s.properties.field !== undefined) ref.field = s.properties.field;
    if (s.properties.version !== undefined) ref.version = s.properties.version;
    return ref;
  });
}

/** Assembles the revision of a manifest found valid; fails only if the result does not pass `AppRevision`. */
export function assembleRevision(
  ctx: BuildContext,
  components: AppRevision['components'],
  providers: AppRevision['providers'],
  revisionLinks: LinkSpec[],
): AppRevision {
  const { app, manifest, byName } = ctx;
  const annotations = manifest.metadata.annotations ?? {};
  const specs = new Map<string, { links: DirectedLink[]; annotations: Record<string, string> }>();
  for (const entry of [...components, ...providers]) {
    const index = byName.get(entry.name)?.index;
    entry.spec.annotations = index === undefined ? {} : ctx.annotationsOf(index);
    specs.set(entry.spec.id, entry.spec);
  }
  for (const link of revisionLinks) {
    specs.get(link.source)?.links.push({ ...link, direction: 'outgoing' });
    specs.get(link.target)?.links.push({ ...link, direction: 'incoming' });
  }

  const revisionAnnotations = { ...annotations };
  const policyList = (manifest.spec.policies ?? []).map((p) => ({
    name: p.name,
    type: p.type,
    properties: { ...(p.properties ?? {}) },
  }));
  const contentHash = revisionContentHash({
    app,
    components,
    providers,
    links: revisionLinks,
    annotations: revisionAnnotations,
    policies: policyList,
  });
  const candidate = {
    schema: 1,
    app,
    version: annotations[VERSION_ANNOTATION] ?? contentHash.slice(0, CONTENT_VERSION_LENGTH),
    contentHash,
    components,
    providers,
    links: revisionLinks,
    annotations: revisionAnnotations,
    policies: policyList,
  };
  const checked = AppRevision.safeParse(candidate);
  if (!checked.success) fail(zodIssues(checked.error, ['(revision)']));
  return checked.data;
}

// Manifest order of components, providers and links never changes the hash: each is sorted first.
/** sha256 (hex) of a revision's canonical content, without its version or `version` annotation. */
export function revisionContentHash(
  revision: Pick<AppRevision, 'app' | 'components' | 'providers' | 'links' | 'annotations' | 'policies'>,
): string {
  const byName = <T extends { name: string }>(xs: readonly T[]) =>
    [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { [VERSION_ANNOTATION]: _version, ...annotations } = revision.annotations;
  const content = {
    app: revision.app,
    annotations,
    policies: byName(revision.policies),
    components: byName(revision.components).map((c) => ({
      name: c.name,
      scale: c.scale,
      spec: specHash(c.spec, 'component'),
    })),
    providers: byName(revision.providers).map((p) => ({
      name: p.name,
      scale: p.scale,
      spec: specHash(p.spec, 'provider'),
    })),
    links: revision.links.map((l) => canonicalJson({ ...l, interfaces: [...new Set(l.interfaces)].sort() })).sort(),
  };
  return sha256Hex(`revision:${canonicalJson(content)}`);
}
