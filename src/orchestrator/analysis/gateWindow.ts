import type { HostInventory } from '../../protocol/inventory';

/** The gate figures of one component on one host for the measured hashes, over the window. */
export interface GateSample {
  hostId: string;
  componentId: string;
  accepted: number;
  answered: number;
  errors: number;
  /** Latency observations in the window. */
  latencyCount: number;
  /** The host's p99 and max (ms) as last reported, over the gate's latency window (default the last 60 s). */
  p99: number;
  max: number;
}

/** Sums of the gate counters of some spec hashes over a set of hosts, between two readings. */
export interface GateWindow {
  accepted: number;
  answered: number;
  errors: number;
  /** One sample per component and host that served the hashes in the window. */
  samples: GateSample[];
}

interface Counters {
  hostId: string;
  componentId: string;
  accepted: number;
  answered: number;
  errors: number;
  latencyCount: number;
  p99: number;
  max: number;
}

function read(hosts: readonly HostInventory[], app: string, hashes: readonly string[]): Map<string, Counters> {
  const out = new Map<string, Counters>();
  for (const host of hosts) {
    for (const c of host.components) {
      if (c.app !== app || c.gate === undefined) continue;
      for (const hash of hashes) {
        const g = c.gate.byHash[hash];
        if (g === undefined) continue;
        out.set(JSON.stringify([host.hostId, c.id, hash]), {
          hostId: host.hostId,
          componentId: c.id,
          accepted: g.accepted,
          answered: g.answered,
          errors: g.errors,
          latencyCount: g.latencyMs.count,
          p99: g.latencyMs.p99,
          max: g.latencyMs.max,
        });
      }
    }
  }
  return out;
}

/**
 * The gate counters of `hashes` (components of `app`) on `hosts`, minus the same counters in
 * `baseline` when given, so a window can be measured. A counter that went backwards (the host
 * restarted) counts from zero.
 * @example
 * const w = gateWindow(await inventories(), 'shop', [hash], before); w.errors / w.answered
 */
export function gateWindow(
  hosts: readonly HostInventory[],
  app: string,
  hashes: readonly string[],
  baseline?: readonly HostInventory[],
): GateWindow {
  const now = read(hosts, app, hashes);
  const before = baseline === undefined ? new Map<string, Counters>() : read(baseline, app, hashes);
  const window: GateWindow = { accepted: 0, answered: 0, errors: 0, samples: [] };
  const merged = new Map<string, GateSample>();
  for (const [key, cur] of now) {
    const prev = before.get(key);
    const restarted =
      prev !== undefined &&
      (cur.accepted < prev.accepted ||
        cur.answered < prev.answered ||
        cur.errors < prev.errors ||
        cur.latencyCount < prev.latencyCount);
    const base = prev === undefined || restarted ? undefined : prev;
    const accepted = cur.accepted - (base?.accepted ?? 0);
    const answered = cur.answered - (base?.answered ?? 0);
    const errors = cur.errors - (base?.errors ?? 0);
    const latencyCount = cur.latencyCount - (base?.latencyCount ?? 0);
    window.accepted += accepted;
    window.answered += answered;
    window.errors += errors;
    if (accepted + answered + latencyCount === 0) continue;
    const { hostId, componentId } = cur;
    const sampleKey = `${hostId}\u0000${componentId}`;
    const s = merged.get(sampleKey);
    if (s === undefined) {
      merged.set(sampleKey, {
        hostId,
        componentId,
        accepted,
        answered,
        errors,
        latencyCount,
        p99: cur.p99,
        max: cur.max,
      });
    } else {
      s.accepted += accepted;
      s.answered += answered;
      s.errors += errors;
      s.latencyCount += latencyCount;
      s.p99 = Math.max(s.p99, cur.p99);
      s.max = Math.max(s.max, cur.max);
    }
  }
  window.samples = [...merged.values()];
  return window;
}
