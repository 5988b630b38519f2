/**
 * Slots: one per workload (component or provider) this host runs. A slot holds its workload's component actor
 * and gate, the artifacts, validated modules and instances of each spec hash (including instances prepared
 * ahead of a cut-over), the apply in flight (`Attempt`), and who waits for an outcome. `Slots` creates a slot
 * with its actor bound to its kind's effects, forgets it when the actor is done, and disposes them all when the
 * host stops. It must not run effects, call providers, subscribe to the transport or build reports: what a
 * slot's actor emits or becomes goes to the hooks the host wires in.
 */
import { type Actor, type SnapshotFrom, createActor } from 'xstate';
import type { componentMachine } from '../../machines/component/componentMachine';
import type { ComponentEmitted, WorkloadKind } from '../../machines/component/types';
import { CutoverError } from '../errors';
import type { LinkProvider, LinkProviderFactory } from '../ports/provider';
import type { Artifact, ComponentInstance, Validated } from '../ports/runtime';
import type { TransportSubscription } from '../ports/transport';
import type { LastApply } from '../protocol/inventory';
import type { ComponentSpec, DirectedLink, LinkSpec } from '../protocol/spec';
import type { HostContext } from './context';
import type { CutoverRun } from './cutover';
import { type Effects, bindSlot, hostedMachine } from './effects/machine';
import { Gate } from './gate';
import type { LinkPlan } from './planLinks';
import type { HostOutcome } from './types';

/** The apply a slot has in flight, from `linking` until its gate reopens or its links are restored. */
export interface Attempt {
  readonly hash: string;
  plan: LinkPlan;
  /** Links put in `linking` so far. */
  added: DirectedLink[];
  /** Swaps whose delete (or move) has started: restored in reverse. */
  touched: number;
  /** For providers: the moved links and the gates paused around the move. */
  moves: LinkSpec[];
  pausedGates: Gate[];
  /** The gate-closed part of a component cut-over, once `pausing` started it. */
  run?: CutoverRun;
}

/** One workload on this host: its actor, gate, instances per spec hash, and what waits on it. */
export interface Slot {
  readonly id: string;
  readonly kind: WorkloadKind;
  app: string;
  readonly actor: Actor<typeof componentMachine>;
  readonly gate: Gate | undefined;
  readonly artifacts: Map<string, Artifact>;
  readonly validated: Map<string, Validated>;
  readonly instances: Map<string, ComponentInstance>;
  /** New instances started in `linking`, so `replacing` (gate closed) only switches to them. */
  readonly prepared: Map<string, Promise<ComponentInstance>>;
  readonly providerInstances: Map<string, LinkProvider>;
  readonly factories: Map<string, LinkProviderFactory>;
  /** Links the serving version holds. */
  links: DirectedLink[];
  attempt: Attempt | undefined;
  pauseHeld: boolean;
  lastApply: LastApply | undefined;
  signature: string;
  /** The snapshot parts the signature was last computed from: unchanged parts mean an unchanged signature. */
  seen: { value: unknown; serving: unknown; target: unknown };
  readonly waiters: Map<string, Array<(o: HostOutcome) => void>>;
  readonly deleteWaiters: Array<(o: HostOutcome) => void>;
  invokeSub: TransportSubscription | undefined;
  /** The preview rpc subscription, held only while a standby runs (see `Invocations.syncPreview`). */
  previewSub: TransportSubscription | undefined;
}

/** What a slot's actor needs from the rest of the host; wired by `createHost`. */
export interface SlotHooks {
  /** The effect table of a workload kind (built after the slots, which the effects use). */
  effects(kind: WorkloadKind): Effects;
  /** Records and publishes an apply's outcome; the slot then resolves whoever waits for it. */
  emitted(slot: Slot, e: ComponentEmitted): HostOutcome;
  /** Sees every snapshot of the slot's actor, before a finished slot is forgotten. */
  snapshot(slot: Slot, snap: SnapshotFrom<typeof componentMachine>): void;
}

const slotKey = (kind: WorkloadKind, id: string) => `${kind}:${id}`;

/** A map that refuses writes: the provider maps of component slots, shared by every one of them. */
class EmptyMap<K, V> extends Map<K, V> {
  override set(_key: K, _value: V): this {
    throw new Error('a component slot holds no provider instance or factory');
  }
}
const NO_PROVIDERS: Map<string, LinkProvider> = new EmptyMap();
const NO_FACTORIES: Map<string, LinkProviderFactory> = new EmptyMap();

/** The slots of one host, by kind and id. */
export class Slots {
  private readonly byKey = new Map<string, Slot>();

  constructor(
    private readonly ctx: HostContext,
    private readonly hooks: SlotHooks,
  ) {}

  /** The slot of a workload, if this host runs it. */
  get(kind: WorkloadKind, id: string): Slot | undefined {
    return this.byKey.get(slotKey(kind, id));
  }

  /** The slot of a component. */
  component(id: string): Slot | undefined {
    return this.byKey.get(slotKey('component', id));
  }

  /** The provider instance serving `providerId` here, if it runs here and serves. */
  servingProvider(providerId: string): LinkProvider | undefined {
    const slot = this.byKey.get(slotKey('provider', providerId));
    const hash = slot?.actor.getSnapshot().context.serving?.hash;
    return hash === undefined ? undefined : slot?.providerInstances.get(hash);
  }

