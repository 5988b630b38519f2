// The wadm (OAM) document shape, after wadm-types' lib.rs (wadm 0.21), as zod schemas. Objects are strict
// where wadm uses `deny_unknown_fields`, and also where wadm would silently drop a misspelt key, because a
// dropped key is a config that never arrives. This file owns only the shape of the document: rules that
// look across it (names, links, policies) live in `rules.ts`, `components.ts` and `links.ts`, and it must
// not know about cutover's revision.
import { z } from 'zod';
import { Id } from '../spec';

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
