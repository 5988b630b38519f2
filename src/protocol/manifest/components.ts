// Components and capability providers, from wadm's component entries to cutover's component and provider
// specs with their scale: `image` versus `application`, named configs (duplicates, pre-existing ones),
// secrets, and the traits (one scaler at most, link traits handed to {@link LinkDrafts}, anything else
// warned about and ignored). It owns the per-component rules and the specs' content; it must not resolve
// links itself nor attach them to specs (`links.ts`, `revision.ts`).
import type { AppRevision, ComponentSpec, ProviderSpec, Scale } from '../spec';
import type { BuildContext } from './context';
import type { PathPart } from './findings';
import type { LinkDrafts } from './links';
import { CONFIG_REFS_ANNOTATION, mergeConfigs, toSecretRefs } from './revision';
import type { WadmLinkProperty, WadmScalerProperty } from './schema';

const SCALER_KINDS = { spreadscaler: 'spread', daemonscaler: 'daemon' } as const;

/** Trait properties already checked against their schemas, keyed `componentIndex/traitIndex`. */
export interface CheckedTraits {
  links: ReadonlyMap<string, WadmLinkProperty>;
  scalers: ReadonlyMap<string, WadmScalerProperty>;
}

/** The components and providers of a revision, without links or annotations yet. */
export interface ReadComponents {
  components: AppRevision['components'];
  providers: AppRevision['providers'];
}

/** Reads every component entry in manifest order, drafting its link traits into `linkDrafts`. */
export function readComponents(ctx: BuildContext, traits: CheckedTraits, linkDrafts: LinkDrafts): ReadComponents {
  const { app, manifest, byName, checkSecrets, addRefs } = ctx;
  const { issue, warn } = ctx.findings;
  const { links, scalers } = traits;
  const components: AppRevision['components'] = [];
  const providers: AppRevision['providers'] = [];

  manifest.spec.components.forEach((c, ci) => {
    const base: PathPart[] = ['spec', 'components', ci];
    const props = c.properties;
    if (c.type === 'actor') warn([...base, 'type'], 'type "actor" is the old name of "component"');
    if (props.image !== undefined && props.application !== undefined) {
      issue([...base, 'properties'], "component cannot have both 'image' and 'application' properties");
    } else if (props.image === undefined && props.application === undefined) {
      issue([...base, 'properties', 'image'], "component must have either 'image' or 'application' property");
    } else if (props.application !== undefined) {
      issue(
        [...base, 'properties', 'application'],
        `shared component "${props.application.name}/${props.application.component}" is not supported: give an image`,
      );
    }
    const seen = new Set<string>();
    (props.config ?? []).forEach((cfg, j) => {
      if (seen.has(cfg.name))
        issue(
          [...base, 'properties', 'config', j, 'name'],
          `duplicate config name "${cfg.name}" in component "${c.name}"`,
        );
      seen.add(cfg.name);
      if (cfg.properties === undefined) {
        warn(
          [...base, 'properties', 'config', j],
          `config "${cfg.name}" has no properties: it refers to existing config that cannot be resolved here`,
        );
      }
    });
    checkSecrets(props.secrets, [...base, 'properties', 'secrets']);

    let scale: Scale | undefined;
    (c.traits ?? []).forEach((t, ti) => {
      const tpath: PathPart[] = [...base, 'traits', ti];
      if (t.type === 'spreadscaler' || t.type === 'daemonscaler') {
        const s = scalers.get(`${ci}/${ti}`);
        if (s === undefined) return;
        if (scale !== undefined) {
          issue([...tpath, 'type'], `component "${c.name}" has more than one scaler trait`);
          return;
        }
        scale = {
          kind: SCALER_KINDS[t.type],
          instances: s.instances ?? s.replicas ?? 0,
          spread: (s.spread ?? []).map((sp) => ({
            name: sp.name,
            requirements: sp.requirements ?? {},
            weight: sp.weight ?? 100,
          })),
        };
      } else if (t.type === 'link') {
        const l = links.get(`${ci}/${ti}`);
        if (l !== undefined) linkDrafts.draft(c.name, ci, tpath, l);
      } else {
        // wadm deserialises these as custom traits and no scaler acts on them (e.g. oam/custom.yaml).
        warn([...tpath, 'type'], `unsupported trait type "${t.type}" is ignored`);
      }
    });

    if (props.image === undefined || byName.get(c.name)?.index !== ci) return;
    const { values, refs } = mergeConfigs(props.config);
    addRefs(ci, CONFIG_REFS_ANNOTATION, refs);
    const common = {
      id: byName.get(c.name)?.id ?? c.name,
      app,
      imageRef: props.image,
      config: values,
      secrets: toSecretRefs(props.secrets),
    };
    if (c.type === 'capability') {
      const spec: ProviderSpec = { ...common, links: [], annotations: {} };
      providers.push(scale === undefined ? { name: c.name, spec } : { name: c.name, spec, scale });
    } else {
      // Per-host concurrency is for placement to decide; the manifest's instances live in `scale`.
      const spec: ComponentSpec = { ...common, links: [], maxInstances: 1, annotations: {} };
      components.push(scale === undefined ? { name: c.name, spec } : { name: c.name, spec, scale });
    }
  });
  return { components, providers };
}
