// Light builders for the planning tests: revisions, hosts, strategies and inventories straight from the
// protocol modules (the same shapes as test/fixtures/orchestrator.ts builds, without importing the
// lattice there), so a mutation run of plan.ts re-imports little per mutant.
import type { HostInfo } from '../../machines/rollout/plan';
import { canonicalJson, sha256Hex } from '../../src/protocol/hash';
import type { ComponentInventory } from '../../src/protocol/inventory';
import { AppRevision, type LinkSpecInput, type Scale } from '../../src/protocol/spec';
import { Strategy, type StrategyInput } from '../../src/protocol/strategy';

interface WorkloadDraft {
  id: string;
  image: string;
  config?: Record<string, string>;
  scale?: Partial<Scale> & { instances: number };
}

interface RevisionDraft {
  app?: string;
  version: string;
  components?: WorkloadDraft[];
  providers?: WorkloadDraft[];
  links?: LinkSpecInput[];
}

/** An AppRevision from a short draft: ids double as names; links are attached to both ends' specs. */
export function revision(draft: RevisionDraft): AppRevision {
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

/** Hosts `h1…hn` with optional labels per index. */
export function hosts(n: number, labels: (i: number) => Record<string, string> = () => ({})): HostInfo[] {
  return Array.from({ length: n }, (_, i) => ({ hostId: `h${i + 1}`, labels: labels(i + 1) }));
}

/** A rolling strategy with defaults filled in. */
export function rolling(overrides: Partial<Omit<Extract<StrategyInput, { type: 'rolling' }>, 'type'>> = {}): Strategy {
  return Strategy.parse({ type: 'rolling', ...overrides });
}

/** One component's inventory entry, serving `hash`. */
export function inventoryOf(
  id: string,
  hash: string | undefined,
  extra: Partial<ComponentInventory> = {},
): ComponentInventory {
  return {
    id,
    app: 'shop',
    kind: 'component',
    status: 'running',
    ...(hash === undefined ? {} : { servingHash: hash }),
    links: [],
    ...extra,
  };
}
