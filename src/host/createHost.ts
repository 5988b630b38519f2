import { type Actor, type InspectionEvent, type Observer, createActor } from 'xstate';
import { componentMachine } from '../../machines/component/componentMachine';
import type {
  ComponentEmitted,
  DeadlineInput,
  Desired,
  DisposeInput,
  EffectInput,
  LinkedOutput,
  RestoreInput,
  SwapInput,
  WorkloadKind,
} from '../../machines/component/types';
import { CutoverError, type ErrorCode, toCutoverError } from '../errors';
import { type Clock, systemClock } from '../ports/clock';
import type {
  LinkCallOptions,
  LinkProvider,
  LinkProviderFactory,
  ProviderContext,
  ProviderRegistry,
} from '../ports/provider';
import type { Artifact, ComponentInstance, ComponentRuntime, Validated } from '../ports/runtime';
import type { Transport, TransportMessage, TransportSubscription } from '../ports/transport';
import { decode, encode } from '../protocol/decode';
import { specHash } from '../protocol/hash';
import type { ComponentInventory, HostInventory, LastApply } from '../protocol/inventory';
import { HostControl, InventoryRequest, type MessageOf, PROTOCOL_VERSION } from '../protocol/messages';
import {
  ComponentSpec,
  type ComponentSpecInput,
  type DirectedLink,
  type LinkSpec,
  type ProviderSpec,
  linkKey,
} from '../protocol/spec';
import { subjects } from '../protocol/subjects';
import { type EffectScope, fromEffect } from './fromEffect';
import { Gate } from './gate';
import { encodeInvokeError, encodeInvokeOk } from './invokeReply';
import { type LinkPlan, type LinkSwap, peerOf, planLinks } from './planLinks';
import { statusOf } from './statusOf';

/** Options of {@link createHost}. */
export interface HostOptions {
  hostId: string;
  lattice: string;
  labels?: Record<string, string>;
  transport: Transport;
  runtime: ComponentRuntime;
  /** Maps provider images to factories; unmatched images get `defaultProvider` (if any). */
  providers?: ProviderRegistry;
  defaultProvider?: LinkProviderFactory;
  clock?: Clock;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Heartbeat interval (ms) for `host.heartbeat` with the full inventory; 0 turns heartbeats off. */
  heartbeatMs?: number;
  /** Address rewrites applied to link config (e.g. `{ '0.0.0.0:8080': '127.0.0.1:0' }`). */
  bindMap?: Record<string, string>;
  /** Calls a gate holds at once (in flight + buffered) before refusing with `gate.overflow`. */
  gateCapacity?: number;
  /** Longest a cut-over waits for in-flight calls before swapping anyway (they still finish on the old instance). */
  drainTimeoutMs?: number;
  /** Longest one provider link call may take before `link.timeout`. */
  linkTimeoutMs?: number;
  /** Longest a download may take, counted from the apply's arrival. */
  fetchTimeoutMs?: number;
}

/** The outcome of a local apply: the same report the host publishes. */
export type HostOutcome =
  | MessageOf<'component.applied'>
  | MessageOf<'component.failed'>
  | { type: 'component.deleted'; hostId: string; componentId: string; kind: WorkloadKind; at: number };

type ApplyInput =
  | MessageOf<'component.apply'>
  | MessageOf<'component.delete'>
  | MessageOf<'provider.apply'>
  | MessageOf<'provider.delete'>;

/** Options of `host.invoke`. */
export interface InvokeOptions {
  /** Blue-green preview: call the standby instance directly (outside the gate); refused when there is none. */
  readonly preview?: boolean;
}

/** A running host: serves invocations through gates, applies specs, reports, never writes shared state. */
export interface Host extends AsyncDisposable {
  readonly hostId: string;
  readonly lattice: string;
  /** Invokes a component through its gate. */
  invoke(componentId: string, operation: string, payload: Uint8Array, options?: InvokeOptions): Promise<Uint8Array>;
  inventory(): HostInventory;
  /**
   * Applies a component spec (unfenced) or any control message (fenced by its lease token: providers and
   * deletes go as messages) and resolves with the outcome.
   * Throws `message.invalid` / `spec.invalid` / `lease.stale` without changing anything.
   */
  apply(input: ComponentSpecInput | ApplyInput | Record<string, unknown>): Promise<HostOutcome>;
  /** The gate of a component (figures for tests and benchmarks). */
  gate(componentId: string): Gate | undefined;
  /** The provider instance serving a provider id. */
  provider(providerId: string): LinkProvider | undefined;
  /** Resolves when no component or provider of this host has work in flight. */
  settled(): Promise<void>;
  /** Listens to every report the host publishes. */
  onReport(listener: (report: HostOutcome | MessageOf<'component.changed'>) => void): () => void;
  stop(): Promise<void>;
}

