// The orchestrator's one client of the hosts: reports, scatter/gather, inventories, fenced control requests and
// takeover fencing. About 400 lines on purpose: every request to a host goes through `requestHost` here (waiting
// out outages via `Connectivity`, re-sending what timed out), so the retry and fencing rules live in one place.
import { CutoverError, hasCode, isErrorCode } from '../errors';
import type { Clock } from '../ports/clock';
import type { Transport } from '../ports/transport';
import { decode, encode, parseJson } from '../protocol/decode';
import type { ComponentInventory, HostInventory } from '../protocol/inventory';
import {
  ComponentChanged,
  ControlReply,
  HostHeartbeat,
  InventoryReply,
  type MessageOf,
  PROTOCOL_VERSION,
} from '../protocol/messages';
import type { ComponentSpec, ProviderSpec } from '../protocol/spec';
import { subjects } from '../protocol/subjects';
import { endOfTick } from '../tick';
import { Connectivity } from './connectivity';
import type { Outages } from './outages';

export interface LatticeClientOptions {
  transport: Transport;
  lattice: string;
  clock: Clock;
  requestTimeoutMs: number;
  /** A scatter/gather ends this long (ms, transport time) after the last reply. */
  stallMs?: number;
  /** Marks the transport outages this client waits out (`TransportUnavailable`). */
  outages?: Outages;
  /**
   * After the transport reconnects, for this long (ms, on the clock) a host that does not answer is waited for
   * rather than counted lost: hosts reconnect too, each at its own pace. Default 2 × requestTimeoutMs.
   */
  reconnectGraceMs?: number;
}

/**
 * The orchestrator's view of the hosts: inventory queries, scatter/gather, fenced control requests
 * and a wake-up whenever a host reports (reports only speed verification up; it is level-triggered).
 */
export class LatticeClient {
  /** Hosts heard from and not found gone since (ids only: holding 10,000 inventories would only feed the GC). */
  readonly known = new Set<string>();
  /** Counts host reports, so a wait can tell whether one arrived since a round began. */
  generation = 0;
  private readonly reported = new Map<string, number>();
  /** True once a scatter/gather ended by a stall, so every host that is there answered one. */
  private gathered = false;
  private readonly waiters = new Set<() => void>();
  private readonly sub;
  /** Generation at which each host last accepted a control request: its later reports follow that request. */
  private readonly accepted = new Map<string, number>();
  /** Raw `component.changed` reports of tracked hosts since they last accepted a request, oldest first. */
  private readonly changes = new Map<string, Array<{ generation: number; data: Uint8Array }>>();
  /** Encoded control bodies, per spec object (one revision's spec goes to a whole batch of hosts). */
  private readonly bodies = new WeakMap<object, { key: string; data: Uint8Array }>();
  private readonly connectivity: Connectivity;

