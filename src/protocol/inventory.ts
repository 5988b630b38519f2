import { z } from 'zod';
import { DirectedLink, Id } from './spec';

/** What a host reports a component or provider is doing (docs/architecture.md). */
export const ComponentStatus = z.enum([
  'pending',
  'downloading',
  'validating',
  'upgrading',
  'running',
  'standby',
  'stopping',
  'stopped',
  'failed',
  'unhealthy',
]);
export type ComponentStatus = z.infer<typeof ComponentStatus>;

/** Where an in-flight apply is. */
export const ApplyPhase = z.enum(['pending', 'downloading', 'validating', 'linking', 'cuttingOver', 'standby']);
export type ApplyPhase = z.infer<typeof ApplyPhase>;

/** Latency summary in milliseconds, from a fixed-bucket histogram. */
export const LatencySummary = z.strictObject({
  count: z.number().int().min(0),
  p50: z.number().min(0),
  p99: z.number().min(0),
  max: z.number().min(0),
});
export type LatencySummary = z.infer<typeof LatencySummary>;

/** Invocation counters of one serving spec hash. */
export const GateCounters = z.strictObject({
  accepted: z.number().int().min(0),
  answered: z.number().int().min(0),
  errors: z.number().int().min(0),
  /** `count` is every call so far; p50, p99 and max cover the gate's latency window (default the last 60 s). */
  latencyMs: LatencySummary,
});
export type GateCounters = z.infer<typeof GateCounters>;

/** The invocation gate of one component: live figures plus counters per serving spec hash. */
export const GateStats = z.strictObject({
  open: z.boolean(),
  inFlight: z.number().int().min(0),
  buffered: z.number().int().min(0),
  capacity: z.number().int().min(0),
  refused: z.number().int().min(0),
  longestPauseMs: z.number().min(0),
  byHash: z.record(z.string(), GateCounters),
});
export type GateStats = z.infer<typeof GateStats>;

/** The outcome of the last apply a host finished for a component. */
export const LastApply = z.strictObject({
  hash: z.string(),
  outcome: z.enum(['applied', 'failed', 'superseded']),
  code: z.string().optional(),
  reason: z.string().optional(),
  at: z.number(),
});
export type LastApply = z.infer<typeof LastApply>;

/** One component or provider in a host inventory. */
export const ComponentInventory = z.strictObject({
  id: Id,
  app: z.string(),
  kind: z.enum(['component', 'provider']).default('component'),
  status: ComponentStatus,
  servingHash: z.string().optional(),
  servingImageRef: z.string().optional(),
  pending: z.strictObject({ hash: z.string(), phase: ApplyPhase }).optional(),
  /** Blue-green: the new version validated and linked beside the serving one, waiting for promotion. */
  standby: z.strictObject({ hash: z.string(), imageRef: z.string() }).optional(),
  /** Blue-green: the version kept after a promotion for an instant revert, disposed of at `until`. */
  retained: z.strictObject({ hash: z.string(), imageRef: z.string(), until: z.number() }).optional(),
  lastApply: LastApply.optional(),
  /** Links the serving version holds: a component's own, or those a provider instance holds now. */
  links: z.array(DirectedLink).default([]),
  gate: GateStats.optional(),
});
export type ComponentInventory = z.output<typeof ComponentInventory>;

/** Everything one host reports about itself. */
export const HostInventory = z.strictObject({
  schema: z.literal(1).default(1),
  hostId: Id,
  lattice: z.string().min(1),
  labels: z.record(z.string(), z.string()).default({}),
  startedAt: z.number(),
  at: z.number(),
  /** Highest lease token seen per app: hosts refuse applies with a lower one. */
  leases: z.record(z.string(), z.number().int().min(0)).default({}),
  components: z.array(ComponentInventory).default([]),
});
export type HostInventory = z.output<typeof HostInventory>;
