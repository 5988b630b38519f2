// One host process of the NATS fleet benchmark (test/bench/natsFleet.bench.ts): runs many real hosts
// (`createHost` over `createNatsTransport`, memory runtime) on a few shared NATS connections, as a stand-in for
// that many machines. Plain `node` runs it against the BUILT package (`cutover` resolves to dist/ through the
// package's self-reference), so what is measured is what users run, not vitest's transformed sources.
//
// Configuration (environment): FLEET_NATS_URL, FLEET_LATTICE, FLEET_FIRST (index of the first host),
// FLEET_HOSTS (how many), FLEET_CONNECTIONS (NATS connections shared by those hosts), FLEET_FILLERS (optional:
// components each host runs before it is ready, so its inventory has that many more entries; default 0).
// Images published: mem://api:1, mem://api:2 (the fleet rollout), mem://cart:1, mem://cart:2 and
// mem://filler:1 (nats.bench.ts's round trips against a host in a process of its own).
// IPC with the parent (it must be spawned with an 'ipc' channel):
//   child → parent  { type: 'ready', hosts }                        all hosts subscribed and flushed
//   parent → child  { type: 'count', id, imageRef }                 → { type: 'count', id, serving, hosts, cpuMs }
//   parent → child  { type: 'gc' }                                  → { type: 'gc', pauses: [[startMs, endMs], …] }
//                   the GC pauses since the last ask, in epoch ms (performance.timeOrigin-based, as the parent's)
//   parent → child  { type: 'stop' }                                stops every host, closes, exits 0
// The parent going away (its IPC channel closes) ends this process at once, so a failed run leaves no orphans.
import { PerformanceObserver } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { createHost } from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsTransport } from 'cutover/adapters/nats';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`hostProcess: ${name} is not set`);
  return value;
};
const url = env('FLEET_NATS_URL');
const lattice = env('FLEET_LATTICE');
const first = Number(env('FLEET_FIRST'));
const count = Number(env('FLEET_HOSTS'));
const connectionCount = Number(env('FLEET_CONNECTIONS'));
const fillers = Number(process.env.FLEET_FILLERS ?? 0);

if (process.send === undefined) throw new Error('hostProcess: must be spawned with an IPC channel');
process.on('disconnect', () => process.exit(1));

// GC pauses of this process, for the parent to tell which of its slow samples overlapped one.
let gcPauses = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const start = performance.timeOrigin + e.startTime;
    gcPauses.push([start, start + e.duration]);
  }
}).observe({ entryTypes: ['gc'] });

const connections = await Promise.all(Array.from({ length: connectionCount }, () => connect({ servers: url })));
const runtime = createMemoryRuntime();
runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
runtime.publish('mem://cart:1', { version: '1', operations: { handle: (p) => p } });
runtime.publish('mem://cart:2', { version: '2', operations: { handle: (p) => p } });
runtime.publish('mem://filler:1', { version: '1', operations: { handle: (p) => p } });

const transports = [];
const hosts = [];
for (let i = 0; i < count; i++) {
  const transport = createNatsTransport(connections[i % connections.length]);
  transports.push(transport);
  hosts.push(
    await createHost({
      // Zero-padded so the ids sort as numbers do; the orchestrator plans batches in host id order.
      hostId: `h${String(first + i).padStart(4, '0')}`,
      lattice,
      transport,
      runtime,
      // No heartbeats: the orchestrator finds the hosts by its ping, as in the in-process NATS bench.
      heartbeatMs: 0,
    }),
  );
}
for (const host of hosts) {
  for (let i = 0; i < fillers; i++) {
    const outcome = await host.apply({ id: `filler${i}`, app: 'shop', imageRef: 'mem://filler:1' });
    if (outcome.type !== 'component.applied') throw new Error(`filler apply ended ${outcome.type}`);
  }
}
// Every subscription is known to the server before the parent starts the orchestrator.
await Promise.all(connections.map((nc) => nc.flush()));

const stop = async () => {
  for (const h of hosts) await h.stop();
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(connections.map((nc) => nc.drain().catch(() => nc.close())));
};

process.on('message', (message) => {
  if (message?.type === 'count') {
    const serving = hosts.filter((h) =>
      h.inventory().components.some((c) => c.id === 'api' && c.servingImageRef === message.imageRef),
    ).length;
    const cpu = process.cpuUsage();
    process.send({
      type: 'count',
      id: message.id,
      serving,
      hosts: hosts.length,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  } else if (message?.type === 'gc') {
    process.send({ type: 'gc', pauses: gcPauses });
    gcPauses = [];
  } else if (message?.type === 'stop') {
    stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
});

process.send({ type: 'ready', hosts: hosts.length });
