/**
 * Reports: everything the host tells about itself. It owns the report listeners and the host event subject:
 * apply outcomes (`component.applied` / `component.failed`, and the slot's `lastApply` they set), a
 * `component.changed` whenever a slot's reportable status changes, the inventory (also the body of control
 * replies and heartbeats), and the heartbeat timer. Listeners hear each report at once; the event subject gets
 * a tick's reports when the tick ends, one `component.changed` per slot (docs/performance.md). It must not
 * change a slot beyond its report bookkeeping (`lastApply`, `signature`, `seen`), nor answer requests (replies
 * are `control.ts`'s).
 */
import type { ComponentEmitted } from '../../machines/component/types';
import { hasCode } from '../errors';
import { encode } from '../protocol/decode';
import type { ComponentInventory, HostInventory } from '../protocol/inventory';
import type { DirectedLink } from '../protocol/spec';
import { type MessageOf, PROTOCOL_VERSION } from '../protocol/messages';
import { subjects } from '../protocol/subjects';
import { afterTick } from '../tick';
import type { HostContext } from './context';
import type { Fencing } from './fencing';
import type { Slot, Slots } from './slots';
import { statusOf } from './statusOf';
import type { HostOutcome } from './types';

/** What report listeners receive. */
export type Report = HostOutcome | MessageOf<'component.changed'>;

/**
 * What leaves on the event subject at the end of a tick, in order: an outcome as it was, a slot's change as the
 * slot stands when the tick ends (built then, once, however many phases it passed through in the tick).
 */
type Outgoing = { readonly report: Report } | { readonly slot: Slot } | undefined;

/** One host's reports: listeners, the event subject, inventories. */
export class Reports {
  private readonly listeners = new Set<(report: Report) => void>();
  private readonly eventsSubject: string;
  private readonly labels: Record<string, string>;
  private readonly startedAt: number;
  /**
   * Reports waiting for the end of the tick; a slot's earlier change in the same tick is cleared (undefined).
   * Allocated per tick and dropped after it, like `pendingChange` (the index of each slot's change in it) and
   * `drainWaiters`: an idle host holds none of them.
   */
  private outbox: Outgoing[] | undefined;
  private pendingChange: Map<Slot, number> | undefined;
  private drainWaiters: Array<() => void> | undefined;

  constructor(
    private readonly ctx: HostContext,
    private readonly slots: Slots,
    private readonly fencing: Fencing,
  ) {
    this.startedAt = ctx.clock.now();
    this.labels = ctx.options.labels ?? {};
    this.eventsSubject = subjects.hostEvents(ctx.lattice, ctx.hostId);
  }

  /** Adds a report listener; returns its removal. */
  listen(listener: (report: Report) => void): () => boolean {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Tells the listeners (heartbeats excepted) at once and the host event subject (deletions excepted): a
   * heartbeat at once, an outcome at the end of the tick, in order with the slot changes of that tick.
   */
  publish(report: Report | MessageOf<'host.heartbeat'>): void {
    if (report.type === 'host.heartbeat') {
      this.send(report);
      return;
    }
    for (const l of this.listeners) l(report);
    if (report.type === 'component.deleted') return;
    this.enqueue({ report });
  }

  /** Resolves once every report queued so far has been handed to the transport. */
  drained(): Promise<void> {
    if (this.outbox === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters ??= [];
      this.drainWaiters.push(resolve);
    });
  }

  /** Hands every queued report to the transport now (the host is stopping, or the tick ended). */
  flush(): void {
    const { outbox, drainWaiters } = this;
    this.outbox = undefined;
    this.pendingChange = undefined;
    this.drainWaiters = undefined;
    for (const item of outbox ?? []) {
      if (item === undefined) continue;
      if ('report' in item) this.send(item.report);
      else this.send(this.changeOf(item.slot));
    }
    for (const resolve of drainWaiters ?? []) resolve();
  }

  /** Queues `item` for the end of the tick; returns its index in the outbox. */
  private enqueue(item: NonNullable<Outgoing>): number {
    if (this.outbox === undefined) {
      this.outbox = [];
      afterTick(() => this.flush());
    }
    return this.outbox.push(item) - 1;
  }

  private send(report: Report | MessageOf<'host.heartbeat'>): void {
    const { transport } = this.ctx;
    // Disconnected: dropped rather than buffered. Reports only hint (verification is level-triggered) and a
    // heartbeat after the reconnect says the host is back.
    if (transport.closed || transport.connected === false) return;
    try {
      transport.publish(this.eventsSubject, encode(report));
    } catch (e) {
      if (!hasCode(e, 'transport.unavailable')) throw e;
    }
  }

  private changeOf(slot: Slot, known?: ReturnType<typeof statusOf>): MessageOf<'component.changed'> {
    return {
      type: 'component.changed',
      version: PROTOCOL_VERSION,
      hostId: this.ctx.hostId,
      at: this.ctx.clock.now(),
      component: this.component(slot, known),
    };
  }

  /** The whole host: every slot's inventory and the lease token held per app. */
  inventory(): HostInventory {
    const { ctx } = this;
    return {
      schema: 1,
      hostId: ctx.hostId,
      lattice: ctx.lattice,
      labels: { ...this.labels },
      startedAt: this.startedAt,
      at: ctx.clock.now(),
      leases: this.fencing.held(),
      components: Array.from(this.slots.values(), (slot) => this.component(slot)),
    };
  }

