/**
 * Control: what a host is told to do, and what it answers. It owns the control subscriptions (the host's
 * `…host.{hostId}.>` subjects and `hosts.ping`), decoding a message and checking it against its subject,
 * fencing it (through `Fencing.admit`, the only token check), dispatching it to a slot's actor, and every reply
 * on those subjects (`accepted`, `error`, the inventory), which all leave through `serve`. `host.apply` enters
 * here too. It must not run effects or change a slot except by sending its actor an event, and must not publish
 * reports (outcomes come back through the slots' waiters).
 */
import { observeApply } from '../observability/telemetry';
import type { ZodError } from 'zod';
import type { WorkloadKind } from '../../machines/component/types';
import { CutoverError, type ErrorCode } from '../errors';
import type { TransportMessage, TransportSubscription } from '../ports/transport';
import { decode, encode } from '../protocol/decode';
import { specHash } from '../protocol/hash';
import { CONTROL_LIMITS, checkJsonLimits, errorReplyOf } from '../protocol/limits';
import { HostControl, HostFence, InventoryRequest, PROTOCOL_VERSION } from '../protocol/messages';
import { ComponentSpec } from '../protocol/spec';
import { subjects } from '../protocol/subjects';
import type { HostContext } from './context';
import type { Fencing } from './fencing';
import type { Reports } from './reports';
import { type Slots, awaitDeleted, awaitOutcome } from './slots';
import type { Host, HostOutcome } from './types';

/** A dispatched control message: the spec hash it ends on (if any) and its outcome, once reported. */
export interface Dispatched {
  readonly hash: string | undefined;
  readonly outcome: Promise<HostOutcome>;
}

/** The control message each control subject `…host.{hostId}.{op}` takes. */
const CONTROL_TYPES: Record<string, HostControl['type']> = {
  'component.apply': 'component.apply',
  'component.delete': 'component.delete',
  'provider.apply': 'provider.apply',
  'provider.delete': 'provider.delete',
  'component.promote': 'component.promote',
  'component.revert': 'component.revert',
};

/** One host's control: its subscriptions, fencing check, dispatch and replies. */
export class Control {
  private readonly subs: TransportSubscription[] = [];

  constructor(
    private readonly ctx: HostContext,
    private readonly slots: Slots,
    private readonly fencing: Fencing,
    private readonly reports: Reports,
  ) {}

  /** Subscribes the control subjects and `hosts.ping`. */
  listen(): void {
    const { lattice, hostId } = this.ctx;
    const controlPrefix = subjects.hostControl(lattice, hostId).slice(0, -1);
    this.subs.push(
      this.serve(subjects.hostControl(lattice, hostId), (msg) =>
        this.answer(msg, msg.subject.slice(controlPrefix.length)),
      ),
      // A ping is an inventory request like any other: anything else is refused, never answered with inventory.
      this.serve(subjects.hostsPing(lattice), (msg) => {
        decode(msg.data, InventoryRequest);
        return this.inventoryReply();
      }),
    );
  }

