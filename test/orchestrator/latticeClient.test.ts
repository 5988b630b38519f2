// The orchestrator's view of the hosts across message loss: NATS core delivers at most once, so a request in
// flight when nats-server restarts is lost (or its reply is), while the host itself is alive and well.
import { CutoverError, type HostInventory, type Transport, encode, specHash, subjects } from 'cutover';
import { createMemoryBus } from 'cutover/adapters/memory';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { LatticeClient } from '../../src/orchestrator/latticeClient';
import { drive, revision, settle, testLattice } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }] });
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

async function lattice(n: number) {
  const lat = await testLattice(n);
  for (const v of ['1', '2']) lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  return lat;
}

type Lattice = Awaited<ReturnType<typeof lattice>>;

/** A ping, with the clock moving: a first gather ends by a stall window on the lattice's simulated clock. */
const pinged = (lat: Lattice, client: LatticeClient) => drive(lat.clock, client.ping(), 50);

/**
 * The orchestrator's connection, losing the next `times` requests on `subject`: `'request'` drops the message
 * on its way (the host never hears of it), `'reply'` delivers it and loses the answer (the host acted).
 */
function lossy(lat: Lattice, subject: string, lose: 'request' | 'reply', times = 1) {
  const inner = lat.bus.connect('orchestrator');
  let left = times;
  const transport: Transport = {
    publish: (s, d) => inner.publish(s, d),
    subscribe: (s, h, o) => inner.subscribe(s, h, o),
    requestMany: (s, d, o) => inner.requestMany(s, d, o),
    flush: () => inner.flush(),
    close: () => inner.close(),
    get closed() {
      return inner.closed;
    },
    async request(s, d, o) {
      if (s !== subject || left === 0) return inner.request(s, d, o);
      left--;
      if (lose === 'reply') {
        await inner.request(s, d, o);
        throw new CutoverError('transport.timeout', `request on "${s}" timed out`, { subject: s });
      }
      // Cut off while the message is routed, as in a server restart: it reaches nobody and times out.
      lat.bus.partition(inner);
      const reply = inner.request(s, d, o);
      lat.bus.heal(inner);
      return reply;
    },
  };
  return {
    transport,
    get lost() {
      return times - left;
    },
  };
}

/** Every host serves v1 (deployed by an orchestrator that is then closed). */
async function onV1(lat: Lattice): Promise<void> {
  const first = await lat.orchestrator({ holder: 'a' });
  expect((await drive(lat.clock, (await first.deploy(rev('1'))).done)).outcome).toBe('completed');
  await first.close();
}

/** Rolls v2 out one host at a time through `transport`; every host must end on v2. */
async function upgradeThrough(lat: Lattice, transport: Transport) {
  const orch = await lat.orchestrator({ holder: 'a', transport, requestTimeoutMs: 200 });
  const v2 = rev('2');
  const rollout = await orch.deploy(v2, { strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 } });
  const output = await drive(lat.clock, rollout.done);
  expect(output.outcome).toBe('completed');
  expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual(Array(3).fill(hashOf(v2)));
}

describe('lattice client', () => {
  for (const lose of ['request', 'reply'] as const) {
    it(`finishes a rollout when a component.apply ${lose} to a live host is lost (a server restart)`, async () => {
      await using lat = await lattice(3);
      await onV1(lat);
      const link = lossy(lat, subjects.componentApply('test', 'h2'), lose);
      await upgradeThrough(lat, link.transport);
      expect(link.lost).toBe(1);
    });
  }

  it('counts a host that answers nothing as lost once its retry is spent', async () => {
    const clock = new SimulatedClock();
    await using bus = createMemoryBus({ clock });
    const silent = bus.connect('h2');
    let asked = 0;
    // A hung host: subscribed, so no `noResponders`, but it never answers.
    silent.subscribe(subjects.inventory('test', 'h2'), () => {
      asked++;
    });
    const client = new LatticeClient({
      transport: bus.connect('orchestrator'),
      lattice: 'test',
      clock,
      requestTimeoutMs: 1000,
    });
    let answer: HostInventory | null | undefined;
    void client.inventory('h2').then((inv) => {
      answer = inv;
    });
    for (let i = 0; i < 20 && answer === undefined; i++) {
      await settle();
      clock.increment(500);
    }
    expect(answer).toBeNull();
    expect(asked).toBe(2);
    client.close();
  });

  it('returns every host from a ping even when only some were heard from so far (a fresh orchestrator)', async () => {
    await using lat = await lattice(3);
    const client = new LatticeClient({
      transport: lat.bus.connect('orchestrator'),
      lattice: 'test',
      clock: lat.clock,
      requestTimeoutMs: 1000,
    });
    const h2 = lat.hosts.get('h2');
    lat.bus
      .connect('h2')
      .publish(
        subjects.hostEvents('test', 'h2'),
        encode({ type: 'host.heartbeat', version: 1, hostId: 'h2', at: 0, inventory: h2?.inventory() }),
      );
    await settle();
    expect([...client.known.keys()]).toEqual(['h2']);
    expect((await pinged(lat, client)).map((i) => i.hostId)).toEqual(['h1', 'h2', 'h3']);
    client.close();
  });

  it('finds a host that joined on the next ping, once its first heartbeat announced it', async () => {
    await using lat = await testLattice(2, { heartbeatMs: 60_000 });
    const client = new LatticeClient({
      transport: lat.bus.connect('orchestrator'),
      lattice: 'test',
      clock: lat.clock,
      requestTimeoutMs: 1000,
    });
    expect((await pinged(lat, client)).map((i) => i.hostId)).toEqual(['h1', 'h2']);
    await lat.addHost('h3');
    // A host's first heartbeat goes out as it starts.
    lat.clock.increment(1);
    await settle();
    expect(client.known.has('h3')).toBe(true);
    expect((await pinged(lat, client)).map((i) => i.hostId)).toEqual(['h1', 'h2', 'h3']);
    await lat.removeHost('h1');
    expect((await pinged(lat, client)).map((i) => i.hostId)).toEqual(['h2', 'h3']);
    client.close();
  });
  it('sends a live host its apply again when every send of it was lost (a long outage)', async () => {
    await using lat = await lattice(3);
    await onV1(lat);
    const link = lossy(lat, subjects.componentApply('test', 'h2'), 'request', 3);
    await upgradeThrough(lat, link.transport);
    expect(link.lost).toBe(3);
  });
  it('verifies hosts from the reports they send, asking for inventories only when a report does not settle it', async () => {
    await using lat = await lattice(12);
    await onV1(lat);
    const inner = lat.bus.connect('orchestrator');
    const asked: string[] = [];
    const counting: Transport = {
      publish: (s, d) => inner.publish(s, d),
      subscribe: (s, h, o) => inner.subscribe(s, h, o),
      requestMany: (s, d, o) => inner.requestMany(s, d, o),
      flush: () => inner.flush(),
      close: () => inner.close(),
      get closed() {
        return inner.closed;
      },
      request(s, d, o) {
        if (s.endsWith('.inventory')) asked.push(s);
        return inner.request(s, d, o);
      },
    };
    const orch = await lat.orchestrator({ holder: 'a', transport: counting });
    const v2 = rev('2');
    const rollout = await orch.deploy(v2, { strategy: { type: 'rolling', maxParallel: 4, maxUnavailable: 4 } });
    expect((await drive(lat.clock, rollout.done)).outcome).toBe('completed');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual(Array(12).fill(hashOf(v2)));
    // Twelve hosts verified in three batches; without the reports that is at least one request per host.
    expect(asked.length).toBeLessThan(12);
  });
});
