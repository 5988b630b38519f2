import { parseDocument } from 'yaml';
import { z } from 'zod';
import { CutoverError, type Issue } from '../errors';
import { canonicalJson, sha256Hex, specHash } from './hash';
import {
  AppRevision,
  type ComponentSpec,
  type ConfigValues,
  type DirectedLink,
  Id,
  type LinkSpec,
  type ProviderSpec,
  type Scale,
  type SecretRef,
  linkKey,
} from './spec';

// ---------------------------------------------------------------------------------------------
// The wadm (OAM) document shape, after wadm-types' lib.rs (wadm 0.21). Objects are strict where
// wadm uses `deny_unknown_fields`, and also where wadm would silently drop a misspelt key, because a
// dropped key is a config that never arrives.

/** wadm's `ConfigProperty`: a named config; without `properties` it names config that already exists. */
export const WadmConfigProperty = z.strictObject({
  name: z.string().min(1),
  properties: z.record(z.string(), z.string()).optional(),
});

/** wadm's `SecretProperty`: a secret reference resolved through a secrets policy. */
export const WadmSecretProperty = z.strictObject({
  name: z.string().min(1),
  properties: z.strictObject({
    policy: z.string().min(1),
    key: z.string().min(1),
    field: z.string().optional(),
    version: z.string().optional(),
  }),
});

const WadmConfigDefinition = z.strictObject({
  // wadm ignores `source.name` (the owner is always the source); published examples still write it.
  name: z.string().min(1).optional(),
  config: z.array(WadmConfigProperty).optional(),
  secrets: z.array(WadmSecretProperty).optional(),
});

const WadmTargetConfig = z.strictObject({
  name: z.string().min(1),
  config: z.array(WadmConfigProperty).optional(),
  secrets: z.array(WadmSecretProperty).optional(),
});

/** wadm's `LinkProperty`, including the string `target:` form and the deprecated `*_config` fields. */
export const WadmLinkProperty = z.strictObject({
  namespace: z.string().min(1),
  package: z.string().min(1),
  interfaces: z.array(z.string().min(1)).min(1, 'a link needs at least one interface'),
  source: WadmConfigDefinition.optional(),
  target: z.union([z.string().min(1), WadmTargetConfig]),
  name: z.string().min(1).optional(),
  source_config: z.array(WadmConfigProperty).optional(),
  target_config: z.array(WadmConfigProperty).optional(),
});
export type WadmLinkProperty = z.output<typeof WadmLinkProperty>;

/** wadm's `SpreadScalerProperty` (spreadscaler and daemonscaler); `replicas` is an alias of `instances`. */
export const WadmScalerProperty = z
  .strictObject({
    instances: z.number().int().min(0).optional(),
    replicas: z.number().int().min(0).optional(),
    spread: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          requirements: z.record(z.string(), z.string()).optional(),
          weight: z.number().int().min(0).optional(),
        }),
      )
      .optional(),
  })
  .check((ctx) => {
    const { instances, replicas } = ctx.value;
    if (instances === undefined && replicas === undefined) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['instances'], message: 'instances is required' });
    } else if (instances !== undefined && replicas !== undefined) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['replicas'],
        message: 'replicas is an alias of instances: give only one',
      });
    }
  });
export type WadmScalerProperty = z.output<typeof WadmScalerProperty>;

const WadmTrait = z.strictObject({ type: z.string().min(1), properties: z.unknown() });

const WadmProperties = z.strictObject({
  image: z.string().min(1, 'image reference must not be empty').optional(),
  application: z.strictObject({ name: z.string().min(1), component: z.string().min(1) }).optional(),
  id: Id.optional(),
  config: z.array(WadmConfigProperty).optional(),
  secrets: z.array(WadmSecretProperty).optional(),
});

const WadmComponent = z.strictObject({
  name: z.string().min(1),
  // `actor` is wadm's older alias of `component`.
  type: z.enum(['component', 'actor', 'capability']),
  properties: WadmProperties,
  traits: z.array(WadmTrait).optional(),
});

