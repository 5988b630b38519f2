/**
 * Links: every put or delete of a link at a provider. `call` bounds one provider call by `linkTimeoutMs` (one
 * watchdog timer for every pending call, re-armed for the earliest deadline) and applies the bind map to the
 * link's addresses. A component's link goes to its provider end only when that provider serves on this host;
 * otherwise it is parked: recorded in the component's slot only, and put by the provider's first install
 * (`parkedFor`). It must not pause or reopen gates, change which links a slot holds, or decide what to undo:
 * the effects do, and call these.
 */
import { CutoverError, toCutoverError } from '../errors';
import type { LinkCallOptions, LinkProvider } from '../ports/provider';
import { type DirectedLink, type LinkSpec, linkKey } from '../protocol/spec';
import type { HostContext } from './context';
import { peerOf } from './planLinks';
import type { Attempt, Slots } from './slots';

/** A pending provider call: when it is due, and how it fails then. */
interface PendingCall {
  readonly deadline: number;
  readonly expire: () => void;
}

/** One host's link calls to providers, with their timeouts. */
export class Links {
  // One timer watches every pending link call (re-armed for the earliest deadline): the swaps of a cut-over then
  // set and clear no timer of their own while the gate is closed.
  private readonly pending = new Set<PendingCall>();
  private watchdog: unknown;
  private watchdogAt = Number.POSITIVE_INFINITY;
  private readonly timeoutMs: number;

  constructor(
    private readonly ctx: HostContext,
    private readonly slots: Slots,
  ) {
    this.timeoutMs = ctx.options.linkTimeoutMs ?? 5_000;
  }

  /** The bind-map rewrite of one address (itself when unmapped); providers get it through their context. */
  readonly mapAddress = (address: string): string => this.ctx.options.bindMap?.[address] ?? address;

  /** A provider link call bounded by linkTimeoutMs; an unanswered call becomes `link.timeout`. */
  call(provider: LinkProvider, op: 'put' | 'delete', link: LinkSpec): Promise<void> {
    const { clock } = this.ctx;
    const linkTimeoutMs = this.timeoutMs;
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
      const watch: PendingCall = {
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
      this.pending.add(watch);
      this.watchUntil(watch.deadline);
      const fail = (error: unknown) => {
        this.pending.delete(watch);
        const e = toCutoverError(error, 'link.failed');
        reject(e.code === 'invoke.failed' ? new CutoverError('link.failed', e.message, { cause: error }) : e);
      };
      let call: Promise<void>;
      try {
        call =
          op === 'put'
            ? provider.putLink(this.mapLink(link), callOptions)
            : provider.deleteLink(this.mapLink(link), callOptions);
      } catch (error) {
        fail(error);
        return;
      }
      call.then(() => {
        this.pending.delete(watch);
        resolve();
      }, fail);
    });
  }

  /** Puts or deletes a component link at its provider end (if that provider runs here); otherwise records only. */
  component(op: 'put' | 'delete', link: DirectedLink): Promise<void> {
    const provider = this.slots.servingProvider(peerOf(link));
    return provider === undefined ? Promise.resolve() : this.call(provider, op, stripDirection(link));
  }

  /** The links components here hold to `providerId`, parked until it serves, in key order. */
  parkedFor(providerId: string): LinkSpec[] {
    const seen = new Map<string, LinkSpec>();
    for (const s of this.slots.values()) {
      if (s.kind !== 'component') continue;
      for (const l of s.links) if (peerOf(l) === providerId) seen.set(linkKey(l), stripDirection(l));
    }
    return [...seen.values()].sort((a, b) => (linkKey(a) < linkKey(b) ? -1 : 1));
  }

  /** Deletes the links an attempt put in `linking`, newest first; returns the refusals instead of throwing. */
  async undoAdded(attempt: Attempt): Promise<string[]> {
    const problems: string[] = [];
    for (const link of attempt.added.splice(0).reverse()) {
      await this.component('delete', link).catch((error: unknown) => problems.push(toCutoverError(error).message));
    }
    return problems;
  }

  private mapLink<T extends LinkSpec>(link: T): T {
    if (this.ctx.options.bindMap === undefined) return link;
    const remap = (c: Record<string, string>) =>
      Object.fromEntries(Object.entries(c).map(([k, v]) => [k, this.mapAddress(v)]));
    return { ...link, sourceConfig: remap(link.sourceConfig), targetConfig: remap(link.targetConfig) };
  }

  private watchUntil(at: number): void {
    const { clock } = this.ctx;
    if (this.watchdog !== undefined && this.watchdogAt <= at) return;
    clock.clearTimeout(this.watchdog);
    this.watchdogAt = at;
    this.watchdog = clock.setTimeout(this.expire, Math.max(0, at - clock.now()));
  }

  /** Fails every call past its deadline, then re-arms the watchdog for the earliest one left. */
  private readonly expire = (): void => {
    this.watchdog = undefined;
    this.watchdogAt = Number.POSITIVE_INFINITY;
    const now = this.ctx.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const call of this.pending) {
      if (call.deadline <= now) {
        this.pending.delete(call);
        call.expire();
      } else if (call.deadline < next) next = call.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.watchUntil(next);
  };
}

/** A link without its direction: what a provider is given. */
export function stripDirection(link: DirectedLink): LinkSpec {
  const { direction: _direction, ...rest } = link;
  return rest;
}
