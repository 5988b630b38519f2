/**
 * What every part of one host reads: its identity, its ports, its options, and whether it is stopping. It owns
 * no other state: the slots, pending link calls, report listeners, lease tokens and subscriptions each live in
 * their own part, which gets this context (and the other parts it calls) explicitly when the host is wired.
 * Nothing here may grow behaviour beyond the one `need` guard every effect uses.
 */
import { CutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { ComponentRuntime } from '../ports/runtime';
import type { Transport } from '../ports/transport';
import type { HostOptions } from './types';

/** One host's identity, ports and options, shared read-only by its parts; `stopped` is set once by `stop`. */
export interface HostContext {
  readonly hostId: string;
  readonly lattice: string;
  readonly transport: Transport;
  readonly runtime: ComponentRuntime;
  readonly clock: Clock;
  readonly options: HostOptions;
  /** Set when `stop` begins: previews, cut-over runs, dispatch and heartbeats check it. */
  stopped: boolean;
}

/** Returns `value`, or throws `invoke.failed` naming what the host lost (a state the machine should rule out). */
export function need<T>(ctx: HostContext, value: T | undefined, what: string): T {
  if (value === undefined) throw new CutoverError('invoke.failed', `host "${ctx.hostId}" lost ${what}`);
  return value;
}