  /** Every slot, in creation order. */
  values(): IterableIterator<Slot> {
    return this.byKey.values();
  }

  /** Whether any slot's actor has work in flight. */
  busy(): boolean {
    return [...this.byKey.values()].some((s) => s.actor.getSnapshot().hasTag('busy'));
  }

  /** Creates and starts the slot of a workload (its gate, for a component, and its actor). */
  create(kind: WorkloadKind, id: string, app: string): Slot {
    const { options } = this.ctx;
    const slot = {
      id,
      kind,
      app,
      gate:
        kind === 'component'
          ? new Gate({
              componentId: id,
              // Latency and pause figures on the host's clock, like every other duration (a SimulatedClock in tests).
              now: () => this.ctx.clock.now(),
              ...(options.gateCapacity === undefined ? {} : { capacity: options.gateCapacity }),
            })
          : undefined,
      artifacts: new Map(),
      validated: new Map(),
      instances: new Map(),
      prepared: new Map(),
      // A component slot never holds provider instances or factories: one shared, never-written map spares two
      // per host.
      providerInstances: kind === 'provider' ? new Map() : NO_PROVIDERS,
      factories: kind === 'provider' ? new Map() : NO_FACTORIES,
      links: [],
      attempt: undefined,
      pauseHeld: false,
      lastApply: undefined,
      signature: '',
      seen: { value: undefined, serving: undefined, target: undefined },
      waiters: new Map(),
      deleteWaiters: [],
      invokeSub: undefined,
      previewSub: undefined,
    } as Omit<Slot, 'actor'> as Slot;
    const input = {
      id,
      kind,
      ...(options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs }),
      ...(options.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: options.fetchTimeoutMs }),
    };
    const actor = createActor(hostedMachine, {
      input,
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    });
    (slot as { actor: Actor<typeof componentMachine> }).actor = actor;
    bindSlot(actor.system, slot, this.hooks.effects(kind));
    actor.on('component.applied', (e) => this.settle(slot, e));
    actor.on('component.failed', (e) => this.settle(slot, e));
    actor.subscribe({
      next: (snap) => {
        this.hooks.snapshot(slot, snap);
        if (snap.status === 'done') {
          this.byKey.delete(slotKey(kind, id));
          const at = this.ctx.clock.now();
          for (const resolve of slot.deleteWaiters.splice(0))
            resolve({ type: 'component.deleted', hostId: this.ctx.hostId, componentId: id, kind, at });
        }
      },
      error: () => undefined,
    });
    this.byKey.set(slotKey(kind, id), slot);
    actor.start();
    return slot;
  }

  /** Starts the instance of `hash` ahead of the cut-over; a failure is kept for `replacing` to report. */
  prepare(slot: Slot, hash: string, spec: ComponentSpec): Promise<ComponentInstance> {
    slot.prepared.get(hash)?.then(
      (stale) => stale.dispose(),
      () => undefined,
    );
    const validated = slot.validated.get(hash);
    const instance =
      validated === undefined
        ? Promise.reject(new CutoverError('invoke.failed', `host "${this.ctx.hostId}" lost the validated artifact`))
        : Promise.resolve().then(() => this.ctx.runtime.instantiate(validated, spec));
    instance.catch(() => undefined);
    slot.prepared.set(hash, instance);
    return instance;
  }

  /** Stops every actor and disposes every instance and provider (the host is stopping), then forgets them. */
  async dispose(): Promise<void> {
    for (const slot of [...this.byKey.values()]) {
      slot.actor.stop();
      discardPrepared(slot, undefined);
      for (const instance of slot.instances.values()) await instance.dispose();
      for (const p of slot.providerInstances.values()) await p.stop();
    }
    this.byKey.clear();
  }

  /** Has the outcome the actor emitted reported, then resolves whoever waits for that hash. */
  private settle(slot: Slot, e: ComponentEmitted): void {
    const report = this.hooks.emitted(slot, e);
    const waiting = slot.waiters.get(e.hash);
    slot.waiters.delete(e.hash);
    for (const resolve of waiting ?? []) resolve(report);
  }
}

/** The outcome reported for `key` (the hash an apply, promote or revert ends on; '' when there is none). */
export function awaitOutcome(slot: Slot, key: string): Promise<HostOutcome> {
  return new Promise<HostOutcome>((resolve) => {
    const list = slot.waiters.get(key) ?? [];
    list.push(resolve);
    slot.waiters.set(key, list);
  });
}

/** The `component.deleted` outcome of a slot, once its actor is done. */
export function awaitDeleted(slot: Slot): Promise<HostOutcome> {
  return new Promise<HostOutcome>((resolve) => slot.deleteWaiters.push(resolve));
}

/** Disposes instances prepared for applies that never reached `replacing`. */
export function discardPrepared(slot: Slot, keep: string | undefined): void {
  for (const [hash, instance] of [...slot.prepared]) {
    if (hash === keep) continue;
    slot.prepared.delete(hash);
    instance.then(
      (i) => i.dispose(),
      () => undefined,
    );
  }
}
