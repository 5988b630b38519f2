import { CutoverError, hasCode, isErrorCode } from '../errors';
import type { Clock } from '../ports/clock';
import type { Transport } from '../ports/transport';
import { decode, encode, parseJson } from '../protocol/decode';
import type { ComponentInventory, HostInventory } from '../protocol/inventory';
import { ControlReply, HostHeartbeat, InventoryReply, PROTOCOL_VERSION } from '../protocol/messages';
import type { ComponentSpec, ProviderSpec } from '../protocol/spec';
import { subjects } from '../protocol/subjects';

export interface LatticeClientOptions {
  transport: Transport;
  lattice: string;
  clock: Clock;
  requestTimeoutMs: number;
  /** A scatter/gather ends this long (ms, transport time) after the last reply. */
  stallMs?: number;
}

/**
 * The orchestrator's view of the hosts: inventory queries, scatter/gather, fenced control requests
 * and a wake-up whenever a host reports (reports only speed verification up; it is level-triggered).
 */
export class LatticeClient {
  readonly known = new Map<string, HostInventory>();
  /** Counts host reports, so a wait can tell whether one arrived since a round began. */
  generation = 0;
  private readonly reported = new Map<string, number>();
  /** True once a scatter/gather ended by a stall, so every host that is there answered one. */
  private gathered = false;
  private readonly waiters = new Set<() => void>();
  private readonly sub;