/** The raw wadm `Application` document, traits' properties not yet checked (see {@link parseManifest}). */
export const WadmManifest = z.strictObject({
  apiVersion: z.literal('core.oam.dev/v1beta1'),
  kind: z.literal('Application'),
  metadata: z.strictObject({
    name: z.string().min(1),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.strictObject({
    components: z.array(WadmComponent),
    policies: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          type: z.string().min(1),
          properties: z.record(z.string(), z.string()).optional(),
        }),
      )
      .optional(),
  }),
});
export type WadmManifest = z.output<typeof WadmManifest>;

// ---------------------------------------------------------------------------------------------
// wadm's knowledge, kept as data.

// An unknown interface under a known namespace:package (or an unknown package under a known namespace)
// is probably a typo, so it is a warning; unknown namespaces are custom interfaces and pass silently.
/** wadm's table of interfaces the wasmCloud host knows (validation.rs `KNOWN_INTERFACE_LOOKUP`). */
export const KNOWN_INTERFACES = {
  wrpc: {
    blobstore: ['blobstore'],
    keyvalue: ['atomics', 'store'],
    http: ['incoming-handler', 'outgoing-handler'],
  },
  wasi: {
    blobstore: ['blobstore'],
    config: ['runtime'],
    keyvalue: ['atomics', 'store', 'batch', 'watch'],
    http: ['incoming-handler', 'outgoing-handler'],
    logging: ['logging'],
  },
  wasmcloud: { messaging: ['consumer', 'handler'] },
} as const satisfies Record<string, Record<string, readonly string[]>>;

/** Annotation on a spec listing the named configs it uses that have no properties (pre-existing config). */
export const CONFIG_REFS_ANNOTATION = 'cutover.dev/config-refs';
/** Annotation on a link's source spec listing pre-existing link configs (names are unique per manifest). */
export const LINK_CONFIG_REFS_ANNOTATION = 'cutover.dev/link-config-refs';
/** Annotation on a link's source spec listing link secret names (cutover does not carry link secrets yet). */
export const LINK_SECRET_REFS_ANNOTATION = 'cutover.dev/link-secret-refs';
/** How many hex digits of the content hash become the version of a manifest without a `version` annotation. */
export const CONTENT_VERSION_LENGTH = 12;

const VERSION_ANNOTATION = 'version';
const SECRET_POLICY_TYPE = 'policy.secret.wasmcloud.dev/v1alpha1';
const SCALER_KINDS = { spreadscaler: 'spread', daemonscaler: 'daemon' } as const;
const MANIFEST_NAME = /^[-\w]+$/;

/** What {@link parseManifest} returns: the revision and every warning (each `path: message`). */
export interface ParsedManifest {
  revision: AppRevision;
  warnings: string[];
}

type PathPart = string | number;

/** `['spec', 'components', 1, 'name']` → `spec.components[1].name`; odd keys are quoted in brackets. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out === '' ? '(root)' : out;
}

/** wadm's `compute_component_id`: lowercase, anything but ASCII letters and digits becomes `_`. */
export function wadmComponentId(app: string, name: string, id?: string): string {
  if (id !== undefined) return id;
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '_');
  return `${clean(app)}-${clean(name)}`;
}

// OAM label keys (wadm `valid_oam_label`): `[dns-subdomain/]name`.
function validLabelName(name: string): boolean {
  return name.length > 0 && name.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(name);
}
function validDnsSubdomain(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((p) => p.length > 0 && p.length <= 63 && /^[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(p));
}
function validOamLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return validLabelName(key);
  return validDnsSubdomain(key.slice(0, slash)) && validLabelName(key.slice(slash + 1));
}

function unknownInterface(namespace: string, pkg: string, iface: string): boolean {
  const packages = (KNOWN_INTERFACES as Record<string, Record<string, readonly string[]>>)[namespace];
  if (packages === undefined) return false;
  const ifaces = packages[pkg];
  return ifaces === undefined || !ifaces.includes(iface);
}

function fail(issues: Issue[]): never {
  const first = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length > 3 ? `; and ${issues.length - 3} more` : '';
  throw new CutoverError('manifest.invalid', `invalid manifest: ${first.join('; ')}${more}`, { issues });
}

function zodIssues(error: z.ZodError, prefix: readonly PathPart[]): Issue[] {
  return error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message.toLowerCase() }));
}

