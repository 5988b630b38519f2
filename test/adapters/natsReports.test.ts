// Reports are hints, not truth: on real NATS, duplicated, stale and out-of-order host reports (and garbage)
// during a rollout change nothing, because verification reads the hosts' inventories (level-triggered).
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type Host,
  type Orchestrator,
  PROTOCOL_VERSION,
  createHost,
  createOrchestrator,
  encode,
  specHash,
  subjects,
} from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';

const lattice = 'reports';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const enc = new TextEncoder();

describe('rollout on NATS with misleading host reports', () => {
  let server: NatsServerHandle;
  const conns: NatsConnection[] = [];
  const hosts: Host[] = [];
  let orch: Orchestrator;
  const runtime = createMemoryRuntime();
  runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
  runtime.publish('mem://api:3', { version: '3', operations: { handle: (p) => p }, validateError: 'v3 is broken' });

  beforeAll(async () => {
    server = await startNatsServer();
    for (const id of HOSTS) {
      const nc = await server.connect();
      conns.push(nc);
      hosts.push(
        await createHost({ hostId: id, lattice, transport: createNatsTransport(nc), runtime, heartbeatMs: 0 }),
      );
    }
    const onc = await server.connect();
    conns.push(onc);
    orch = await createOrchestrator({
      lattice,
      transport: createNatsTransport(onc),
      store: createNatsStore(onc, { lattice }),
      heartbeatMs: 50,
      scalers: false,
    });
  });

  afterAll(async () => {
    await orch?.close();
    for (const h of hosts) await h.stop();
    for (const nc of conns) await nc.close();
    await server?.[Symbol.asyncDispose]();
  });

  const app = (version: string, image: string) =>
    revision({ app: 'shop', version, components: [{ id: 'api', image }] });
  const servingHashes = () => hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash);

  /** Publishes a flood of forged reports for every host while a rollout runs. */
  async function forge(nc: NatsConnection, hashes: { stale: string; target: string }, stop: () => boolean) {
    const at = Date.now();
    while (!stop()) {
      for (const hostId of HOSTS) {
        const subject = subjects.hostEvents(lattice, hostId);
        const base = { version: PROTOCOL_VERSION, hostId, at, app: 'shop', componentId: 'api', kind: 'component' };
        // Out of order: an old success and a failure of the target arrive after the fact; each one twice.
        for (let i = 0; i < 2; i++) {
          nc.publish(subject, encode({ type: 'component.applied', ...base, hash: hashes.stale }));
          nc.publish(
            subject,
            encode({
              type: 'component.failed',
              ...base,
              hash: hashes.target,
              code: 'validate.failed',
              reason: 'forged',
            }),
          );
          nc.publish(subject, encode({ type: 'component.applied', ...base, hash: hashes.target }));
        }
        nc.publish(subject, enc.encode('{"type":"component.applied","hash":')); // not even JSON
      }
      await nc.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('completes on what hosts really serve, whatever duplicate and out-of-order reports say', async () => {
    await (await orch.deploy(app('1', 'mem://api:1'))).done;
    const v1 = servingHashes()[0] ?? '';
    const handle = await orch.deploy(app('2', 'mem://api:2'), { strategy: { type: 'rolling', maxParallel: 1 } });
    let finished = false;
    const target = specHash({ id: 'api', app: 'shop', imageRef: 'mem://api:2' });
    const flood = forge(conns[0] as NatsConnection, { stale: v1, target }, () => finished);
    const out = await handle.done;
    finished = true;
    await flood;
    expect(out.outcome).toBe('completed');
    expect(new Set(servingHashes())).toEqual(new Set([target]));
  });

  it('rolls back on a real failure even while forged successes for the target keep arriving', async () => {
    const stable = servingHashes()[0] ?? '';
    const handle = await orch.deploy(app('3', 'mem://api:3'), { strategy: { type: 'rolling', maxParallel: 1 } });
    let finished = false;
    const target = specHash({ id: 'api', app: 'shop', imageRef: 'mem://api:3' });
    const flood = forge(conns[0] as NatsConnection, { stale: stable, target }, () => finished);
    const out = await handle.done;
    finished = true;
    await flood;
    expect(out.outcome).toBe('rolledBack');
    expect(out.reason).toMatch(/v3 is broken/);
    expect(new Set(servingHashes())).toEqual(new Set([stable]));
  });
});