  /** Leaves the control subjects (the host is stopping). */
  close(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  /** `host.apply`: a control message goes fenced; a bare spec is applied under the token already held. */
  async apply(input: Parameters<Host['apply']>[0]): Promise<HostOutcome> {
    const record = input as Record<string, unknown>;
    if (typeof record.type === 'string') return this.fence(decode(input, HostControl)).outcome;
    const parsed = ComponentSpec.safeParse(input);
    if (!parsed.success) throw decodeError(parsed.error, 'spec.invalid');
    const spec = parsed.data;
    const message: HostControl = {
      type: 'component.apply',
      version: PROTOCOL_VERSION,
      app: spec.app,
      leaseToken: this.fencing.token(spec.app),
      spec,
    };
    return this.dispatch(message).outcome;
  }

  /** Answers one message on a control subject, `op` being the subject's last token. */
  private answer(msg: TransportMessage, op: string): Uint8Array {
    if (op === 'inventory') {
      decode(msg.data, InventoryRequest);
      return this.inventoryReply();
    }
    if (op === 'fence') {
      // A new lease holder fences before it sends anything else; the answer says whether it is the newest.
      const { app, leaseToken } = decode(msg.data, HostFence);
      const held = this.fencing.raise(app, leaseToken);
      return encode({ type: 'host.fenced', version: PROTOCOL_VERSION, hostId: this.ctx.hostId, app, leaseToken: held });
    }
    const expected = CONTROL_TYPES[op];
    if (expected === undefined) throw new CutoverError('message.invalid', `unknown control subject "${msg.subject}"`);
    const message = decode(msg.data, HostControl);
    if (message.type !== expected) {
      throw new CutoverError('message.invalid', `message "${message.type}" sent to "${op}"`, {
        issues: [{ path: 'type', message: `expected "${expected}"` }],
      });
    }
    const { hash } = this.fence(message);
    return encode({
      type: 'accepted',
      version: PROTOCOL_VERSION,
      hostId: this.ctx.hostId,
      ...(hash === undefined ? {} : { hash }),
    });
  }

  /** Fences an already validated control message by its lease token, then dispatches it. */
  private fence(message: HostControl): Dispatched {
    this.fencing.admit(message.app, message.leaseToken);
    return this.dispatch(message);
  }

  /** Sends a fenced (or local) control message to its slot's actor, creating the slot for a first apply. */
  private dispatch(message: HostControl): Dispatched {
    const { hostId, clock } = this.ctx;
    if (this.ctx.stopped) throw new CutoverError('host.lost', `host "${hostId}" is stopped`, { hostId });
    const at = clock.now();
    if (message.type === 'component.apply' || message.type === 'provider.apply') {
      const kind: WorkloadKind = message.type === 'component.apply' ? 'component' : 'provider';
      const hash = specHash(message.spec, kind);
      const slot = this.slots.get(kind, message.spec.id) ?? this.slots.create(kind, message.spec.id, message.spec.app);
      slot.app = message.spec.app;
      const at0 = { host: hostId, app: message.spec.app, component: message.spec.id, hash };
      const traceparent = message.type === 'component.apply' ? message.traceparent : undefined;
      const outcome = observeApply(awaitOutcome(slot, hash), at0, traceparent);
      const standby = message.type === 'component.apply' && message.mode === 'standby';
      slot.actor.send({ type: 'component.apply', spec: message.spec, hash, at, ...(standby ? { standby } : {}) });
      return { hash, outcome };
    }
    if (message.type === 'component.promote' || message.type === 'component.revert') {
      const slot = this.slots.component(message.componentId);
      const snap = slot?.actor.getSnapshot();
      const event =
        message.type === 'component.promote'
          ? { type: 'component.promote' as const, at, keepOldForMs: message.keepOldForMs }
          : { type: 'component.revert' as const, at };
      if (slot === undefined || snap === undefined || !snap.can(event)) {
        throw new CutoverError(
          'rollout.invalidCommand',
          message.type === 'component.promote'
            ? `component "${message.componentId}" has no standby to promote`
            : `component "${message.componentId}" has no standby or retained version to revert to`,
          { hostId, componentId: message.componentId },
        );
      }
      // Promote reports the standby hash applied; revert reports the standby failed, or the retained one applied.
      const hash = snap.matches('retained') ? snap.context.retained?.hash : snap.context.target?.hash;
      const outcome = awaitOutcome(slot, hash ?? '');
      slot.actor.send(event);
      return { hash, outcome };
    }
    const kind: WorkloadKind = message.type === 'component.delete' ? 'component' : 'provider';
    const id = message.type === 'component.delete' ? message.componentId : message.providerId;
    const slot = this.slots.get(kind, id);
    if (slot === undefined)
      return {
        hash: undefined,
        outcome: Promise.resolve({ type: 'component.deleted', hostId, componentId: id, kind, at }),
      };
    const outcome = awaitDeleted(slot);
    slot.actor.send({ type: 'component.delete', at });
    return { hash: undefined, outcome };
  }

  /**
   * Subscribes `subject` with `handle`; the one reply path: a request over `CONTROL_LIMITS` is refused before it
   * is parsed, and whatever `handle` throws is answered as a bounded coded error.
   */
  private serve(subject: string, handle: (msg: TransportMessage) => Uint8Array): TransportSubscription {
    return this.ctx.transport.subscribe(subject, (msg) => {
      try {
        checkJsonLimits(msg.data, CONTROL_LIMITS, 'control request');
        return handle(msg);
      } catch (error) {
        return encode(errorReplyOf(error));
      }
    });
  }

  private inventoryReply(): Uint8Array {
    return encode({ type: 'host.inventory.reply', version: PROTOCOL_VERSION, inventory: this.reports.inventory() });
  }
}

/** A spec's validation issues as one coded error (the first three in its message). */
function decodeError(error: ZodError, code: ErrorCode): CutoverError {
  const issues = error.issues.map((i) => ({
    path: i.path.length === 0 ? '(root)' : i.path.map(String).join('.'),
    message: i.message,
  }));
  return new CutoverError(
    code,
    `invalid spec: ${issues
      .map((i) => `${i.path}: ${i.message}`)
      .slice(0, 3)
      .join('; ')}`,
    { issues },
  );
}
