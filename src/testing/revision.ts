// A short way to write an AppRevision in a test, straight from the protocol modules (light to import: a
// mutation run of plan.ts re-imports little per mutant through test/fixtures/builders.ts).
import { canonicalJson, sha256Hex } from '../protocol/hash';
import { AppRevision, type LinkSpecInput, type Scale } from '../protocol/spec';

/** One component or provider of a {@link RevisionDraft}: its id doubles as its name. */
export interface WorkloadDraft {
  id: string;
  image: string;
  config?: Record<string, string>;
  scale?: Partial<Scale> & { instances: number };
}

/** What {@link testRevision} needs: a version and the workloads; app defaults to `shop`. */
export interface RevisionDraft {
  app?: string;
  version: string;
  components?: WorkloadDraft[];
  providers?: WorkloadDraft[];
  links?: LinkSpecInput[];
}

/**
 * An AppRevision from a short draft: ids double as names; links are attached to both ends' specs.
 * @example
 * const v2 = testRevision({ version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
 */
export function testRevision(draft: RevisionDraft): AppRevision {
  const app = draft.app ?? 'shop';
  const links = (draft.links ?? []).map((l) => ({ name: 'default', sourceConfig: {}, targetConfig: {}, ...l }));
  const linksOf = (id: string) => [
    ...links.filter((l) => l.source === id).map((l) => ({ ...l, direction: 'outgoing' as const })),
    ...links.filter((l) => l.target === id).map((l) => ({ ...l, direction: 'incoming' as const })),
  ];
  const workload = (w: WorkloadDraft) => {
    const scale = w.scale && {
      kind: w.scale.kind ?? 'spread',
      instances: w.scale.instances,
      spread: w.scale.spread ?? [],
    };
    return {
      name: w.id,
      spec: { id: w.id, app, imageRef: w.image, config: w.config ?? {}, links: linksOf(w.id) },
      ...(scale ? { scale } : {}),
    };
  };
  const body = {
    app,
    components: (draft.components ?? []).map(workload),
    providers: (draft.providers ?? []).map(workload),
    links,
  };
  return AppRevision.parse({ ...body, version: draft.version, contentHash: sha256Hex(canonicalJson(body)) });
}
