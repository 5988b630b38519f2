// The state one manifest's build shares across its parts, passed explicitly: the checked document, its
// findings, the component names resolved to ids, the secret check, and the annotations each component's
// spec collects for config and secret names cutover cannot carry (`cutover.dev/*-refs`). It owns that
// state's shape and creation only; it must not check or convert anything itself.
import type { Findings } from './findings';
import { type ComponentRef, type SecretCheck, resolveNames, secretChecker } from './rules';
import type { WadmManifest } from './schema';

/** What every part of one manifest's build reads and reports into. */
export interface BuildContext {
  /** The manifest's name, which is the revision's app. */
  readonly app: string;
  readonly manifest: WadmManifest;
  readonly findings: Findings;
  /** Component name → its first index and id (duplicates are already reported). */
  readonly byName: ReadonlyMap<string, ComponentRef>;
  readonly checkSecrets: SecretCheck;
  /** Appends `names` to the comma-separated annotation `key` of the component at index `ci`. */
  addRefs(ci: number, key: string, names: readonly string[]): void;
  /** The annotations collected for the component at index `ci` (a fresh copy). */
  annotationsOf(ci: number): Record<string, string>;
}

/** Starts a build: resolves names and ids (reporting duplicates) and prepares the secret check. */
export function createBuildContext(manifest: WadmManifest, findings: Findings): BuildContext {
  const specAnnotations = new Map<number, Record<string, string>>();
  return {
    app: manifest.metadata.name,
    manifest,
    findings,
    byName: resolveNames(manifest, findings),
    checkSecrets: secretChecker(manifest, findings),
    addRefs(ci, key, names) {
      if (names.length === 0) return;
      const ann = specAnnotations.get(ci) ?? {};
      ann[key] = [...(ann[key]?.split(',') ?? []), ...names].join(',');
      specAnnotations.set(ci, ann);
    },
    annotationsOf: (ci) => ({ ...specAnnotations.get(ci) }),
  };
}