interface Attempt {
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

/**
 * A component cut-over's gate-closed sequence (drain → swap links → switch instance → reopen), run straight
 * through by the host; the machine follows it state by state once it is over (`pausing` waits for the whole
 * run, `swappingLinks` and `replacing` take their stage's outcome), so no machine step runs while the gate is
 * closed: a macrostep would sit in the same microtask queue, between the link calls.
 */
interface CutoverRun {
  /** The run is over, whatever its outcome. */
  readonly settled: Promise<void>;
  /** Every changed link swapped; rejects with the first refusal (`touched` says how far it got). */
  readonly swapped: Promise<void>;
  /** The new instance serves and the gate is open again. */
  readonly replaced: Promise<void>;
  /** Stops waiting for in-flight calls: the drain deadline passed (they still finish on the old instance). */
  skipDrain(): void;
}

interface Slot {
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
  /** The preview rpc subscription, held only while a standby runs (see `syncPreview`). */
  previewSub: TransportSubscription | undefined;
}

type Effect<TInput, TOutput = void> = (slot: Slot, input: TInput, scope: EffectScope) => Promise<TOutput>;

/** What one kind of workload does in each effect of the component machine, written once per host. */
interface Effects {
  admit: Effect<EffectInput>;
  fetch: Effect<EffectInput>;
  validate: Effect<EffectInput>;
  putLinks: Effect<EffectInput, LinkedOutput>;
  pauseGate: Effect<EffectInput>;
  swapLink: Effect<SwapInput>;
  instantiate: Effect<EffectInput>;
  resumeGate: Effect<EffectInput>;
  restoreLinks: Effect<RestoreInput>;
  disposeInstance: Effect<DisposeInput>;
  stop: Effect<EffectInput>;
  deadline: Effect<DeadlineInput>;
}

// Every component actor is a root actor with its own system, which its invoked effects share: keyed by it, the
// machine is provided once per process instead of once per slot (a provided machine costs ~43 KB and ~1 ms).
const bindings = new WeakMap<object, { readonly slot: Slot; readonly effects: Effects }>();
const bound = <TInput, TOutput>(pick: (effects: Effects) => Effect<TInput, TOutput>) =>
  fromEffect<TOutput, TInput>((input, scope) => {
    const binding = bindings.get(scope.system);
    if (binding === undefined) throw new CutoverError('invoke.failed', 'effect ran outside a host');
    return pick(binding.effects)(binding.slot, input, scope);
  });
const hostedMachine = componentMachine.provide({
  actors: {
    admit: bound((e) => e.admit),
    fetch: bound((e) => e.fetch),
    validate: bound((e) => e.validate),
    putLinks: bound((e) => e.putLinks),
    pauseGate: bound((e) => e.pauseGate),
    swapLink: bound((e) => e.swapLink),
    instantiate: bound((e) => e.instantiate),
    resumeGate: bound((e) => e.resumeGate),
    restoreLinks: bound((e) => e.restoreLinks),
    disposeInstance: bound((e) => e.disposeInstance),
    stop: bound((e) => e.stop),
    deadline: bound((e) => e.deadline),
  },
});

/**
 * Starts a host agent: one component actor per component or provider, an invocation gate per component,
 * the control subjects of DESIGN §6 on `transport`, reports and heartbeats on the host event subject.
 * @example
 * await using host = await createHost({ hostId: 'h1', lattice: 'default', transport, runtime })
 * await host.apply(componentSpec)
 * const reply = await host.invoke('api', 'handle', new TextEncoder().encode('hi'))
 */
export async function createHost(options: HostOptions): Promise<Host> {
  const { hostId, lattice, transport, runtime } = options;
  const clock = options.clock ?? systemClock;
  const labels = options.labels ?? {};
  const linkTimeoutMs = options.linkTimeoutMs ?? 5_000;
  const startedAt = clock.now();
  const leases = new Map<string, number>();
  const slots = new Map<string, Slot>();
  const listeners = new Set<(report: HostOutcome | MessageOf<'component.changed'>) => void>();
  const subs: TransportSubscription[] = [];
  let stopped = false;
  let heartbeat: unknown;

  const slotKey = (kind: WorkloadKind, id: string) => `${kind}:${id}`;
  const componentSlot = (id: string) => slots.get(slotKey('component', id));
  const providerSlot = (id: string) => slots.get(slotKey('provider', id));

  const eventsSubject = subjects.hostEvents(lattice, hostId);
  const publish = (report: HostOutcome | MessageOf<'component.changed'> | MessageOf<'host.heartbeat'>) => {
    if (report.type !== 'host.heartbeat') for (const l of listeners) l(report);
    if (report.type === 'component.deleted' || transport.closed) return;
    transport.publish(eventsSubject, encode(report));
  };

  const mapAddress = (address: string) => options.bindMap?.[address] ?? address;
  const mapLink = <T extends LinkSpec>(link: T): T => {
    if (options.bindMap === undefined) return link;
    const remap = (c: Record<string, string>) =>
      Object.fromEntries(Object.entries(c).map(([k, v]) => [k, mapAddress(v)]));
    return { ...link, sourceConfig: remap(link.sourceConfig), targetConfig: remap(link.targetConfig) };
  };

  const servingProvider = (providerId: string): LinkProvider | undefined => {
    const slot = providerSlot(providerId);
    const hash = slot?.actor.getSnapshot().context.serving?.hash;
    return hash === undefined ? undefined : slot?.providerInstances.get(hash);
  };

  // One timer watches every pending link call (re-armed for the earliest deadline): the swaps of a cut-over then
  // set and clear no timer of their own while the gate is closed.
  const linkCalls = new Set<{ readonly deadline: number; readonly expire: () => void }>();
  let watchdog: unknown;
  let watchdogAt = Number.POSITIVE_INFINITY;
  const watchUntil = (at: number) => {
    if (watchdog !== undefined && watchdogAt <= at) return;
    clock.clearTimeout(watchdog);
    watchdogAt = at;
    watchdog = clock.setTimeout(expireLinkCalls, Math.max(0, at - clock.now()));
  };
  const expireLinkCalls = () => {
    watchdog = undefined;
    watchdogAt = Number.POSITIVE_INFINITY;
    const now = clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const call of linkCalls) {
      if (call.deadline <= now) {
        linkCalls.delete(call);
        call.expire();
      } else if (call.deadline < next) next = call.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) watchUntil(next);
  };

