/**
 * Connectivity: whether the orchestrator's transport is connected now, and the grace after it reconnects
 * during which a silent host is waited for rather than counted lost (hosts reconnect at their own pace). It
 * marks and clears the `TransportUnavailable` outage, watching the connection on a real-time, unref'd timer so
 * the condition shows even while nothing is sent. It must not send, retry a request or judge a host: the
 * lattice client asks it before every request.
 */
import { CutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { Transport } from '../ports/transport';
import type { Outages } from './outages';

/** What {@link Connectivity} watches. */
export interface ConnectivityOptions {
  transport: Transport;
  clock: Clock;
  outages: Outages | undefined;
  /** After a reconnect, how long (ms, on the clock) silence is not taken for a lost host. */
  graceMs: number;
}

/** The connection state of one transport, as the orchestrator acts on it. */
export class Connectivity {
  /** True once the transport was seen disconnected and not yet seen back. */
  private down = false;
  /** When the transport was last seen back after being down (clock time). */
  private upSince = Number.NEGATIVE_INFINITY;
  private closed = false;
  private readonly monitor: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: ConnectivityOptions) {
    if (o.outages !== undefined && 'connected' in o.transport) {
      this.monitor = setInterval(() => this.check(), 250);
      this.monitor.unref?.();
    }
  }

  /**
   * Resolves once the transport is connected and past the reconnect grace: an outage is waited out here, marked
   * as `TransportUnavailable`, so silence during it is never taken for lost hosts. `transport.closed` once closed.
   */
  async available(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed || this.o.transport.closed)
        throw new CutoverError('transport.closed', 'lattice client is closed');
      if (this.check()) {
        const wait = this.upSince + this.o.graceMs - this.o.clock.now();
        if (wait > 0) await new Promise<void>((r) => this.o.clock.setTimeout(r, wait));
        return;
      }
      // Down: waits, and looks again.
      await new Promise<void>((r) => this.o.clock.setTimeout(r, Math.min(100 * 2 ** attempt, 1_000)));
    }
  }

  /** True while a silent host may still be reconnecting: disconnected, or within the grace after a reconnect. */
  waitingForHosts(): boolean {
    return !this.check() || this.o.clock.now() < this.upSince + this.o.graceMs;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.monitor);
  }

  /** Notes a change of the connection (marking or clearing the outage); true when connected. */
  private check(): boolean {
    if (this.o.transport.connected === false) {
      if (!this.down) {
        this.down = true;
        this.o.outages?.mark(
          'transport',
          new CutoverError('transport.unavailable', 'no connection to the NATS server; reconnecting'),
        );
      }
      return false;
    }
    if (this.down) {
      this.down = false;
      this.upSince = this.o.clock.now();
      this.o.outages?.clear('transport');
    }
    return true;
  }
}
