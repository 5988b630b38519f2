// Everything the orchestrator keeps in the store, validated by zod on every read (docs/wire.md: every
// record has a schema version). Keys are NATS KV tokens; app ids and versions are encoded by keyToken.
import { z } from 'zod';
import { AppRevision, ComponentSpec, LinkSpec, ProviderSpec } from '../protocol/spec';
import { RolloutContext, RolloutKind } from '../protocol/rollout';
import { AnalysisMeasurement, AnalysisSpec } from '../protocol/strategies';
import { HistoryEntry } from './viewSchemas';

/** A KV-safe token for any string: kept when already safe, else base64url behind a `=`. */
export function keyToken(value: string): string {
  return /^[A-Za-z0-9_-]+$/.test(value) ? value : `=${Buffer.from(value).toString('base64url')}`;
}

export const keys = {
  rollout: (id: string) => `rollout.${id}`,
  rolloutPrefix: 'rollout.',
  plan: (id: string) => `plan.${id}`,
  batch: (id: string, index: number) => `plan.${id}.b${index}`,
  gate: (id: string, index: number) => `plan.${id}.g${index}`,
  /** Blue-green: how a batch applies (`standby` or `promote`); absent means a plain apply. */
  mode: (id: string, index: number) => `plan.${id}.m${index}`,
  /** When a batch was first applied: each host's apply deadline counts from it, across restarts. */
  applied: (id: string, index: number) => `plan.${id}.t${index}`,
  /** Canary: which batches begin a step (re-planned against the hosts of that moment). */
  steps: (id: string) => `plan.${id}.steps`,
  /** Progress of one analysis run (`b2.a0` after batch 2, `background`), so a restart keeps its measurements. */
  analysis: (id: string, run: string) => `plan.${id}.a.${run}`,
  revision: (app: string, version: string) => `revision.${keyToken(app)}.${keyToken(version)}`,
  stable: (app: string) => `stable.${keyToken(app)}`,
  app: (app: string) => `app.${keyToken(app)}`,
  history: (app: string) => `history.${keyToken(app)}`,
  scaler: (app: string) => `scaler.${keyToken(app)}`,
  desired: (app: string) => `app.${keyToken(app)}`,
  config: (app: string, id: string) => `app.${keyToken(app)}.${keyToken(id)}`,
} as const;

/** A persisted rollout: its xstate snapshot plus what the orchestrator needs to resume it. */
export const RolloutRecord = z.strictObject({
  schema: z.literal(1),
  id: z.string().min(1),
  app: z.string().min(1),
  kind: RolloutKind,
  /** The rollout this one retries or undoes. */
  parent: z.string().nullable(),
  /** The rollout this one superseded (its scaler suspension is handed over). */
  supersedes: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
  snapshot: z.looseObject({
    status: z.enum(['active', 'done', 'error', 'stopped']),
    value: z.union([z.string(), z.record(z.string(), z.unknown())]),
    context: RolloutContext,
  }),
});
export type RolloutRecord = z.output<typeof RolloutRecord>;

export const WorkloadRefRecord = z.strictObject({
  kind: z.enum(['component', 'provider']),
  id: z.string(),
  hash: z.string(),
});

/** One planned batch, as first written (one apply list per host). */
export const BatchRecordV1 = z.strictObject({
  schema: z.literal(1),
  hosts: z.array(z.strictObject({ hostId: z.string(), apply: z.array(WorkloadRefRecord) })),
});

/**
 * One planned batch with hosts grouped by identical apply lists: a 10,000-host batch repeats one list,
 * and per-host lists would break the store's 1 MB value bound.
 */
export const BatchRecordV2 = z.strictObject({
  schema: z.literal(2),
  groups: z.array(z.strictObject({ apply: z.array(WorkloadRefRecord), hosts: z.array(z.string()) })),
});

/** One planned batch as stored (either schema). */
export const StoredBatchRecord = z.discriminatedUnion('schema', [BatchRecordV1, BatchRecordV2]);

/** One planned batch: hosts and what each applies. */
export type BatchRecord = z.output<typeof BatchRecordV1>;
type WorkloadRef = z.output<typeof WorkloadRefRecord>;

/** The stored form of a batch: hosts that apply the same list share it. */
export function packBatch(hosts: ReadonlyArray<{ hostId: string; apply: readonly WorkloadRef[] }>) {
  const groups = new Map<string, { apply: WorkloadRef[]; hosts: string[] }>();
  for (const h of hosts) {
    const key = JSON.stringify(h.apply);
    const group = groups.get(key);
    if (group) group.hosts.push(h.hostId);
    else groups.set(key, { apply: [...h.apply], hosts: [h.hostId] });
  }
  return { schema: 2 as const, groups: [...groups.values()] } satisfies z.input<typeof BatchRecordV2>;
}

