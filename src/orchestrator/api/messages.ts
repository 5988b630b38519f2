// The orchestrator API on the wire (docs/wire.md `cutover.api.v1alpha1.{lattice}.{op}`): requests, replies and
// rollout events, each one zod schema in one discriminated union on `type`. Requests are bounded: names and
// ids are `Id`s, the whole request within `API_LIMITS` (protocol/limits.ts), checked before it is parsed.
import { z } from 'zod';
import { ErrorReply, PROTOCOL_VERSION } from '../../protocol/messages';
import { RolloutOutput } from '../../protocol/rollout';
import { AppRevision, Id, Version } from '../../protocol/spec';
import { HistoryEntry } from '../records';
import { AppStatus, RolloutView } from '../viewSchemas';

const base = { version: z.literal(PROTOCOL_VERSION).default(PROTOCOL_VERSION) };
/** Every app and rollout id is an `Id`: it becomes a KV key and a subject token. */
const App = Id;
/** Strategies are validated by the orchestrator (`strategy.invalid` names the field). */
const StrategyField = z.record(z.string(), z.unknown());

/** Operations served, in subject order: `cutover.api.v1alpha1.{lattice}.{op}`. */
export const API_OPS = [
  'deploy',
  'status',
  'history',
  'pause',
  'resume',
  'promote',
  'abort',
  'retry',
  'undo',
  'rollout',
  'list',
  'delete',
  'revision',
] as const;
export type ApiOp = (typeof API_OPS)[number];

export const DeployRequest = z.strictObject({
  type: z.literal('api.deploy'),
  ...base,
  /** wadm manifest text (YAML or JSON), or an AppRevision object. */
  manifest: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  strategy: StrategyField.optional(),
});
export const StatusRequest = z.strictObject({ type: z.literal('api.status'), ...base, app: App });
export const HistoryRequest = z.strictObject({ type: z.literal('api.history'), ...base, app: App });
export const PauseRequest = z.strictObject({ type: z.literal('api.pause'), ...base, app: App });
export const ResumeRequest = z.strictObject({ type: z.literal('api.resume'), ...base, app: App });
export const PromoteRequest = z.strictObject({
  type: z.literal('api.promote'),
  ...base,
  app: App,
  full: z.boolean().default(false),
});
export const AbortRequest = z.strictObject({
  type: z.literal('api.abort'),
  ...base,
  app: App,
  reason: z.string().min(1).max(1_000).optional(),
});
export const RetryRequest = z.strictObject({
  type: z.literal('api.retry'),
  ...base,
  app: App,
  strategy: StrategyField.optional(),
});
export const UndoRequest = z.strictObject({
  type: z.literal('api.undo'),
  ...base,
  app: App,
  toRevision: Version.optional(),
});
/** One rollout by id (what `watch` polls, so a dropped event never strands a waiting client). */
export const RolloutRequest = z.strictObject({ type: z.literal('api.rollout'), ...base, id: Id });

/** Every app of the lattice with its phase and versions. */
export const ListRequest = z.strictObject({ type: z.literal('api.list'), ...base });
/** Undeploy an app from every host and forget it (refused while a rollout of it runs). */
export const DeleteRequest = z.strictObject({ type: z.literal('api.delete'), ...base, app: App });

/** A stored revision of an app: `version`, or its stable one (what `set image` starts from). */
export const RevisionRequest = z.strictObject({
  type: z.literal('api.revision'),
  ...base,
  app: App,
  /** The revision's version (`version` is the protocol's); absent: the stable one. */
  revision: Version.optional(),
});

/** Every API request. */
export const ApiRequest = z.discriminatedUnion('type', [
  DeployRequest,
  StatusRequest,
  HistoryRequest,
  PauseRequest,
  ResumeRequest,
  PromoteRequest,
  AbortRequest,
  RetryRequest,
  UndoRequest,
  RolloutRequest,
  ListRequest,
  DeleteRequest,
  RevisionRequest,
]);
export type ApiRequest = z.output<typeof ApiRequest>;
export type ApiRequestInput = z.input<typeof ApiRequest>;

/** The wire form of the orchestrator's `RolloutView` (its schema, viewSchemas.ts). */
export const ApiRolloutView = RolloutView;

/** The wire form of the orchestrator's `AppStatus` (its schema, viewSchemas.ts). */
export const ApiAppStatus = AppStatus;

const rolloutReply = <T extends string>(type: T) =>
  z.strictObject({ type: z.literal(type), ...base, rollout: ApiRolloutView });

export const DeployReply = rolloutReply('api.deploy.reply');
export const StatusReply = z.strictObject({ type: z.literal('api.status.reply'), ...base, status: ApiAppStatus });
export const HistoryReply = z.strictObject({
  type: z.literal('api.history.reply'),
  ...base,
  entries: z.array(HistoryEntry),
});
export const PauseReply = rolloutReply('api.pause.reply');
export const ResumeReply = rolloutReply('api.resume.reply');
export const PromoteReply = rolloutReply('api.promote.reply');
export const AbortReply = rolloutReply('api.abort.reply');
export const RetryReply = rolloutReply('api.retry.reply');
export const UndoReply = rolloutReply('api.undo.reply');
/** `output` is set once the rollout is final. */
export const RolloutReply = z.strictObject({
  type: z.literal('api.rollout.reply'),
  ...base,
  rollout: ApiRolloutView,
  output: RolloutOutput.nullable(),
});

/** One app in a `list` reply. */
export const ApiAppSummary = z.strictObject({
  app: z.string(),
  phase: z.enum(['upgrading', 'deployed', 'rolledBack', 'aborted', 'failed']),
  stableVersion: z.string().nullable(),
  targetVersion: z.string(),
  rolloutId: z.string(),
  at: z.number(),
});
export const ListReply = z.strictObject({ type: z.literal('api.list.reply'), ...base, apps: z.array(ApiAppSummary) });
/** What deleting did: delete commands sent to hosts, store records removed. */
export const DeleteReply = z.strictObject({
  type: z.literal('api.delete.reply'),
  ...base,
  app: z.string(),
  sent: z.number().int().min(0),
  records: z.number().int().min(0),
});

export const RevisionReply = z.strictObject({ type: z.literal('api.revision.reply'), ...base, revision: AppRevision });

/** Every API reply, including the coded `error` refusal. */
export const ApiReply = z.discriminatedUnion('type', [
  DeployReply,
  StatusReply,
  HistoryReply,
  PauseReply,
  ResumeReply,
  PromoteReply,
  AbortReply,
  RetryReply,
  UndoReply,
  RolloutReply,
  ListReply,
  DeleteReply,
  RevisionReply,
  ErrorReply,
]);
export type ApiReply = z.output<typeof ApiReply>;

/** The reply type answering each request type. */
export type ApiReplyOf<T extends ApiRequest['type']> = Extract<ApiReply, { type: `${T}.reply` }>;

/** Requests and replies together: the API's wire vocabulary. */
export const ApiMessage = z.discriminatedUnion('type', [ApiRequest, ApiReply]);
export type ApiMessage = z.output<typeof ApiMessage>;

/** What the orchestrator publishes on `cutover.evt.v1alpha1.{lattice}.rollout.{id}`. */
export const RolloutEventMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('rollout.snapshot'), rollout: ApiRolloutView }),
  z.object({ type: z.literal('rollout.outcome'), output: RolloutOutput }),
]);
export type RolloutEventMessage = z.output<typeof RolloutEventMessage>;
