import { z } from 'zod';
import { ComponentInventory, HostInventory } from './inventory';
import { ComponentSpec, Id, LinkSpec, ProviderSpec } from './spec';

/** Protocol version carried by every cutover message. */
export const PROTOCOL_VERSION = 1 as const;

const base = { version: z.literal(PROTOCOL_VERSION).default(PROTOCOL_VERSION) };
/** Fencing: the app whose lease the sender holds, and its token. */
const fenced = { ...base, app: Id, leaseToken: z.number().int().min(0) };
const report = { ...base, hostId: Id, at: z.number() };

export const ComponentApply = z.strictObject({
  type: z.literal('component.apply'),
  ...fenced,
  spec: ComponentSpec,
  /** `standby`: validate and link the new instance beside the serving one (preview traffic only) until promoted. */
  mode: z.enum(['replace', 'standby']).optional(),
  /**
   * W3C trace context (`traceparent`) of the orchestrator's batch span, sent only while a tracer records, so
   * the host's apply span joins the rollout's trace across processes.
   */
  traceparent: z
    .string()
    .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent')
    .optional(),
});
/** Blue-green: cut over to the standby instance, keeping the old one for `keepOldForMs`. */
export const ComponentPromote = z.strictObject({
  type: z.literal('component.promote'),
  ...fenced,
  componentId: Id,
  keepOldForMs: z.number().int().min(0).default(0),
});
/** Blue-green: drop the standby instance, or switch back to the retained one (no download, no validation). */
export const ComponentRevert = z.strictObject({ type: z.literal('component.revert'), ...fenced, componentId: Id });
export const ComponentDelete = z.strictObject({ type: z.literal('component.delete'), ...fenced, componentId: Id });
export const ProviderApply = z.strictObject({ type: z.literal('provider.apply'), ...fenced, spec: ProviderSpec });
export const ProviderDelete = z.strictObject({ type: z.literal('provider.delete'), ...fenced, providerId: Id });

/**
 * Takeover: raise the host's fencing token for `app` to `leaseToken` (never lowers it) before the new lease
 * holder sends anything else, so a deposed holder's late messages are refused. Idempotent.
 */
export const HostFence = z.strictObject({ type: z.literal('host.fence'), ...fenced });
/** The answer to `host.fence`: the highest token the host now holds for the app (above the sender's: it is stale). */
export const HostFenced = z.strictObject({
  type: z.literal('host.fenced'),
  ...base,
  hostId: Id,
  app: Id,
  leaseToken: z.number().int().min(0),
});

export const ComponentApplied = z.strictObject({
  type: z.literal('component.applied'),
  ...report,
  app: z.string(),
  componentId: Id,
  kind: z.enum(['component', 'provider']).default('component'),
  hash: z.string(),
});
export const ComponentFailed = z.strictObject({
  type: z.literal('component.failed'),
  ...report,
  app: z.string(),
  componentId: Id,
  kind: z.enum(['component', 'provider']).default('component'),
  hash: z.string(),
  code: z.string(),
  reason: z.string(),
});
export const ComponentChanged = z.strictObject({
  type: z.literal('component.changed'),
  ...report,
  component: ComponentInventory,
});
export const HostHeartbeat = z.strictObject({
  type: z.literal('host.heartbeat'),
  ...report,
  inventory: HostInventory,
});
export const HostLost = z.strictObject({ type: z.literal('host.lost'), ...report });

export const ProviderLinkPut = z.strictObject({ type: z.literal('provider.link.put'), ...base, link: LinkSpec });
export const ProviderLinkDelete = z.strictObject({ type: z.literal('provider.link.delete'), ...base, link: LinkSpec });

export const InventoryRequest = z.strictObject({ type: z.literal('host.inventory'), ...base });

/** A control request was taken; its outcome comes later as a report. */
export const Accepted = z.strictObject({
  type: z.literal('accepted'),
  ...base,
  hostId: z.string().optional(),
  hash: z.string().optional(),
});
/** A coded refusal. */
export const ErrorReply = z.strictObject({
  type: z.literal('error'),
  ...base,
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().default(false),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
});
export const InventoryReply = z.strictObject({
  type: z.literal('host.inventory.reply'),
  ...base,
  inventory: HostInventory,
});
export const Ok = z.strictObject({ type: z.literal('ok'), ...base });

/** Every message on the wire, one discriminated union on `type` (wire schema = machine event). */
export const Message = z.discriminatedUnion('type', [
  ComponentApply,
  ComponentDelete,
  ProviderApply,
  ProviderDelete,
  ComponentPromote,
  ComponentRevert,
  HostFence,
  HostFenced,
  ComponentApplied,
  ComponentFailed,
  ComponentChanged,
  HostHeartbeat,
  HostLost,
  ProviderLinkPut,
  ProviderLinkDelete,
  InventoryRequest,
  Accepted,
  ErrorReply,
  InventoryReply,
  Ok,
]);
export type Message = z.output<typeof Message>;
export type MessageInput = z.input<typeof Message>;
export type MessageType = Message['type'];
/** The message with a given `type`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Control requests a host answers. */
export const HostControl = z.discriminatedUnion('type', [
  ComponentApply,
  ComponentDelete,
  ProviderApply,
  ProviderDelete,
  ComponentPromote,
  ComponentRevert,
]);
export type HostControl = z.output<typeof HostControl>;
/** Reports a host publishes on its event subject. */
export const HostReport = z.discriminatedUnion('type', [
  ComponentApplied,
  ComponentFailed,
  ComponentChanged,
  HostHeartbeat,
]);
export type HostReport = z.output<typeof HostReport>;
/** What a control request is answered with. */
export const ControlReply = z.discriminatedUnion('type', [Accepted, ErrorReply, Ok, InventoryReply, HostFenced]);
export type ControlReply = z.output<typeof ControlReply>;