  constructor(private readonly o: LatticeClientOptions) {
    this.connectivity = new Connectivity({
      transport: o.transport,
      clock: o.clock,
      outages: o.outages,
      graceMs: o.reconnectGraceMs ?? 2 * o.requestTimeoutMs,
    });
    const prefix = subjects.allHostEvents(o.lattice).slice(0, -1);
    this.sub = o.transport.subscribe(subjects.allHostEvents(o.lattice), (msg) => {
      // Reports only say "look again at this host" (verification re-reads inventories), so the sender is
      // taken from the subject, which a host publishes on (and NATS permissions bind to it), and the payload
      // is parsed only when it may be a heartbeat, whose inventory is validated before it is kept. At 10,000
      // hosts, a full parse of every component report was a measurable share of a rollout.
      const hostId = msg.subject.startsWith(prefix) ? msg.subject.slice(prefix.length) : '';
      if (hostId.length === 0) return;
      const changed = isComponentChanged(msg.data);
      if (!changed && mayBeHeartbeat(msg.data)) {
        let raw: unknown;
        try {
          raw = parseJson(msg.data);
        } catch {
          return;
        }
        if ((raw as { type?: unknown } | null)?.type === 'host.heartbeat') {
          const beat = HostHeartbeat.safeParse(raw);
          if (beat.success && beat.data.hostId === hostId) this.known.add(hostId);
        }
      }
      this.generation++;
      this.reported.set(hostId, this.generation);
      // Kept unparsed: verification reads them only for hosts it still waits for, newest first.
      const kept = this.changes.get(hostId);
      if (kept !== undefined && changed && this.accepted.has(hostId)) {
        if (kept.length >= MAX_KEPT_REPORTS) kept.shift();
        kept.push({ generation: this.generation, data: msg.data });
      }
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

  /**
   * Keeps the `component.changed` reports these hosts send from their next accepted control request on, so
   * verification can judge a workload from the report that says it is serving (or failed) instead of asking.
   */
  track(hostIds: Iterable<string>): void {
    for (const h of hostIds) this.changes.set(h, []);
  }

  /**
   * Forgets `hostId` as a known host: it did not answer (no responders, no inventory). The known set then differs
   * from the one a rolling plan was made for, so the next batch re-plans; the host's next heartbeat or a ping
   * that finds it makes it known again.
   */
  forget(hostId: string): void {
    this.known.delete(hostId);
  }

  /** Stops keeping reports of `hostId`. */
  untrack(hostId: string): void {
    this.changes.delete(hostId);
  }

  /**
   * The workloads `refs` as `hostId` last reported them after it accepted its last control request and after
   * generation `since`; undefined unless every one of them was reported so (then ask the host).
   */
  reportedWorkloads(
    hostId: string,
    since: number,
    refs: ReadonlyArray<{ kind: string; id: string }>,
  ): Map<string, ComponentInventory> | undefined {
    const kept = this.changes.get(hostId);
    const accepted = this.accepted.get(hostId);
    if (kept === undefined || kept.length === 0 || accepted === undefined) return undefined;
    const floor = Math.max(since, accepted);
    const wanted = new Set(refs.map((r) => `${r.kind}:${r.id}`));
    const out = new Map<string, ComponentInventory>();
    for (let i = kept.length - 1; i >= 0 && out.size < wanted.size; i--) {
      const r = kept[i];
      if (r === undefined || r.generation <= floor) break;
      let report: MessageOf<'component.changed'>;
      try {
        report = decode(r.data, ComponentChanged);
      } catch {
        continue;
      }
      if (report.hostId !== hostId) continue;
      const key = `${report.component.kind}:${report.component.id}`;
      if (wanted.has(key) && !out.has(key)) out.set(key, report.component);
    }
    return out.size === wanted.size ? out : undefined;
  }

  /** Flushes the transport until no host report arrived during a flush, at most `rounds` times. */
  async settleReports(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const before = this.generation;
      // Hosts send a tick's reports when the tick ends: one macrotask lets those of hosts in this process go.
      await endOfTick();
      try {
        await this.o.transport.flush();
      } catch {
        return;
      }
      if (this.generation === before) return;
    }
  }

  /** Resolves once the transport is connected and past the reconnect grace (see {@link Connectivity}). */
  available(): Promise<void> {
    return this.connectivity.available();
  }

  /** Every host's inventory (scatter/gather), once the transport is available. */
  async ping(): Promise<HostInventory[]> {
    await this.available();
    // Once a gather has ended by a stall, `known` names every host (a joining host announces itself with a
    // heartbeat), so a gather ends when they all answered. Before that, `known` may hold the few hosts heard
    // from since this orchestrator started: ending at that count would plan a rollout without the others.
    const expected = this.gathered && this.known.size > 0 ? this.known.size : undefined;
    let replies: Uint8Array[];
    for (;;) {
      try {
        replies = await this.o.transport.requestMany(subjects.hostsPing(this.o.lattice), INVENTORY_REQUEST, {
          maxWaitMs: this.o.requestTimeoutMs,
          stallMs: this.o.stallMs ?? 100,
          ...(expected === undefined ? {} : { expected }),
        });
        break;
      } catch (e) {
        // Disconnected in between: an empty answer would read as "no hosts", so wait and gather again.
        if (!hasCode(e, 'transport.unavailable')) throw e;
        await this.available();
      }
    }
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
    for (const inv of out) this.known.add(inv.hostId);
    return out.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  }

  /** One host's inventory, or null when the host is lost (no responders or no answer while we are connected). */
  async inventory(hostId: string): Promise<HostInventory | null> {
    for (;;) {
      try {
        const data = await this.requestHost(subjects.inventory(this.o.lattice, hostId), INVENTORY_REQUEST);
        const inv = decode(data, InventoryReply).inventory;
        this.known.add(hostId);
        return inv;
      } catch (e) {
        const silent = hasCode(e, 'transport.noResponders') || hasCode(e, 'transport.timeout');
        // Right after a reconnect the host may still be reconnecting: ask again once the grace is over.
        if (silent && this.connectivity.waitingForHosts()) continue;
        if (silent || hasCode(e, 'message.invalid')) return null;
        throw e;
      }
    }
  }

  /**
   * `host.fence`: raises the host's fencing token for `app` to `leaseToken`; resolves with the token the host
   * holds now (higher than ours: we are stale), or null when the host does not answer.
   */
  async fence(hostId: string, app: string, leaseToken: number): Promise<number | null> {
    try {
      const data = await this.requestHost(
        subjects.hostFence(this.o.lattice, hostId),
        encode({ type: 'host.fence', version: PROTOCOL_VERSION, app, leaseToken }),
      );
      const reply = decode(data, ControlReply);
      if (reply.type === 'host.fenced') return reply.leaseToken;
      if (reply.type === 'error')
        throw new CutoverError(isErrorCode(reply.code) ? reply.code : 'invoke.failed', reply.message, { hostId });
      return null;
    } catch (e) {
      if (isHostLost(e)) return null;
      throw e;
    }
  }

  /**
   * Takeover: fences every host there is for `app` at `leaseToken` before the new holder sends anything else.
   * Throws `lease.stale` when a host already holds a higher token (someone newer holds the app). A host that
   * does not answer is left: it gets the token with the first message it accepts.
   */
  async fenceAll(app: string, leaseToken: number): Promise<{ fenced: number; silent: number }> {
    const hosts = await this.ping();
    const held = await Promise.all(hosts.map((h) => this.fence(h.hostId, app, leaseToken)));
    const higher = held.filter((t): t is number => t !== null && t > leaseToken);
    if (higher.length > 0) {
      throw new CutoverError(
        'lease.stale',
        `lease token ${leaseToken} for "${app}" is older than ${Math.max(...higher)} held by ${higher.length} host(s)`,
      );
    }
    return { fenced: held.filter((t) => t !== null).length, silent: held.filter((t) => t === null).length };
  }

  /**
   * Sends a fenced control request; resolves when accepted, throws the host's coded refusal. `leaseToken` is the
   * token, or a check run before each attempt (the first and every re-send) that returns it or throws, and then
   * nothing is sent.
   */
  async control(
    hostId: string,
    app: string,
    leaseToken: number | (() => Promise<number>),
    op:
      | { type: 'component.apply'; spec: ComponentSpec; mode?: 'replace' | 'standby'; traceparent?: string }
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
    const body = async () => this.body(op, app, typeof leaseToken === 'number' ? leaseToken : await leaseToken());
    // A revert that landed unanswered would be refused when sent again, so it is sent once.
    const data = await this.requestHost(subject, body, op.type === 'component.revert' ? 1 : REQUEST_ATTEMPTS);
    const reply = decode(data, ControlReply);
    if (reply.type !== 'error') {
      this.accepted.set(hostId, this.generation);
      const kept = this.changes.get(hostId);
      if (kept !== undefined) kept.length = 0;
    } else {
      const code = reply.code;
      throw new CutoverError(isErrorCode(code) ? code : 'invoke.failed', reply.message, {
        hostId,
        subject,
        retryable: reply.retryable,
      });
    }
  }

  /** The wire body of a control request; a batch sends one spec to many hosts, so it is encoded once. */
  private body(
    op: { type: string; spec?: object; mode?: string; traceparent?: string },
    app: string,
    leaseToken: number,
  ): Uint8Array {
    const spec = op.spec;
    if (spec === undefined) return encode({ ...op, version: PROTOCOL_VERSION, app, leaseToken });
    const key = `${op.type}|${op.mode ?? ''}|${app}|${leaseToken}|${op.traceparent ?? ''}|${Object.keys(op).length}`;
    const cached = this.bodies.get(spec);
    if (cached !== undefined && cached.key === key) return cached.data;
    const data = encode({ ...op, version: PROTOCOL_VERSION, app, leaseToken });
    this.bodies.set(spec, { key, data });
    return data;
  }

  /**
   * A request to one host, sent again when it times out: NATS core delivers at most once, so a request (or
   * its reply) in flight while the server restarts is lost though the host is alive. Sending it again is safe:
   * a host joins an apply of the hash it serves or has in flight, and a delete of what it lacks is a no-op.
   */
  private async requestHost(
    subject: string,
    data: Uint8Array | (() => Promise<Uint8Array>),
    attempts = REQUEST_ATTEMPTS,
  ): Promise<Uint8Array> {
    for (let attempt = 1; ; ) {
      // Waits out an outage first: a request made while disconnected would be buffered and sent much later.
      await this.available();
      const body = typeof data === 'function' ? await data() : data;
      try {
        return await this.o.transport.request(subject, body, { timeoutMs: this.o.requestTimeoutMs });
      } catch (e) {
        // Refused while disconnected: nothing left, so it does not count as an attempt.
        if (hasCode(e, 'transport.unavailable')) continue;
        if (attempt++ >= attempts || !hasCode(e, 'transport.timeout')) throw e;
      }
    }
  }

  close(): void {
    this.connectivity.close();
    this.sub.unsubscribe();
    this.wake();
  }
}

/** Reports kept per tracked host (a host sends a handful per apply). */
const MAX_KEPT_REPORTS = 16;

const INVENTORY_REQUEST = encode({ type: 'host.inventory', version: PROTOCOL_VERSION });

/** Sends of one request to a host before it counts as lost (no answer at all). */
const REQUEST_ATTEMPTS = 2;

const HEARTBEAT = Buffer.from('host.heartbeat');

/** False when the bytes cannot be a heartbeat (its type string is absent), so no parse is needed. */
function mayBeHeartbeat(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).includes(HEARTBEAT);
}

const CHANGED = new TextEncoder().encode('{"type":"component.changed"');

/** True when the bytes are a `component.changed` report as hosts encode it (type first); others are ignored. */
function isComponentChanged(data: Uint8Array): boolean {
  if (data.byteLength <= CHANGED.byteLength) return false;
  // From the end of the prefix: the leading `{"type":"component.` is shared with other reports.
  for (let i = CHANGED.byteLength - 1; i >= 0; i--) if (data[i] !== CHANGED[i]) return false;
  return true;
}

/** The app's workloads on a host. */
export function appWorkloads(inv: HostInventory, app: string): ComponentInventory[] {
  return inv.components.filter((c) => c.app === app);
}

/** True when the error means the host is gone rather than refusing. */
export function isHostLost(e: unknown): boolean {
  return hasCode(e, 'transport.noResponders') || hasCode(e, 'transport.timeout');
}
