import { z } from 'zod';

/** Longest id or name on the wire: well inside a subject's and a KV key's limits wherever it is used. */
export const ID_MAX_LENGTH = 128;

/**
 * Identifiers — component, provider, app, host and rollout ids, and every name that becomes a subject token
 * or a KV key: 1–128 characters, letters, digits, `_` and `-`, starting with a letter or digit. One rule, so an
 * id that validates can always be served (a `.` would split a subject token; `:` is not a valid KV key).
 * wadm's generated ids (`{app}-{name}`, lowercased, other characters as `_`) always fit it.
 */
export const Id = z
  .string()
  .min(1, 'must not be empty')
  .max(ID_MAX_LENGTH, `must be at most ${ID_MAX_LENGTH} characters`)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'must start with a letter or digit and use only letters, digits, _ and -');

/** A revision's version: free text (`v1.2.3`, a content hash), bounded; stored under an encoded KV key. */
export const Version = z
  .string()
  .min(1, 'must not be empty')
  .max(ID_MAX_LENGTH, `must be at most ${ID_MAX_LENGTH} characters`);

/** `sha256:<64 hex>`: how images are pinned, so a rollback is exact. */
export const Digest = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" followed by 64 lowercase hex digits');
export type Digest = z.infer<typeof Digest>;

/** Resolved config values: names and values, already merged from named configs. */
export const ConfigValues = z.record(z.string(), z.string());
export type ConfigValues = z.infer<typeof ConfigValues>;

/** A secret reference: its name and where a secrets backend finds it, never its value. */
export const SecretRef = z.strictObject({
  name: z.string().min(1),
  policy: z.string().min(1),
  key: z.string().min(1),
  field: z.string().optional(),
  version: z.string().optional(),
});
export type SecretRef = z.infer<typeof SecretRef>;

/**
 * A link between a source (component or provider) and a target, as wadm and wasmCloud define it.
 * Identity is (source, namespace, package, name); interfaces and configs are its content.
 */
export const LinkSpec = z.strictObject({
  source: Id,
  target: Id,
  namespace: z.string().min(1),
  package: z.string().min(1),
  interfaces: z.array(z.string().min(1)).min(1, 'a link needs at least one interface'),
  name: z.string().min(1).default('default'),
  sourceConfig: ConfigValues.default({}),
  targetConfig: ConfigValues.default({}),
});
export type LinkSpec = z.output<typeof LinkSpec>;
export type LinkSpecInput = z.input<typeof LinkSpec>;

/** A link as one end of it sees it: `outgoing` when the owner is the source. */
export const DirectedLink = LinkSpec.extend({ direction: z.enum(['outgoing', 'incoming']) });
export type DirectedLink = z.output<typeof DirectedLink>;

/** The full desired spec of one component on one host: the whole of `component.apply`. */
export const ComponentSpec = z.strictObject({
  id: Id,
  app: Id,
  imageRef: z.string().min(1, 'image reference must not be empty'),
  digest: Digest.optional(),
  config: ConfigValues.default({}),
  secrets: z.array(SecretRef).default([]),
  links: z.array(DirectedLink).default([]),
  maxInstances: z.number().int().min(1).default(1),
  annotations: z.record(z.string(), z.string()).default({}),
});
export type ComponentSpec = z.output<typeof ComponentSpec>;
export type ComponentSpecInput = z.input<typeof ComponentSpec>;

/** The full desired spec of one capability provider on one host: the whole of `provider.apply`. */
export const ProviderSpec = z.strictObject({
  id: Id,
  app: Id,
  imageRef: z.string().min(1, 'image reference must not be empty'),
  digest: Digest.optional(),
  config: ConfigValues.default({}),
  secrets: z.array(SecretRef).default([]),
  links: z.array(DirectedLink).default([]),
  annotations: z.record(z.string(), z.string()).default({}),
});
export type ProviderSpec = z.output<typeof ProviderSpec>;
export type ProviderSpecInput = z.input<typeof ProviderSpec>;

/** One spread of a scaler: hosts whose labels match `requirements` get `weight` of the instances. */
export const Spread = z.strictObject({
  name: z.string().min(1),
  requirements: z.record(z.string(), z.string()).default({}),
  weight: z.number().int().min(0).default(100),
});
export type Spread = z.output<typeof Spread>;

/** How many of a workload run where: wadm's spreadscaler (total) or daemonscaler (per matching host). */
export const Scale = z.strictObject({
  kind: z.enum(['spread', 'daemon']),
  instances: z.number().int().min(0),
  spread: z.array(Spread).default([]),
});
export type Scale = z.output<typeof Scale>;

/** A revision of an app: everything one deploy wants to be true. */
export const AppRevision = z.strictObject({
  schema: z.literal(1).default(1),
  app: Id,
  version: Version,
  /** sha256 (hex) of the canonical revision content, version excluded. */
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  components: z.array(z.strictObject({ name: z.string().min(1), spec: ComponentSpec, scale: Scale.optional() })),
  providers: z.array(z.strictObject({ name: z.string().min(1), spec: ProviderSpec, scale: Scale.optional() })),
  links: z.array(LinkSpec),
  annotations: z.record(z.string(), z.string()).default({}),
  policies: z
    .array(z.strictObject({ name: z.string(), type: z.string(), properties: z.record(z.string(), z.unknown()) }))
    .default([]),
});
export type AppRevision = z.output<typeof AppRevision>;
export type AppRevisionInput = z.input<typeof AppRevision>;
export type RevisionComponent = AppRevision['components'][number];
export type RevisionProvider = AppRevision['providers'][number];

/** Stable identity of a link, independent of interfaces and config. */
export function linkKey(link: Pick<LinkSpec, 'source' | 'namespace' | 'package' | 'name'>): string {
  return `${link.source}/${link.namespace}:${link.package}/${link.name}`;
}