/** Either stored form of a batch as one apply list per host. */
export function unpackBatch(record: z.output<typeof StoredBatchRecord>): BatchRecord {
  if (record.schema === 1) return record;
  return { schema: 1, hosts: record.groups.flatMap((g) => g.hosts.map((hostId) => ({ hostId, apply: g.apply }))) };
}

/** A revision as deployed: images pinned once resolved, so a rollback is exact. */
export const RevisionRecord = z.strictObject({
  schema: z.literal(1),
  revision: AppRevision,
  pinned: z.boolean(),
  storedAt: z.number(),
});
export type RevisionRecord = z.output<typeof RevisionRecord>;

export const StableRecord = z.strictObject({
  schema: z.literal(1),
  version: z.string(),
  rolloutId: z.string(),
  at: z.number(),
});
export type StableRecord = z.output<typeof StableRecord>;

export const AppPhase = z.enum(['upgrading', 'deployed', 'rolledBack', 'aborted', 'failed']);
export type AppPhase = z.infer<typeof AppPhase>;

export const AppRecord = z.strictObject({
  schema: z.literal(1),
  app: z.string(),
  phase: AppPhase,
  rolloutId: z.string(),
  targetVersion: z.string(),
  stableVersion: z.string().nullable(),
  at: z.number(),
});
export type AppRecord = z.output<typeof AppRecord>;

/** One history entry (its schema lives with the other views: viewSchemas.ts). */
export { HistoryEntry };
export const HistoryRecord = z.strictObject({ schema: z.literal(1), entries: z.array(HistoryEntry) });

/** Which rollouts hold an app's scaler suspended. */
export const ScalerRecord = z.strictObject({ schema: z.literal(1), holders: z.array(z.string()) });

/** Desired state in LATTICEDATA: what the app is meant to run (written by the orchestrator only). */
export const DesiredRecord = z.strictObject({
  schema: z.literal(1),
  app: z.string(),
  version: z.string(),
  components: z.array(ComponentSpec),
  providers: z.array(ProviderSpec),
  links: z.array(LinkSpec),
  at: z.number(),
});
export const ConfigRecord = z.strictObject({
  schema: z.literal(1),
  app: z.string(),
  id: z.string(),
  config: z.record(z.string(), z.string()),
});

/** What follows one canary batch (the last batch of a setHosts step): a pause and the analyses to run. */
export const GateRecord = z.strictObject({
  schema: z.literal(1),
  pause: z.union([z.literal(false), z.strictObject({ durationMs: z.number().int().min(0).optional() })]),
  analyses: z.array(AnalysisSpec),
});
export type GateRecord = z.output<typeof GateRecord>;

/** Blue-green: a batch that applies as standby, or that promotes the standbys of the batches before it. */
export const ModeRecord = z.strictObject({
  schema: z.literal(1),
  mode: z.enum(['standby', 'promote']),
  keepOldForMs: z.number().int().min(0),
});
export type ModeRecord = z.output<typeof ModeRecord>;

/** Canary: the batch each setHosts step begins with, and the steps already re-planned (once each). */
export const StepsRecord = z.strictObject({
  schema: z.literal(1),
  starts: z.array(z.strictObject({ batch: z.number().int().min(0), step: z.number().int().min(0) })),
  replanned: z.array(z.number().int().min(0)),
  /** Rolling: digest of the host ids the plan was made for; a batch re-plans when the known hosts differ. */
  hostsDigest: z.string().optional(),
  /** Hosts the last re-plan left out because they no longer answered (they use up maxUnavailable while gone). */
  lost: z.array(z.string()).max(64).optional(),
  /** A placement change (same specs, new counts or spreads): batches by the health gate only, no steps or analysis. */
  placementOnly: z.boolean().optional(),
  /** Background analysis starts once this batch is applied or verified. */
  backgroundStart: z.strictObject({ batch: z.number().int().min(0), when: z.enum(['applied', 'verified']) }).optional(),
});
export type StepsRecord = z.output<typeof StepsRecord>;

/** One analysis run: when it started (absolute, so its schedule survives a restart) and what it measured. */
export const AnalysisRunRecord = z.strictObject({
  schema: z.literal(1),
  startedAt: z.number(),
  measurements: z.array(AnalysisMeasurement),
  /** Set when its rollout ended while it still ran: every analysis ends with a verdict. */
  ended: z.strictObject({ status: z.enum(['successful', 'cancelled']), reason: z.string(), at: z.number() }).optional(),
});
export type AnalysisRunRecord = z.output<typeof AnalysisRunRecord>;

/** When a batch was first sent to its hosts (absolute, so a restart does not re-arm the apply deadline). */
export const AppliedRecord = z.strictObject({ schema: z.literal(1), at: z.number() });
export type AppliedRecord = z.output<typeof AppliedRecord>;