function readDocument(text: string): unknown {
  // JSON is YAML 1.2, so one parser takes both and reports positions for either.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    fail(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const where = pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `;
        const first = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').trim();
        return { path: '(root)', message: `${where}${first.toLowerCase() || 'yaml syntax error'}` };
      }),
    );
  }
  return doc.toJS({ maxAliasCount: 100 });
}

interface ConfigOutcome {
  values: ConfigValues;
  refs: string[];
}

function mergeConfigs(configs: readonly z.output<typeof WadmConfigProperty>[] | undefined): ConfigOutcome {
  const values: ConfigValues = {};
  const refs: string[] = [];
  // wadm folds named configs left to right, so a later config overrides an earlier key.
  for (const c of configs ?? []) {
    if (c.properties === undefined) refs.push(c.name);
    else Object.assign(values, c.properties);
  }
  return { values, refs };
}

function toSecretRefs(secrets: readonly z.output<typeof WadmSecretProperty>[] | undefined): SecretRef[] {
  return (secrets ?? []).map((s) => {
    const ref: SecretRef = { name: s.name, policy: s.properties.policy, key: s.properties.key };
    if (s.properties.field !== undefined) ref.field = s.properties.field;
    if (s.properties.version !== undefined) ref.version = s.properties.version;
    return ref;
  });
}

interface LinkDraft {
  link: LinkSpec;
  path: PathPart[];
  targetPath: PathPart[];
  targetName: string;
  sourceIndex: number;
}

/**
 * Reads a wadm (OAM) manifest — YAML or JSON — applying wadm's own validation rules, and maps it to
 * an {@link AppRevision}. Every problem found is reported at once as `manifest.invalid` with
 * `issues: { path, message }[]`; things wadm only warns about come back in `warnings`.
 * @example
 * const { revision, warnings } = parseManifest(readFileSync('wadm.yaml', 'utf8'));
 */
export function parseManifest(text: string): ParsedManifest {
  const raw = readDocument(text);
  const shape = WadmManifest.safeParse(raw);
  const issues: Issue[] = shape.success ? [] : zodIssues(shape.error, []);
  // Trait properties are checked even when the outer shape has problems, so one pass names them all.
  const links = new Map<string, WadmLinkProperty>();
  const scalers = new Map<string, WadmScalerProperty>();
  const rawComponents = (raw as { spec?: { components?: unknown } } | null)?.spec?.components;
  if (Array.isArray(rawComponents)) {
    rawComponents.forEach((c: unknown, ci) => {
      const traits = (c as { traits?: unknown } | null)?.traits;
      if (!Array.isArray(traits)) return;
      traits.forEach((t: unknown, ti) => {
        const type = (t as { type?: unknown } | null)?.type;
        const props = (t as { properties?: unknown } | null)?.properties;
        const path: PathPart[] = ['spec', 'components', ci, 'traits', ti, 'properties'];
        if (type === 'link') {
          const r = WadmLinkProperty.safeParse(props);
          if (r.success) links.set(`${ci}/${ti}`, r.data);
          else issues.push(...zodIssues(r.error, path));
        } else if (type === 'spreadscaler' || type === 'daemonscaler') {
          const r = WadmScalerProperty.safeParse(props);
          if (r.success) scalers.set(`${ci}/${ti}`, r.data);
          else issues.push(...zodIssues(r.error, path));
        }
      });
    });
  }
  if (!shape.success || issues.length > 0) fail(issues);
  return build(shape.data, links, scalers);
}