  /** One slot's inventory; `known` spares recomputing the status a caller already has. */
  component(slot: Slot, known?: ReturnType<typeof statusOf>): ComponentInventory {
    const snap = slot.actor.getSnapshot();
    const { status, phase } = known ?? statusOf(snap.value);
    const c = snap.context;
    const out: ComponentInventory = { id: slot.id, app: slot.app, kind: slot.kind, status, links: this.links(slot) };
    if (c.serving !== undefined) {
      out.servingHash = c.serving.hash;
      out.servingImageRef = c.serving.spec.imageRef;
    }
    if (c.target !== undefined && phase !== undefined) out.pending = { hash: c.target.hash, phase };
    if (c.target !== undefined && phase === 'standby') {
      out.standby = { hash: c.target.hash, imageRef: c.target.spec.imageRef };
    }
    if (c.retained !== undefined) {
      out.retained = { hash: c.retained.hash, imageRef: c.retained.spec.imageRef, until: c.retainUntil };
    }
    if (slot.lastApply !== undefined) out.lastApply = slot.lastApply;
    if (slot.gate !== undefined) out.gate = slot.gate.stats();
    return out;
  }

  /**
   * The links a slot's serving version holds: a component's own; for a provider, those its serving instance
   * holds now (as the provider sees them: `outgoing` when it is the source).
   */
  private links(slot: Slot): DirectedLink[] {
    if (slot.kind === 'component') return [...slot.links];
    const hash = slot.actor.getSnapshot().context.serving?.hash;
    const instance = hash === undefined ? undefined : slot.providerInstances.get(hash);
    if (instance === undefined) return [...slot.links];
    return instance.links().map((l) => ({ ...l, direction: l.source === slot.id ? 'outgoing' : 'incoming' }));
  }

  /** Records and publishes the outcome the slot's actor emitted; returns it for whoever waits. */
  emitted(slot: Slot, e: ComponentEmitted): HostOutcome {
    const { hostId, clock } = this.ctx;
    const at = clock.now();
    const fields = {
      version: PROTOCOL_VERSION,
      hostId,
      at,
      app: slot.app,
      componentId: slot.id,
      kind: slot.kind,
      hash: e.hash,
    } as const;
    const report: HostOutcome =
      e.type === 'component.applied'
        ? { type: 'component.applied', ...fields }
        : { type: 'component.failed', ...fields, code: e.code, reason: e.reason };
    if (e.type === 'component.applied') slot.lastApply = { hash: e.hash, outcome: 'applied', at };
    else
      slot.lastApply = {
        hash: e.hash,
        outcome: e.code === 'superseded' ? 'superseded' : 'failed',
        code: e.code,
        reason: e.reason,
        at,
      };
    this.publish(report);
    return report;
  }

  /** Publishes `component.changed` when something reportable changed since the last report. */
  changed(slot: Slot): void {
    const snap = slot.actor.getSnapshot();
    const c = snap.context;
    // Most snapshots (an effect settling, an event ignored) change none of the parts the signature reads.
    const seen = slot.seen;
    if (seen.value === snap.value && seen.serving === c.serving && seen.target === c.target) return;
    seen.value = snap.value;
    seen.serving = c.serving;
    seen.target = c.target;
    // Cheap signature first: the full inventory (gate figures) is built only when something reportable changed.
    const known = statusOf(snap.value);
    const signature = `${known.status}|${c.serving?.hash ?? ''}|${known.phase ?? ''}|${c.target?.hash ?? ''}`;
    if (signature === slot.signature) return;
    slot.signature = signature;
    if (this.listeners.size > 0) {
      const report = this.changeOf(slot, known);
      for (const l of this.listeners) l(report);
    }
    // One change per slot and tick leaves on the wire: the phases a tick passed through are replaced by
    // where the slot stands when it ends (an apply on a warm host goes pending → running in one tick).
    const earlier = this.pendingChange?.get(slot);
    if (earlier !== undefined && this.outbox !== undefined) this.outbox[earlier] = undefined;
    const index = this.enqueue({ slot });
    this.pendingChange ??= new Map();
    this.pendingChange.set(slot, index);
  }
}

/** Publishes `host.heartbeat` with the inventory every `heartbeatMs` (none when 0); returns the canceller. */
export function startHeartbeats(ctx: HostContext, reports: Reports): () => void {
  const { clock } = ctx;
  const heartbeatMs = ctx.options.heartbeatMs ?? 30_000;
  let heartbeat: unknown;
  const beat = () => {
    if (ctx.stopped) return;
    const at = clock.now();
    reports.publish({
      type: 'host.heartbeat',
      version: PROTOCOL_VERSION,
      hostId: ctx.hostId,
      at,
      inventory: reports.inventory(),
    });
    heartbeat = clock.setTimeout(beat, heartbeatMs);
  };
  // The first heartbeat goes out at once: it is how an orchestrator learns that a host joined.
  if (heartbeatMs > 0) heartbeat = clock.setTimeout(beat, 0);
  return () => clock.clearTimeout(heartbeat);
}