  constructor(private readonly o: LatticeClientOptions) {
    const prefix = subjects.allHostEvents(o.lattice).slice(0, -1);
    this.sub = o.transport.subscribe(subjects.allHostEvents(o.lattice), (msg) => {
      // Reports only say "look again at this host" (verification re-reads inventories), so the sender is
      // taken from the subject, which a host publishes on (and NATS permissions bind to it), and the payload
      // is parsed only when it may be a heartbeat, whose inventory is validated before it is kept. At 10,000
      // hosts, a full parse of every component report was a measurable share of a rollout.
      const hostId = msg.subject.startsWith(prefix) ? msg.subject.slice(prefix.length) : '';
      if (hostId.length === 0) return;
      if (mayBeHeartbeat(msg.data)) {
        let raw: unknown;
        try {
          raw = parseJson(msg.data);
        } catch {
          return;
        }
        if ((raw as { type?: unknown } | null)?.type === 'host.heartbeat') {
          const beat = HostHeartbeat.safeParse(raw);
          if (beat.success && beat.data.hostId === hostId) this.known.set(hostId, beat.data.inventory);
        }
      }
      this.generation++;
      this.reported.set(hostId, this.generation);
      this.wake();
    });
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolves on the next host report (at once if one came since `since`), after `ms` on the clock, or on abort. */
  changed(ms: number, signal?: AbortSignal, since?: number): Promise<void> {
    if (since !== undefined && since !== this.generation) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.o.clock.clearTimeout(handle);
        this.waiters.delete(done);
        resolve();
      };
      const handle = this.o.clock.setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** True when `hostId` reported after generation `since`. */
  reportedAfter(hostId: string, since: number): boolean {
    return (this.reported.get(hostId) ?? 0) > since;
  }

  /** Every host's inventory (scatter/gather). */
  async ping(): Promise<HostInventory[]> {
    // Once a gather has ended by a stall, `known` names every host (a joining host announces itself with a
    // heartbeat), so a gather ends when they all answered. Before that, `known` may hold the few hosts heard
    // from since this orchestrator started: ending at that count would plan a rollout without the others.
    const expected = this.gathered && this.known.size > 0 ? this.known.size : undefined;
    const replies = await this.o.transport.requestMany(
      subjects.hostsPing(this.o.lattice),
      encode({ type: 'host.inventory', version: PROTOCOL_VERSION }),
      {
        maxWaitMs: this.o.requestTimeoutMs,
        stallMs: this.o.stallMs ?? 100,
        ...(expected === undefined ? {} : { expected }),
      },
    );
    if (expected === undefined && replies.length > 0) this.gathered = true;
    const out: HostInventory[] = [];
    for (const r of replies) {
      try {
        out.push(decode(r, InventoryReply).inventory);
      } catch {
        // A host answering garbage is treated as not answering.
      }
    }
    // Known hosts that did not answer within the window of `expected` replies get one direct try.
    const seen = new Set(out.map((i) => i.hostId));
    const missing = [...this.known.keys()].filter((h) => !seen.has(h));
    const direct = await Promise.all(missing.map((h) => this.inventory(h)));
    for (const inv of direct) if (inv) out.push(inv);
    const alive = new Set(out.map((i) => i.hostId));
    for (const h of missing) if (!alive.has(h)) this.known.delete(h);
    for (const inv of out) this.known.set(inv.hostId, inv);
    return out.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  }

  /** One host's inventory, or null when the host is lost (no responders or no answer). */
  async inventory(hostId: string): Promise<HostInventory | null> {
    try {
      const data = await this.requestHost(
        subjects.inventory(this.o.lattice, hostId),
        encode({ type: 'host.inventory', version: PROTOCOL_VERSION }),
      );
      const inv = decode(data, InventoryReply).inventory;
      this.known.set(hostId, inv);
      return inv;
    } catch (e) {
      if (hasCode(e, 'transport.noResponders') || hasCode(e, 'transport.timeout') || hasCode(e, 'message.invalid'))
        return null;
      throw e;
    }
  }

  /** Sends a fenced control request; resolves when accepted, throws the host's coded refusal. */
  async control(
    hostId: string,
    app: string,
    leaseToken: number,
    op:
      | { type: 'component.apply'; spec: ComponentSpec; mode?: 'replace' | 'standby' }
      | { type: 'provider.apply'; spec: ProviderSpec }
      | { type: 'component.delete'; componentId: string }
      | { type: 'provider.delete'; providerId: string }
      | { type: 'component.promote'; componentId: string; keepOldForMs: number }
      | { type: 'component.revert'; componentId: string },
  ): Promise<void> {
    const SUBJECTS = {
      'component.apply': subjects.componentApply,
      'provider.apply': subjects.providerApply,
      'component.delete': subjects.componentDelete,
      'provider.delete': subjects.providerDelete,
      'component.promote': subjects.componentPromote,
      'component.revert': subjects.componentRevert,
    } as const;
    const subject = SUBJECTS[op.type](this.o.lattice, hostId);
    const body = encode({ ...op, version: PROTOCOL_VERSION, app, leaseToken });
    // A revert that landed unanswered would be refused when sent again, so it is sent once.
    const data = await this.requestHost(subject, body, op.type === 'component.revert' ? 1 : REQUEST_ATTEMPTS);
    const reply = decode(data, ControlReply);
    if (reply.type === 'error') {
      const code = reply.code;
      throw new CutoverError(isErrorCode(code) ? code : 'invoke.failed', reply.message, {
        hostId,
        subject,
        retryable: reply.retryable,
      });
    }
  }

  /**
   * A request to one host, sent again when it times out: NATS core delivers at most once, so a request (or
   * its reply) in flight while the server restarts is lost though the host is alive. Sending it again is safe:
   * a host joins an apply of the hash it serves or has in flight, and a delete of what it lacks is a no-op.
   */
  private async requestHost(subject: string, data: Uint8Array, attempts = REQUEST_ATTEMPTS): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.o.transport.request(subject, data, { timeoutMs: this.o.requestTimeoutMs });
      } catch (e) {
        if (attempt >= attempts || !hasCode(e, 'transport.timeout')) throw e;
      }
    }
  }

  close(): void {
    this.sub.unsubscribe();
    this.wake();
  }
}

/** Sends of one request to a host before it counts as lost (no answer at all). */
const REQUEST_ATTEMPTS = 2;

const HEARTBEAT = Buffer.from('host.heartbeat');

/** False when the bytes cannot be a heartbeat (its type string is absent), so no parse is needed. */
function mayBeHeartbeat(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).includes(HEARTBEAT);
}

/** The app's workloads on a host. */
export function appWorkloads(inv: HostInventory, app: string): ComponentInventory[] {
  return inv.components.filter((c) => c.app === app);
}

/** True when the error means the host is gone rather than refusing. */
export function isHostLost(e: unknown): boolean {
  return hasCode(e, 'transport.noResponders') || hasCode(e, 'transport.timeout');
}