function build(
  manifest: WadmManifest,
  links: ReadonlyMap<string, WadmLinkProperty>,
  scalers: ReadonlyMap<string, WadmScalerProperty>,
): ParsedManifest {
  const issues: Issue[] = [];
  const warnings: string[] = [];
  const issue = (path: readonly PathPart[], message: string) => issues.push({ path: formatPath(path), message });
  const warn = (path: readonly PathPart[], message: string) => warnings.push(`${formatPath(path)}: ${message}`);

  const app = manifest.metadata.name;
  const annotations = manifest.metadata.annotations ?? {};
  if (!MANIFEST_NAME.test(app))
    issue(['metadata', 'name'], `manifest name "${app}" is not allowed (should match ${MANIFEST_NAME.source})`);
  else if (!Id.safeParse(app).success)
    issue(['metadata', 'name'], `manifest name "${app}" must start with a letter or digit`);
  if (annotations[VERSION_ANNOTATION] === 'latest') {
    issue(['metadata', 'annotations', VERSION_ANNOTATION], 'version "latest" is not allowed in wadm');
  }
  for (const [kind, map] of [
    ['annotations', annotations],
    ['labels', manifest.metadata.labels ?? {}],
  ] as const) {
    for (const key of Object.keys(map)) {
      if (!validOamLabel(key))
        issue(['metadata', kind, key], `invalid oam ${kind === 'labels' ? 'label' : 'annotation'} key "${key}"`);
    }
  }
  const policies = new Map((manifest.spec.policies ?? []).map((p) => [p.name, p]));
  const checkSecrets = (
    secrets: readonly z.output<typeof WadmSecretProperty>[] | undefined,
    at: readonly PathPart[],
  ) => {
    (secrets ?? []).forEach((s, si) => {
      const path = [...at, si, 'properties', 'policy'];
      const policy = policies.get(s.properties.policy);
      if (policy === undefined) issue(path, `secret "${s.name}" is mapped to unknown policy "${s.properties.policy}"`);
      else if (policy.type !== SECRET_POLICY_TYPE) {
        issue(
          path,
          `secret "${s.name}" is mapped to policy "${policy.name}" which is not a secret policy (type "${SECRET_POLICY_TYPE}")`,
        );
      } else if (!Object.hasOwn(policy.properties ?? {}, 'backend')) {
        issue(path, `secret "${s.name}" is mapped to policy "${policy.name}" which has no "backend" property`);
      }
    });
  };

  // Names and ids first: links resolve against them.
  const byName = new Map<string, { index: number; id: string }>();
  const byId = new Map<string, number>();
  manifest.spec.components.forEach((c, ci) => {
    const base = ['spec', 'components', ci] as const;
    if (byName.has(c.name)) {
      issue([...base, 'name'], `duplicate component name "${c.name}"`);
      return;
    }
    const id = wadmComponentId(app, c.name, c.properties.id);
    byName.set(c.name, { index: ci, id });
    const other = byId.get(id);
    if (other !== undefined) {
      issue(
        c.properties.id === undefined ? [...base, 'name'] : [...base, 'properties', 'id'],
        `duplicate component identifier "${id}" (also spec.components[${other}])`,
      );
    } else byId.set(id, ci);
  });

  const drafts: LinkDraft[] = [];
  const linkConfigNames = new Map<string, string>();
  const components: AppRevision['components'] = [];
  const providers: AppRevision['providers'] = [];
  const specAnnotations = new Map<number, Record<string, string>>();
  const addRefs = (ci: number, key: string, names: readonly string[]) => {
    if (names.length === 0) return;
    const ann = specAnnotations.get(ci) ?? {};
    ann[key] = [...(ann[key]?.split(',') ?? []), ...names].join(',');
    specAnnotations.set(ci, ann);
  };

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
        if (l !== undefined) linkDraft(c.name, ci, tpath, l);
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

  function linkDraft(owner: string, ci: number, tpath: PathPart[], l: WadmLinkProperty): void {
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
  const merged = new Map<string, LinkDraft>();
  for (const d of drafts) {
    const key = linkKey(d.link);
    const first = merged.get(key);
    if (first === undefined) {
      merged.set(key, { ...d, link: { ...d.link, interfaces: [...d.link.interfaces] } });
      continue;
    }
    const owner = manifest.spec.components[d.sourceIndex]?.name ?? d.link.source;
    const shared = d.link.interfaces.find((i) => first.link.interfaces.includes(i));
    const targets = first.link.target === d.link.target ? '' : ` (targets "${first.targetName}" and "${d.targetName}")`;
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
  if (issues.length > 0) fail(issues);

  const revisionLinks = [...merged.values()].map((d) => d.link);
  const specs = new Map<string, { links: DirectedLink[]; annotations: Record<string, string> }>();
  for (const entry of [...components, ...providers]) {
    const index = byName.get(entry.name)?.index;
    entry.spec.annotations = { ...(index === undefined ? {} : specAnnotations.get(index)) };
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
  return { revision: checked.data, warnings };
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
