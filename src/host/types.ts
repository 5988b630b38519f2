/**
 * The public shape of a host: its options, the object `createHost` returns, and the outcome of an apply. Owns
 * only types (re-exported by `createHost.ts`, so importers keep their paths); it must not hold behaviour or
 * anything the parts share among themselves (that is `context.ts`).
 */
import type { InspectionEvent, Observer } from 'xstate';
import type { WorkloadKind } from '../../machines/component/types';
import type { Clock } from '../ports/clock';
import type { LinkProvider, LinkProviderFactory, ProviderRegistry } from '../ports/provider';
import type { ComponentRuntime } from '../ports/runtime';
import type { Transport } from '../ports/transport';
import type { HostInventory } from '../protocol/inventory';
import type { MessageOf } from '../protocol/messages';
import type { ComponentSpecInput } from '../protocol/spec';
import type { Gate } from './gate';

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

/** The control messages `host.apply` takes besides a bare component spec. */
export type ApplyInput =
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
  /** Resolves when no component or provider of this host has work in flight and its reports have left. */
  settled(): Promise<void>;
  /** Listens to every report the host publishes. */
  onReport(listener: (report: HostOutcome | MessageOf<'component.changed'>) => void): () => void;
  stop(): Promise<void>;
}
