// wadm's own validation rules that look across a manifest, kept as data and small checks (after wadm's
// validation.rs): the interfaces a wasmCloud host knows, OAM label keys, manifest names and the `latest`
// version, component ids and their uniqueness, and secrets mapped to secret policies. Each check reports
// into the given {@link Findings}; none of them builds revision content (see `revision.ts`) or looks at
// link traits (see `links.ts`).
import type { z } from 'zod';
import { Id } from '../spec';
import type { Findings, PathPart } from './findings';
import { VERSION_ANNOTATION } from './revision';
import type { WadmManifest, WadmSecretProperty } from './schema';

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

const SECRET_POLICY_TYPE = 'policy.secret.wasmcloud.dev/v1alpha1';
const MANIFEST_NAME = /^[-\w]+$/;

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

/** True when `namespace:pkg/iface` is under a namespace wadm knows but is not in its table (a likely typo). */
export function unknownInterface(namespace: string, pkg: string, iface: string): boolean {
  const packages = (KNOWN_INTERFACES as Record<string, Record<string, readonly string[]>>)[namespace];
  if (packages === undefined) return false;
  const ifaces = packages[pkg];
  return ifaces === undefined || !ifaces.includes(iface);
}

/** Checks the manifest's name, its `version` annotation and its annotation and label keys. */
export function checkMetadata(manifest: WadmManifest, findings: Findings): void {
  const { issue } = findings;
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
}

/** Checks secrets found at `at` against the manifest's policies. */
export type SecretCheck = (
  secrets: readonly z.output<typeof WadmSecretProperty>[] | undefined,
  at: readonly PathPart[],
) => void;

/** A {@link SecretCheck}: every secret must name a secret policy of the manifest that has a `backend`. */
export function secretChecker(manifest: WadmManifest, findings: Findings): SecretCheck {
  const { issue } = findings;
  const policies = new Map((manifest.spec.policies ?? []).map((p) => [p.name, p]));
  return (secrets, at) => {
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
}

/** Where a component name resolves to: its first index in `spec.components` and its id. */
export interface ComponentRef {
  index: number;
  id: string;
}

/** Resolves every component name to its first index and id, reporting duplicate names and ids. */
export function resolveNames(manifest: WadmManifest, findings: Findings): Map<string, ComponentRef> {
  const app = manifest.metadata.name;
  const byName = new Map<string, ComponentRef>();
  const byId = new Map<string, number>();
  manifest.spec.components.forEach((c, ci) => {
    const base = ['spec', 'components', ci] as const;
    if (byName.has(c.name)) {
      findings.issue([...base, 'name'], `duplicate component name "${c.name}"`);
      return;
    }
    const id = wadmComponentId(app, c.name, c.properties.id);
    byName.set(c.name, { index: ci, id });
    const valid = Id.safeParse(id);
    if (c.properties.id === undefined && !valid.success)
      findings.issue([...base, 'name'], `component id "${id}" ${valid.error.issues[0]?.message ?? 'is invalid'}`);
    const other = byId.get(id);
    if (other !== undefined) {
      findings.issue(
        c.properties.id === undefined ? [...base, 'name'] : [...base, 'properties', 'id'],
        `duplicate component identifier "${id}" (also spec.components[${other}])`,
      );
    } else byId.set(id, ci);
  });
  return byName;
}
