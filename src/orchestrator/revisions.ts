/**
 * App revisions as stored (`revision.<app>.<version>`): parsing a manifest into one, saving it once per
 * version (a version is immutable: other content under the same version is refused), loading it, and pinning
 * its image references to digests at plan time so a rollback is exact. It owns only revision records; it
 * must not touch rollouts, history, leases or hosts (pruning a revision is history's job).
 */
import { CutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { StateStore } from '../ports/store';
import { parseWith } from '../protocol/decode';
import { parseManifest } from '../protocol/manifest';
import { AppRevision, type AppRevisionInput, type ComponentSpec, type ProviderSpec } from '../protocol/spec';
import { RevisionRecord, keys } from './records';
import { placementOnly } from '../../machines/rollout/plan';

/** What {@link Revisions} works with. */
export interface RevisionsContext {
  store: StateStore;
  clock: Clock;
  /** Pins an image reference to a digest; without it revisions are stored as given. */
  resolveImage?: ((ref: string) => Promise<string | undefined>) | undefined;
}

/** A deploy's revision from manifest text or a revision object; `manifest.invalid` when it is not one. */
export function parseRevision(manifest: string | AppRevisionInput): AppRevision {
  return typeof manifest === 'string'
    ? parseManifest(manifest).revision
    : parseWith(AppRevision, manifest, 'manifest.invalid', 'revision');
}

/** Loads, saves and pins the stored revisions of every app. */
export class Revisions {
  constructor(private readonly o: RevisionsContext) {}

  /** The stored revision; with `pin`, its images are pinned to digests first (once, written back). */
  async load(app: string, version: string, pin: boolean): Promise<AppRevision> {
    const { store } = this.o;
    const e = await store.get('cutover', keys.revision(app, version));
    if (!e) throw new CutoverError('plan.invalid', `revision "${version}" of "${app}" is not stored`);
    const record = parseWith(RevisionRecord, e.value, 'snapshot.invalid', `revision "${version}" of "${app}"`);
    if (!pin || record.pinned || !this.o.resolveImage) return record.revision;
    const revision = await this.pin(record.revision);
    await store.put(
      'cutover',
      keys.revision(app, version),
      { ...record, revision, pinned: true },
      { expectedRevision: e.revision },
    );
    return revision;
  }

  /** Stores a new version; the same content again is a no-op, other content under a stored version is refused. */
  async save(revision: AppRevision): Promise<void> {
    const { store } = this.o;
    const key = keys.revision(revision.app, revision.version);
    const e = await store.get('cutover', key);
    if (e) {
      const old = RevisionRecord.safeParse(e.value);
      if (old.success && old.data.revision.contentHash !== revision.contentHash) {
        // Only instance counts or spreads changed: a placement change, not new content. The version keeps its
        // (pinned) specs and takes the new placement, so the same hashes are reconciled onto the new hosts.
        if (placementOnly(old.data.revision, revision)) {
          const scaleOf = new Map([...revision.components, ...revision.providers].map((w) => [w.name, w.scale]));
          const rescaled = <W extends { name: string; scale?: unknown }>(w: W): W => {
            const { scale: _old, ...rest } = w;
            const scale = scaleOf.get(w.name);
            return (scale === undefined ? rest : { ...rest, scale }) as W;
          };
          const next: AppRevision = {
            ...old.data.revision,
            contentHash: revision.contentHash,
            annotations: revision.annotations,
            components: old.data.revision.components.map(rescaled),
            providers: old.data.revision.providers.map(rescaled),
          };
          await store.put('cutover', key, { ...old.data, revision: next }, { expectedRevision: e.revision });
          return;
        }
        throw new CutoverError(
          'manifest.invalid',
          `version "${revision.version}" of "${revision.app}" was already deployed with different content: give the change a new version`,
        );
      }
      return;
    }
    const record: RevisionRecord = { schema: 1, revision, pinned: false, storedAt: this.o.clock.now() };
    await store.put('cutover', key, record);
  }

  private async pin(revision: AppRevision): Promise<AppRevision> {
    const resolve = this.o.resolveImage;
    if (!resolve) return revision;
    const pin = async <S extends ComponentSpec | ProviderSpec>(spec: S): Promise<S> => {
      if (spec.digest) return spec;
      const digest = await resolve(spec.imageRef);
      return digest ? { ...spec, digest } : spec;
    };
    return {
      ...revision,
      components: await Promise.all(revision.components.map(async (c) => ({ ...c, spec: await pin(c.spec) }))),
      providers: await Promise.all(revision.providers.map(async (p) => ({ ...p, spec: await pin(p.spec) }))),
    };
  }
}
