// One writer, always (memory adapter, simulated clock): an orchestrator that loses its store mid-rollout sends
// nothing once its lease runs out, the one that takes over fences every host first and finishes, and the
// deposed one stops for good when it comes back. Every control message on the lattice is counted by a
// subscriber of the test's own, with the lease token it carries.
import { type Orchestrator, type RolloutHandle, decode, Message, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { switchableStore } from '../fixtures/faults';
import { drive, revision, settle, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) => revision({ version, components: [{ id: 'api', image: `mem://api:${version}` }] });
const hashOf = (version: string) => specHash(rev(version).components[0]?.spec ?? ({} as never), 'component');

interface Sent {
  at: number;
  hostId: string;
  type: string;
  token: number;
}

interface Case {
  hosts: number;
  /** The batch after whose apply A's store goes away. */
  cutAfterBatch: number;
  /** A loses its connection to the bus too (as on NATS, where both share a connection). */
  partitionToo: boolean;
  ttlMs: number;
  /** Extra simulated time before the cut, inside the batch. */
  jitterMs: number;
}

// Twenty timings: host counts, the batch at which A is cut, store only or store and bus, lease TTLs, jitter.
const CASES: Case[] = Array.from({ length: 20 }, (_, i) => ({
  hosts: 3 + (i % 3),
  cutAfterBatch: i % 3,
  partitionToo: i % 2 === 1,
  ttlMs: [2_000, 3_000, 4_500][i % 3] ?? 3_000,
  jitterMs: (i * 137) % 700,
}));

async function splitBrain(c: Case) {
  const lat = await testLattice(c.hosts);
  for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  const sent: Sent[] = [];
  const spy = lat.bus.connect('spy');
  spy.subscribe('wasmbus.ctl.v2alpha1.test.host.*.>', (msg) => {
    const hostId = msg.subject.split('.')[5] ?? '';
    try {
      const m = decode(msg.data, Message) as { type: string; leaseToken?: number };
      if (m.leaseToken !== undefined) sent.push({ at: lat.clock.now(), hostId, type: m.type, token: m.leaseToken });
    } catch {
      // Not a control message (an inventory request): not counted.
    }
  });
  const pathA = switchableStore(lat.store);
  const transportA = lat.bus.connect('A');
  const common = { leaseTtlMs: c.ttlMs, takeoverMs: 250, heartbeatMs: 500, requestTimeoutMs: 1_000 };
  const a = await lat.orchestrator({ ...common, holder: 'A', store: pathA.store, transport: transportA });
  await drive(lat.clock, (await a.deploy(rev('1'))).done);
  let takenAt = Number.NaN;
  let bHandle: RolloutHandle | undefined;
  let b: Orchestrator | undefined;
  b = await lat.orchestrator({
    ...common,
    holder: 'B',
    onResume: (id) => {
      takenAt = lat.clock.now();
      bHandle = b?.rollout(id);
    },
  });
  const pacing = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: { durationMs: 400 } } as const;
  const h = await a.deploy(rev('2'), { strategy: pacing });
  await until(lat.clock, () => h.snapshot().batch > c.cutAfterBatch || h.snapshot().done, 50);
  for (let t = 0; t < c.jitterMs; t += 50) {
    lat.clock.increment(50);
    await settle(2);
  }
  const lease = (await lat.store.get<{ token: number; expiresAt: number }>('cutover', 'lease.shop'))?.value;
  if (!lease) throw new Error('no lease');
  pathA.down();
  if (c.partitionToo) lat.bus.partition(transportA);
  const cutAt = lat.clock.now();

  await until(lat.clock, () => bHandle !== undefined, 100, 5_000);
  const taken = bHandle;
  if (!taken) throw new Error('B did not take over');
  const outcome = (await drive(lat.clock, taken.done, 200)).outcome;

  // A comes back: it must find itself deposed and send nothing.
  pathA.up();
  lat.bus.heal(transportA);
  for (let i = 0; i < 40; i++) {
    lat.clock.increment(250);
    await settle(2);
  }
  return { lat, a, b, h, sent, lease, cutAt, takenAt, outcome };
}

describe('single writer', () => {
  it.each(CASES.map((c, i) => [i + 1, c] as const))(
    'run %i: a deposed orchestrator sends nothing once its lease ran out; the new holder fences and finishes',
    async (_i, c) => {
      const r = await splitBrain(c);
      await using _lat = r.lat;
      const fromA = r.sent.filter((m) => m.token === r.lease.token);
      const afterExpiry = fromA.filter((m) => m.at >= r.lease.expiresAt);
      const afterTakeover = fromA.filter((m) => m.at >= r.takenAt);
      const fences = r.sent.filter((m) => m.type === 'host.fence');
      console.log(
        JSON.stringify({
          case: c,
          cutAt: r.cutAt,
          leaseExpiresAt: r.lease.expiresAt,
          takenAt: r.takenAt,
          sendsAfterLeaseExpiry: afterExpiry.length,
          sendsAfterTakeover: afterTakeover.length,
          fences: fences.length,
        }),
      );
      expect(r.outcome).toBe('completed');
      expect(afterExpiry).toEqual([]);
      expect(afterTakeover).toEqual([]);
      // B raised the token on every host before it sent anything else.
      const bToken = r.lease.token + 1;
      const firstOfB = r.sent.findIndex((m) => m.token === bToken);
      expect(r.sent[firstOfB]?.type).toBe('host.fence');
      expect(new Set(fences.map((m) => m.hostId)).size).toBe(c.hosts);
      expect(r.sent.slice(firstOfB, firstOfB + c.hosts).every((m) => m.type === 'host.fence')).toBe(true);
      // Every host ends on what the lease holder decided, and the deposed one drives nothing any more.
      const v2 = hashOf('2');
      expect(Object.values(r.lat.serving('shop')).map((w) => w.api)).toEqual(Array(c.hosts).fill(v2));
      expect(r.a.rollout(r.h.id)).toBeUndefined();
      expect((await r.b?.history('shop'))?.[0]).toMatchObject({ version: '2', outcome: 'completed' });
    },
  );
});