  /** A provider link call bounded by linkTimeoutMs; an unanswered call becomes `link.timeout`. */
  const linkCall = (provider: LinkProvider, op: 'put' | 'delete', link: LinkSpec): Promise<void> => {
    // The controller is made only for a provider that reads the signal (one that may hang): swaps run while
    // a gate is closed, and most providers answer without looking at it. For the same reason this is one
    // promise per call (no async frame, no race, no timer).
    let abort: AbortController | undefined;
    const callOptions: LinkCallOptions = {
      get signal() {
        abort ??= new AbortController();
        return abort.signal;
      },
    };
    return new Promise<void>((resolve, reject) => {
      const watch = {
        deadline: clock.now() + linkTimeoutMs,
        expire: () => {
          abort?.abort();
          reject(
            new CutoverError(
              'link.timeout',
              `provider "${provider.id}" did not answer ${op} of link "${linkKey(link)}" in ${linkTimeoutMs} ms`,
            ),
          );
        },
      };
      linkCalls.add(watch);
      watchUntil(watch.deadline);
      const fail = (error: unknown) => {
        linkCalls.delete(watch);
        const e = toCutoverError(error, 'link.failed');
        reject(e.code === 'invoke.failed' ? new CutoverError('link.failed', e.message, { cause: error }) : e);
      };
      let call: Promise<void>;
      try {
        call =
          op === 'put' ? provider.putLink(mapLink(link), callOptions) : provider.deleteLink(mapLink(link), callOptions);
      } catch (error) {
        fail(error);
        return;
      }
      call.then(() => {
        linkCalls.delete(watch);
        resolve();
      }, fail);
    });
  };

  /** Puts or deletes a component link at its provider end (if that provider runs here); otherwise records only. */
  const componentLink = (op: 'put' | 'delete', link: DirectedLink): Promise<void> => {
    const provider = servingProvider(peerOf(link));
    return provider === undefined ? Promise.resolve() : linkCall(provider, op, stripDirection(link));
  };

