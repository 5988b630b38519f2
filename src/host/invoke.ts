/**
 * Invocations: how calls reach a component on this host. `invoke` is `host.invoke`: through the component's
 * gate, or (blue-green preview) straight to its standby instance, outside the gate. It also owns the transport
 * subscriptions that bring remote calls in: `wasmbus.rpc.{lattice}.{componentId}.*` once a component serves,
 * and the preview subject only while a standby runs. It must not change a gate's target, pause it, or touch
 * instances: cut-overs and effects do.
 */
import type { SnapshotFrom } from 'xstate';
import type { componentMachine } from '../../machines/component/componentMachine';
import { CutoverError } from '../errors';
import type { TransportMessage, TransportSubscription } from '../ports/transport';
import { subjects } from '../protocol/subjects';
import type { HostContext } from './context';
import { encodeInvokeError, encodeInvokeOk } from './invokeReply';
import type { Slot, Slots } from './slots';
import type { Host, InvokeOptions } from './types';

const PREVIEW: InvokeOptions = { preview: true };

/** One host's invocations: local calls, and the rpc subscriptions that serve remote ones. */
export class Invocations {
  /**
   * @param route how a call from the transport enters the host: through the public `host.invoke`, as before.
   */
  constructor(
    private readonly ctx: HostContext,
    private readonly slots: Slots,
    private readonly route: Host['invoke'],
  ) {}

  /** Invokes a component through its gate, or its standby directly when `options.preview` is set. */
  invoke(componentId: string, operation: string, payload: Uint8Array, options?: InvokeOptions): Promise<Uint8Array> {
    const { hostId } = this.ctx;
    const slot = this.slots.component(componentId);
    if (options?.preview === true) {
      const snap = slot?.actor.getSnapshot();
      const hash = snap?.matches('standby') === true ? snap.context.target?.hash : undefined;
      const standby = hash === undefined ? undefined : slot?.instances.get(hash);
      const gate = slot?.gate;
      if (hash === undefined || standby === undefined || gate === undefined) {
        return Promise.reject(
          new CutoverError('invoke.notFound', `component "${componentId}" has no standby on host "${hostId}"`, {
            hostId,
            componentId,
          }),
        );
      }
      // Counted under the standby's hash in the gate's per-hash counters (never paused or buffered), so a
      // pre-promotion analysis of that hash measures preview traffic, and the counters carry on after promote.
      return gate.track(hash, () => Promise.resolve().then(() => standby.invoke(operation, payload)));
    }
    if (slot?.gate === undefined) {
      return Promise.reject(
        new CutoverError('invoke.notFound', `component "${componentId}" is not on host "${hostId}"`, {
          hostId,
          componentId,
        }),
      );
    }
    return slot.gate.invoke(operation, payload);
  }

  /** Subscribes a component's rpc subjects (once it serves; providers have none). */
  serve(slot: Slot): void {
    const { transport, lattice } = this.ctx;
    if (slot.kind !== 'component' || slot.invokeSub !== undefined || transport.closed) return;
    slot.invokeSub = this.subscribe(
      slot,
      subjects.invokeAll(lattice, slot.id),
      slot.id,
      (subject) => subject.slice(subject.lastIndexOf('.') + 1),
      undefined,
    );
  }

  /** Holds the preview subscription exactly while the slot's actor is (about to be reported) in `standby`. */
  followPreview(slot: Slot, snap: SnapshotFrom<typeof componentMachine>): void {
    // Subscribed by putLinks just before the standby is reported (still `linking` then); gone when it is left.
    const previewing = snap.matches('standby') || (snap.matches('linking') && slot.previewSub !== undefined);
    this.syncPreview(slot, snap.status === 'active' && previewing);
  }

  /**
   * Preview traffic over the transport: `wasmbus.rpc.{lattice}.{componentId}.{operation}.preview`
   * (`subjects.invokePreview`). Only a host holding a standby subscribes (queue group `{componentId}.preview`),
   * so preview calls reach standbys only, and a lattice without one answers `transport.noResponders`
   * (`invokeRemote` with `preview` turns that into `invoke.notFound`).
   */
  syncPreview(slot: Slot, standby: boolean): void {
    const { ctx } = this;
    if (slot.kind !== 'component' || standby === (slot.previewSub !== undefined)) return;
    if (!standby || ctx.stopped || ctx.transport.closed) {
      slot.previewSub?.unsubscribe();
      slot.previewSub = undefined;
      return;
    }
    slot.previewSub = this.subscribe(
      slot,
      subjects.invokePreviewAll(ctx.lattice, slot.id),
      `${slot.id}.preview`,
      (subject) => subject.split('.').at(-2) ?? '',
      PREVIEW,
    );
  }

  /** Leaves every rpc subject (the host is stopping): previews at once, the rest drained where the transport can. */
  leave(): Promise<unknown> {
    for (const slot of this.slots.values()) this.syncPreview(slot, false);
    return Promise.all(
      [...this.slots.values()].map(async (slot) => {
        const sub = slot.invokeSub;
        if (sub?.drain) await sub.drain().catch(() => sub.unsubscribe());
        else sub?.unsubscribe();
      }),
    );
  }

  private subscribe(
    slot: Slot,
    subject: string,
    queue: string,
    operationOf: (subject: string) => string,
    options: InvokeOptions | undefined,
  ): TransportSubscription {
    return this.ctx.transport.subscribe(
      subject,
      async (msg: TransportMessage) => {
        const operation = operationOf(msg.subject);
        try {
          return encodeInvokeOk(await this.route(slot.id, operation, msg.data, options));
        } catch (error) {
          return encodeInvokeError(error);
        }
      },
      { queue },
    );
  }
}