  const providerContext: ProviderContext = {
    hostId,
    lattice,
    invoke: (componentId, operation, payload) => host.invoke(componentId, operation, payload),
    mapAddress,
  };

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new CutoverError('invoke.failed', `host "${hostId}" lost ${what}`);
    return value;
  };

  // A deadline clears its timer when its state is left (no AbortController: pausing starts one per cut-over).
  const deadline: Effect<DeadlineInput> = (_slot, input, { onStop }) =>
    new Promise<void>((resolve) => {
      const handle = clock.setTimeout(resolve, Math.max(0, input.at - clock.now()));
      onStop(() => clock.clearTimeout(handle));
    });

  // --- effects of component workloads
  const componentEffects: Effects = {
    admit: async () => {},
    fetch: async (slot, input, { signal }) => {
      const target = need(input.target, 'the target spec');
      const artifact = await runtime.fetch(target.spec.imageRef, { signal });
      if (target.spec.digest !== undefined && artifact.digest !== target.spec.digest) {
        throw new CutoverError(
          'digest.mismatch',
          `"${target.spec.imageRef}" has digest ${artifact.digest}, expected ${target.spec.digest}`,
        );
      }
      slot.artifacts.set(target.hash, artifact);
    },
    validate: async (slot, input) => {
      const target = need(input.target, 'the target spec');
      const artifact = need(slot.artifacts.get(target.hash), 'the fetched artifact');
      slot.validated.set(target.hash, await runtime.validate(artifact, target.spec as ComponentSpec));
    },
    putLinks: async (slot, input) => {
      const target = need(input.target, 'the target spec');
      // A revert to a retained version reuses its instance: nothing is downloaded, validated or started.
      if (!slot.instances.has(target.hash)) prepare(slot, target.hash, target.spec as ComponentSpec);
      const plan = planLinks(slot.links, target.spec.links);
      const attempt: Attempt = { hash: target.hash, plan, added: [], touched: 0, moves: [], pausedGates: [] };
      slot.attempt = attempt;
      try {
        for (const link of plan.add) {
          await componentLink('put', link);
          attempt.added.push(link);
        }
        if (target.standby === true && input.serving !== undefined) {
          // Standby: the new instance runs beside the serving one (preview calls only) before any promote.
          const prepared = slot.prepared.get(target.hash);
          if (prepared !== undefined) {
            slot.prepared.delete(target.hash);
            slot.instances.set(target.hash, await prepared);
          }
          // Listen for preview calls before the standby is reported, so a caller that reacts to the report
          // finds a responder (NATS handles one connection's SUB and PUB in order).
          syncPreview(slot, true);
        }
      } catch (error) {
        await undoAdded(attempt);
        throw error;
      }
      return { at: clock.now(), swaps: plan.swap.length };
    },
    pauseGate: async (slot, input, { onStop }) => {
      const gate = need(slot.gate, 'the gate');
      const attempt = slot.attempt;
      if (slot.pauseHeld) return gate.idle();
      slot.pauseHeld = true;
      if (attempt === undefined || input.target === undefined) return gate.pause();
      const run = startCutover(slot, attempt, input.target, gate);
      attempt.run = run;
      // Left before the run is over: the drain deadline passed, and the swaps go ahead anyway.
      onStop(run.skipDrain);
      return run.settled;
    },
    swapLink: async (slot, input) => {
      const attempt = need(slot.attempt, 'the apply in flight');
      if (attempt.run !== undefined && input.index === 0) {
        attempt.run.skipDrain();
        return attempt.run.swapped;
      }
      await swapLinks(attempt, input.index);
    },
    instantiate: async (slot, input) => {
      const run = slot.attempt?.run;
      if (run !== undefined) {
        // No swaps, and the drain deadline passed: the run goes ahead without waiting for in-flight calls.
        run.skipDrain();
        return run.replaced;
      }
      await replaceInstance(slot, need(input.target, 'the target spec'));
    },
    resumeGate: async (slot, input) => {
      const target = need(input.target, 'the target spec');
      slot.links = [...target.spec.links];
      slot.attempt = undefined;
      ensureServed(slot);
      releasePause(slot);
    },
    restoreLinks: async (slot, input) => {
      const attempt = slot.attempt;
      const problems: string[] = [];
      try {
        if (attempt !== undefined) {
          for (let i = attempt.touched - 1; i >= 0; i--) {
            const swap = attempt.plan.swap[i];
            if (swap === undefined) continue;
            try {
              if (swap.to !== undefined) await componentLink('delete', swap.to).catch(() => undefined);
              if (swap.from !== undefined) await componentLink('put', swap.from);
            } catch (error) {
              problems.push(toCutoverError(error).message);
            }
          }
          problems.push(...(await undoAdded(attempt)));
        }
      } finally {
        // The old instance serves again whatever happened to the links: calls are never stranded.
        const old = input.serving === undefined ? undefined : slot.instances.get(input.serving.hash);
        const gate = slot.gate;
        if (
          gate !== undefined &&
          input.serving !== undefined &&
          old !== undefined &&
          gate.servingHash !== input.serving.hash
        ) {
          gate.setTarget({ hash: input.serving.hash, invoke: (op, payload) => old.invoke(op, payload) });
        }
        if (
          gate !== undefined &&
          input.serving === undefined &&
          input.target !== undefined &&
          gate.servingHash === input.target.hash
        ) {
          gate.setTarget(undefined);
        }
        releasePause(slot);
        slot.attempt = undefined;
      }
      if (problems.length > 0) throw new CutoverError('link.failed', problems.join('; '));
    },
    disposeInstance: async (slot, input) => {
      discardPrepared(slot, input.keep);
      for (const [hash, instance] of [...slot.instances]) {
        if (hash === input.keep || hash === slot.gate?.servingHash) continue;
        await slot.gate?.idle(hash);
        slot.instances.delete(hash);
        await instance.dispose();
      }
      for (const hash of [...slot.artifacts.keys()]) if (hash !== input.keep) slot.artifacts.delete(hash);
      for (const hash of [...slot.validated.keys()]) if (hash !== input.keep) slot.validated.delete(hash);
    },
    stop: async (slot) => {
      discardPrepared(slot, undefined);
      await slot.gate?.close(
        new CutoverError('gate.closed', `component "${slot.id}" is stopping`, { componentId: slot.id, hostId }),
      );
      slot.invokeSub?.unsubscribe();
      slot.invokeSub = undefined;
      for (const link of [...slot.links].sort((a, b) => (linkKey(a) < linkKey(b) ? 1 : -1))) {
        await componentLink('delete', link).catch(() => undefined);
      }
      slot.links = [];
      slot.gate?.setTarget(undefined);
      for (const [hash, instance] of [...slot.instances]) {
        slot.instances.delete(hash);
        // Best effort: a stop always finishes, so a broken instance cannot keep a component alive.
        await Promise.resolve()
          .then(() => instance.dispose())
          .catch(() => undefined);
      }
      slot.artifacts.clear();
      slot.validated.clear();
    },
    deadline,
  };

  /** Swaps every changed link of `attempt` from `from` on, in the plan's order; `touched` tells a restore how far. */
  const swapLinks = async (attempt: Attempt, from: number): Promise<void> => {
    const swaps = attempt.plan.swap;
    for (let i = from; i < swaps.length; i++) {
      const swap: LinkSwap = need(swaps[i], `swap ${i}`);
      attempt.touched = i + 1;
      if (swap.from !== undefined) await componentLink('delete', swap.from);
      if (swap.to !== undefined) await componentLink('put', swap.to);
    }
  };

  /** Points the gate at the new instance and reopens it: the buffer drains (in arrival order) in the same tick. */
  const replaceInstance = async (slot: Slot, target: Desired): Promise<void> => {
    // Started in linking (an instantiate failure still surfaces here, inside the cut-over, and restores).
    const existing = slot.instances.get(target.hash);
    const prepared =
      existing === undefined
        ? (slot.prepared.get(target.hash) ?? prepare(slot, target.hash, target.spec as ComponentSpec))
        : undefined;
    slot.prepared.delete(target.hash);
    const instance = existing ?? (await need(prepared, 'the prepared instance'));
    slot.instances.set(target.hash, instance);
    const gate = need(slot.gate, 'the gate');
    gate.reopen();
    gate.setTarget({ hash: target.hash, invoke: (op, payload) => instance.invoke(op, payload) });
    // Nothing after this can fail: waiting for the `resuming` macrostep would only keep the gate closed longer.
    releasePause(slot);
  };

  /**
   * Runs the gate-closed sequence of a component cut-over straight through. The gate closes a microtask later,
   * once the macrostep that entered `pausing` (and its observers) is done, so none of it counts as pause.
   */
  const startCutover = (slot: Slot, attempt: Attempt, target: Desired, gate: Gate): CutoverRun => {
    let proceed: () => void = () => undefined;
    const drained = new Promise<void>((resolve) => {
      proceed = resolve;
    });
    queueMicrotask(() => gate.pause().then(proceed));
    // A stopping host closed its gates for good and disposes every instance: nothing is swapped or switched in.
    const going = () => stopped || slot.actor.getSnapshot().status !== 'active';
    const lost = () => new CutoverError('host.lost', `host "${hostId}" is stopping`, { hostId });
    const swapped = drained.then(() => {
      if (going()) throw lost();
      return swapLinks(attempt, 0);
    });
    const replaced = swapped.then(() => {
      if (going()) throw lost();
      return replaceInstance(slot, target);
    });
    // Their effects report them; a run the machine left behind (a stopped actor) has no one to tell.
    swapped.catch(() => undefined);
    const settled = replaced.then(
      () => undefined,
      () => undefined,
    );
    return { settled, swapped, replaced, skipDrain: () => proceed() };
  };

  /** Starts the instance of `hash` ahead of the cut-over; a failure is kept for `replacing` to report. */
  const prepare = (slot: Slot, hash: string, spec: ComponentSpec): Promise<ComponentInstance> => {
    slot.prepared.get(hash)?.then(
      (stale) => stale.dispose(),
      () => undefined,
    );
    const validated = slot.validated.get(hash);
    const instance =
      validated === undefined
        ? Promise.reject(new CutoverError('invoke.failed', `host "${hostId}" lost the validated artifact`))
        : Promise.resolve().then(() => runtime.instantiate(validated, spec));
    instance.catch(() => undefined);
    slot.prepared.set(hash, instance);
    return instance;
  };
  /** Disposes instances prepared for applies that never reached `replacing`. */
  const discardPrepared = (slot: Slot, keep: string | undefined) => {
    for (const [hash, instance] of [...slot.prepared]) {
      if (hash === keep) continue;
      slot.prepared.delete(hash);
      instance.then(
        (i) => i.dispose(),
        () => undefined,
      );
    }
  };

  const undoAdded = async (attempt: Attempt): Promise<string[]> => {
    const problems: string[] = [];
    for (const link of attempt.added.splice(0).reverse()) {
      await componentLink('delete', link).catch((error: unknown) => problems.push(toCutoverError(error).message));
    }
    return problems;
  };

  // --- effects of provider workloads: the "instance" is a LinkProvider; its links move under the gates
  const linksTo = (providerId: string): LinkSpec[] => {
    const seen = new Map<string, LinkSpec>();
    for (const s of slots.values()) {
      if (s.kind !== 'component') continue;
      for (const l of s.links) if (peerOf(l) === providerId) seen.set(linkKey(l), stripDirection(l));
    }
    return [...seen.values()].sort((a, b) => (linkKey(a) < linkKey(b) ? -1 : 1));
  };
  const gatesOf = (links: readonly LinkSpec[], providerId: string): Gate[] => {
    const ids = new Set(links.map((l) => (l.source === providerId ? l.target : l.source)));
    return [...ids].flatMap((id) => componentSlot(id)?.gate ?? []);
  };

  const providerEffects: Effects = {
    admit: async () => {},
    fetch: async (slot, input) => {
      const target = need(input.target, 'the target spec');
      const factory = options.providers?.resolve(target.spec.imageRef) ?? options.defaultProvider;
      if (factory === undefined)
        throw new CutoverError('fetch.notFound', `no provider for image "${target.spec.imageRef}"`);
      slot.factories.set(target.hash, factory);
    },
    validate: async () => {},
    putLinks: async (slot, input) => {
      const target = need(input.target, 'the target spec');
      const factory = need(slot.factories.get(target.hash), 'the provider factory');
      let instance: LinkProvider;
      try {
        instance = await factory(target.spec as ProviderSpec, providerContext);
      } catch (error) {
        throw toCutoverError(error, 'provider.failed');
      }
      slot.providerInstances.set(target.hash, instance);
      const old = input.serving === undefined ? undefined : slot.providerInstances.get(input.serving.hash);
      const moves = old === undefined ? [] : [...old.links()].sort((a, b) => (linkKey(a) < linkKey(b) ? -1 : 1));
      const attempt: Attempt = {
        hash: target.hash,
        plan: { add: [], swap: [], keep: [] },
        added: [],
        touched: 0,
        moves,
        pausedGates: [],
      };
      slot.attempt = attempt;
      if (old === undefined) {
        // A first install picks up links recorded while the provider was missing.
        try {
          for (const link of linksTo(slot.id)) await linkCall(instance, 'put', link);
        } catch (error) {
          slot.providerInstances.delete(target.hash);
          await instance.stop();
          throw error;
        }
      }
      return { at: clock.now(), swaps: moves.length };
    },
    pauseGate: async (slot) => {
      const attempt = need(slot.attempt, 'the apply in flight');
      if (!slot.pauseHeld) {
        slot.pauseHeld = true;
        attempt.pausedGates = gatesOf(attempt.moves, slot.id);
        await Promise.all(attempt.pausedGates.map((g) => g.pause()));
      } else await Promise.all(attempt.pausedGates.map((g) => g.idle()));
    },
    swapLink: async (slot, input) => {
      const attempt = need(slot.attempt, 'the apply in flight');
      const old = need(input.serving && slot.providerInstances.get(input.serving.hash), 'the old provider');
      const next = need(input.target && slot.providerInstances.get(input.target.hash), 'the new provider');
      for (let i = input.index; i < attempt.moves.length; i++) {
        const link = need(attempt.moves[i], `link ${i}`);
        attempt.touched = i + 1;
        await linkCall(old, 'delete', link);
        await linkCall(next, 'put', link);
      }
    },
    instantiate: async () => {},
    resumeGate: async (slot) => {
      const attempt = slot.attempt;
      slot.attempt = undefined;
      if (slot.pauseHeld) {
        slot.pauseHeld = false;
        for (const g of attempt?.pausedGates ?? []) g.resume();
        publishChanged(slot);
      }
    },
    restoreLinks: async (slot, input) => {
      const attempt = slot.attempt;
      const problems: string[] = [];
      const old = input.serving === undefined ? undefined : slot.providerInstances.get(input.serving.hash);
      const next = input.target === undefined ? undefined : slot.providerInstances.get(input.target.hash);
      try {
        if (attempt !== undefined && old !== undefined) {
          for (let i = attempt.touched - 1; i >= 0; i--) {
            const link = attempt.moves[i];
            if (link === undefined) continue;
            if (next !== undefined) await linkCall(next, 'delete', link).catch(() => undefined);
            await linkCall(old, 'put', link).catch((error: unknown) => problems.push(toCutoverError(error).message));
          }
        }
      } finally {
        if (slot.pauseHeld) {
          slot.pauseHeld = false;
          for (const g of attempt?.pausedGates ?? []) g.resume();
          publishChanged(slot);
        }
        slot.attempt = undefined;
      }
      if (problems.length > 0) throw new CutoverError('link.failed', problems.join('; '));
    },
    disposeInstance: async (slot, input) => {
      for (const [hash, instance] of [...slot.providerInstances]) {
        if (hash === input.keep) continue;
        slot.providerInstances.delete(hash);
        await instance.stop();
      }
      for (const hash of [...slot.factories.keys()]) if (hash !== input.keep) slot.factories.delete(hash);
    },
    stop: async (slot) => {
      for (const [hash, instance] of [...slot.providerInstances]) {
        slot.providerInstances.delete(hash);
        await instance.stop().catch(() => undefined);
      }
    },
    deadline,
  };

  const ensureServed = (slot: Slot) => {
    if (slot.kind !== 'component' || slot.invokeSub !== undefined || transport.closed) return;
    slot.invokeSub = transport.subscribe(
      subjects.invokeAll(lattice, slot.id),
      async (msg: TransportMessage) => {
        const operation = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        try {
          return encodeInvokeOk(await host.invoke(slot.id, operation, msg.data));
        } catch (error) {
          return encodeInvokeError(error);
        }
      },
      { queue: slot.id },
    );
  };

  /**
   * Preview traffic over the transport: `wasmbus.rpc.{lattice}.{componentId}.{operation}.preview`
   * (`subjects.invokePreview`). Only a host holding a standby subscribes (queue group `{componentId}.preview`),
   * so preview calls reach standbys only, and a lattice without one answers `transport.noResponders`
   * (`invokeRemote` with `preview` turns that into `invoke.notFound`).
   */
  const syncPreview = (slot: Slot, standby: boolean) => {
    if (slot.kind !== 'component' || standby === (slot.previewSub !== undefined)) return;
    if (!standby || stopped || transport.closed) {
      slot.previewSub?.unsubscribe();
      slot.previewSub = undefined;
      return;
    }
    slot.previewSub = transport.subscribe(
      subjects.invokePreviewAll(lattice, slot.id),
      async (msg: TransportMessage) => {
        const operation = msg.subject.split('.').at(-2) ?? '';
        try {
          return encodeInvokeOk(await host.invoke(slot.id, operation, msg.data, { preview: true }));
        } catch (error) {
          return encodeInvokeError(error);
        }
      },
      { queue: `${slot.id}.preview` },
    );
  };

  const componentInventory = (slot: Slot, known?: ReturnType<typeof statusOf>): ComponentInventory => {
    const snap = slot.actor.getSnapshot();
    const { status, phase } = known ?? statusOf(snap.value);
    const c = snap.context;
    const out: ComponentInventory = { id: slot.id, app: slot.app, kind: slot.kind, status, links: [...slot.links] };
    if (c.serving !== undefined) {
      out.servingHash = c.serving.hash;
      out.servingImageRef = c.serving.spec.imageRef;
    }
    if (c.target !== undefined && phase !== undefined) out.pending = { hash: c.target.hash, phase };
    if (slot.lastApply !== undefined) out.lastApply = slot.lastApply;
    if (slot.gate !== undefined) out.gate = slot.gate.stats();
    return out;
  };

  const onEmitted = (slot: Slot, e: ComponentEmitted) => {
    const at = clock.now();
    const report: HostOutcome =
      e.type === 'component.applied'
        ? {
            type: 'component.applied',
            version: PROTOCOL_VERSION,
            hostId,
            at,
            app: slot.app,
            componentId: slot.id,
            kind: slot.kind,
            hash: e.hash,
          }
        : {
            type: 'component.failed',
            version: PROTOCOL_VERSION,
            hostId,
            at,
            app: slot.app,
            componentId: slot.id,
            kind: slot.kind,
            hash: e.hash,
            code: e.code,
            reason: e.reason,
          };
    if (e.type === 'component.applied') slot.lastApply = { hash: e.hash, outcome: 'applied', at };
    else
      slot.lastApply = {
        hash: e.hash,
        outcome: e.code === 'superseded' ? 'superseded' : 'failed',
        code: e.code,
        reason: e.reason,
        at,
      };
    publish(report);
    const waiting = slot.waiters.get(e.hash);
    slot.waiters.delete(e.hash);
    for (const resolve of waiting ?? []) resolve(report);
  };

  /** Reopens a gate this slot's cut-over closed, then publishes what changed while it was closed. */
  const releasePause = (slot: Slot) => {
    if (!slot.pauseHeld) return;
    slot.pauseHeld = false;
    slot.gate?.resume();
    publishChanged(slot);
  };

  /** Publishes `component.changed` when something reportable changed since the last report. */
  const publishChanged = (slot: Slot) => {
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
    publish({
      type: 'component.changed',
      version: PROTOCOL_VERSION,
      hostId,
      at: clock.now(),
      component: componentInventory(slot, known),
    });
  };

  const createSlot = (kind: WorkloadKind, id: string, app: string): Slot => {
    const slot = {
      id,
      kind,
      app,
      gate:
        kind === 'component'
          ? new Gate({
              componentId: id,
              ...(options.gateCapacity === undefined ? {} : { capacity: options.gateCapacity }),
            })
          : undefined,
      artifacts: new Map(),
      validated: new Map(),
      instances: new Map(),
      prepared: new Map(),
      providerInstances: new Map(),
      factories: new Map(),
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
    bindings.set(actor.system, { slot, effects: kind === 'component' ? componentEffects : providerEffects });
    actor.on('component.applied', (e) => onEmitted(slot, e));
    actor.on('component.failed', (e) => onEmitted(slot, e));
    actor.subscribe({
      next: (snap) => {
        // While this slot holds its gate closed the report waits for the reopening (publishChanged is called
        // right after resume), so building and encoding the inventory never lengthens the pause.
        if (!slot.pauseHeld) publishChanged(slot);
        // Subscribed by putLinks just before the standby is reported (still `linking` then); gone when it is left.
        const previewing = snap.matches('standby') || (snap.matches('linking') && slot.previewSub !== undefined);
        syncPreview(slot, snap.status === 'active' && previewing);
        if (snap.status === 'done') {
          slots.delete(slotKey(kind, id));
          const at = clock.now();
          for (const resolve of slot.deleteWaiters.splice(0))
            resolve({ type: 'component.deleted', hostId, componentId: id, kind, at });
        }
      },
      error: () => undefined,
    });
    slots.set(slotKey(kind, id), slot);
    actor.start();
    return slot;
  };

  /** Validates, fences and dispatches one control message; returns its hash and the outcome promise. */
  const control = (raw: unknown): { hash: string | undefined; outcome: Promise<HostOutcome> } =>
    fence(decode(raw, HostControl));

  /** Fences an already validated control message by its lease token, then dispatches it. */
  const fence = (message: HostControl): { hash: string | undefined; outcome: Promise<HostOutcome> } => {
    const held = leases.get(message.app) ?? 0;
    if (message.leaseToken < held) {
      throw new CutoverError(
        'lease.stale',
        `lease token ${message.leaseToken} for app "${message.app}" is older than ${held}`,
        { hostId },
      );
    }
    leases.set(message.app, message.leaseToken);
    return dispatch(message);
  };

  const dispatch = (message: HostControl): { hash: string | undefined; outcome: Promise<HostOutcome> } => {
    if (stopped) throw new CutoverError('host.lost', `host "${hostId}" is stopped`, { hostId });
    const at = clock.now();
    if (message.type === 'component.apply' || message.type === 'provider.apply') {
      const kind: WorkloadKind = message.type === 'component.apply' ? 'component' : 'provider';
      const hash = specHash(message.spec, kind);
      const slot = slots.get(slotKey(kind, message.spec.id)) ?? createSlot(kind, message.spec.id, message.spec.app);
      slot.app = message.spec.app;
      const outcome = new Promise<HostOutcome>((resolve) => {
        const list = slot.waiters.get(hash) ?? [];
        list.push(resolve);
        slot.waiters.set(hash, list);
      });
      const standby = message.type === 'component.apply' && message.mode === 'standby';
      slot.actor.send({ type: 'component.apply', spec: message.spec, hash, at, ...(standby ? { standby } : {}) });
      return { hash, outcome };
    }
    if (message.type === 'component.promote' || message.type === 'component.revert') {
      const slot = slots.get(slotKey('component', message.componentId));
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
      const key = hash ?? '';
      const outcome = new Promise<HostOutcome>((resolve) => {
        const list = slot.waiters.get(key) ?? [];
        list.push(resolve);
        slot.waiters.set(key, list);
      });
      slot.actor.send(event);
      return { hash, outcome };
    }
    const kind: WorkloadKind = message.type === 'component.delete' ? 'component' : 'provider';
    const id = message.type === 'component.delete' ? message.componentId : message.providerId;
    const slot = slots.get(slotKey(kind, id));
    if (slot === undefined)
      return {
        hash: undefined,
        outcome: Promise.resolve({ type: 'component.deleted', hostId, componentId: id, kind, at }),
      };
    const outcome = new Promise<HostOutcome>((resolve) => slot.deleteWaiters.push(resolve));
    slot.actor.send({ type: 'component.delete', at });
    return { hash: undefined, outcome };
  };

  const inventory = (): HostInventory => ({
    schema: 1,
    hostId,
    lattice,
    labels: { ...labels },
    startedAt,
    at: clock.now(),
    leases: Object.fromEntries(leases),
    components: Array.from(slots.values(), (slot) => componentInventory(slot)),
  });

  const errorReply = (error: unknown) => {
    const e = toCutoverError(error);
    return encode({
      type: 'error',
      version: PROTOCOL_VERSION,
      code: e.code,
      message: e.message,
      retryable: e.retryable,
      ...(e.issues === undefined ? {} : { issues: e.issues }),
    });
  };
  const inventoryReply = () =>
    encode({ type: 'host.inventory.reply', version: PROTOCOL_VERSION, inventory: inventory() });

  const CONTROL_TYPES: Record<string, HostControl['type']> = {
    'component.apply': 'component.apply',
    'component.delete': 'component.delete',
    'provider.apply': 'provider.apply',
    'provider.delete': 'provider.delete',
    'component.promote': 'component.promote',
    'component.revert': 'component.revert',
  };
  const controlPrefix = subjects.hostControl(lattice, hostId).slice(0, -1);
  subs.push(
    transport.subscribe(subjects.hostControl(lattice, hostId), (msg) => {
      const op = msg.subject.slice(controlPrefix.length);
      try {
        if (op === 'inventory') {
          decode(msg.data, InventoryRequest);
          return inventoryReply();
        }
        const expected = CONTROL_TYPES[op];
        if (expected === undefined)
          throw new CutoverError('message.invalid', `unknown control subject "${msg.subject}"`);
        const message = decode(msg.data, HostControl);
        if (message.type !== expected) {
          throw new CutoverError('message.invalid', `message "${message.type}" sent to "${op}"`, {
            issues: [{ path: 'type', message: `expected "${expected}"` }],
          });
        }
        const { hash } = fence(message);
        return encode({ type: 'accepted', version: PROTOCOL_VERSION, hostId, ...(hash === undefined ? {} : { hash }) });
      } catch (error) {
        return errorReply(error);
      }
    }),
    transport.subscribe(subjects.hostsPing(lattice), () => inventoryReply()),
  );

  const beat = () => {
    if (stopped) return;
    const at = clock.now();
    publish({ type: 'host.heartbeat', version: PROTOCOL_VERSION, hostId, at, inventory: inventory() });
    heartbeat = clock.setTimeout(beat, heartbeatMs);
  };
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  // The first heartbeat goes out at once: it is how an orchestrator learns that a host joined.
  if (heartbeatMs > 0) heartbeat = clock.setTimeout(beat, 0);

  const isBusy = () => [...slots.values()].some((s) => s.actor.getSnapshot().hasTag('busy'));

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clock.clearTimeout(heartbeat);
    // Close every gate BEFORE leaving the invocation subjects: a call the transport already delivered to this
    // host is then refused with a coded `host.lost` reply (the caller retries elsewhere) instead of vanishing
    // with the subscription. The flush lets everything delivered so far reach the closed gates first.
    // Draining (where the transport can) also answers what the server routed here before it saw us leave.
    const lost = new CutoverError('host.lost', `host "${hostId}" is stopping`, { hostId });
    const draining = [...slots.values()].map((slot) => slot.gate?.close(lost));
    await transport.flush().catch(() => undefined);
    for (const s of subs.splice(0)) s.unsubscribe();
    for (const slot of slots.values()) syncPreview(slot, false);
    await Promise.all(
      [...slots.values()].map(async (slot) => {
        const sub = slot.invokeSub;
        if (sub?.drain) await sub.drain().catch(() => sub.unsubscribe());
        else sub?.unsubscribe();
      }),
    );
    await transport.flush().catch(() => undefined);
    await Promise.all(draining);
    for (const slot of [...slots.values()]) {
      slot.actor.stop();
      discardPrepared(slot, undefined);
      for (const instance of slot.instances.values()) await instance.dispose();
      for (const p of slot.providerInstances.values()) await p.stop();
    }
    slots.clear();
  };

  const host: Host = {
    hostId,
    lattice,
    invoke(componentId, operation, payload, options) {
      const slot = componentSlot(componentId);
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
    },
    inventory,
    async apply(input) {
      const record = input as Record<string, unknown>;
      if (typeof record.type === 'string') return control(input).outcome;
      const parsed = ComponentSpec.safeParse(input);
      if (!parsed.success) throw decodeError(parsed.error, 'spec.invalid');
      const spec = parsed.data;
      const message: HostControl = {
        type: 'component.apply',
        version: PROTOCOL_VERSION,
        app: spec.app,
        leaseToken: leases.get(spec.app) ?? 0,
        spec,
      };
      return dispatch(message).outcome;
    },
    gate: (componentId) => componentSlot(componentId)?.gate,
    provider: (providerId) => servingProvider(providerId),
    async settled() {
      while (isBusy()) await new Promise((r) => setTimeout(r, 1));
    },
    onReport(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return host;
}

function stripDirection(link: DirectedLink): LinkSpec {
  const { direction: _direction, ...rest } = link;
  return rest;
}

function decodeError(error: import('zod').ZodError, code: ErrorCode): CutoverError {
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
