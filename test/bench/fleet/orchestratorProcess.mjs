// The orchestrator process of the NATS fleet benchmark (test/bench/natsFleet.bench.ts): a real orchestrator
// (`createOrchestrator` with the JetStream KV store and the NATS transport, no scalers) on its own connection,
// in its own process, so its wall time and CPU are its own and not shared with the hosts it drives. Plain
// `node` runs it against the BUILT package (see hostProcess.mjs).
//
// Configuration (environment): FLEET_NATS_URL, FLEET_LATTICE, FLEET_HEARTBEAT_MS (the orchestrator's
// re-query period when a report is late).
// IPC with the parent (it must be spawned with an 'ipc' channel):
//   child → parent  { type: 'installed', installMs, cpuMs }    v1 deployed everywhere (maxParallel 100%)
//   parent → child  { type: 'rollout' }                        the parent checked v1 on every host: time v2
//   child → parent  { type: 'result', wallMs, cpuMs, … }       the v2 rolling update completed
//   parent → child  { type: 'stop' }                           closes the orchestrator and exits 0
//   child → parent  { type: 'error', message }                 a deploy did not complete (then exits 1)
// The parent going away (its IPC channel closes) ends this process at once.
import { connect } from '@nats-io/transport-node';
import { createOrchestrator } from 'cutover';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { testRevision } from 'cutover/testing';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`orchestratorProcess: ${name} is not set`);
  return value;
};
const url = env('FLEET_NATS_URL');
const lattice = env('FLEET_LATTICE');
const heartbeatMs = Number(env('FLEET_HEARTBEAT_MS'));

if (process.send === undefined) throw new Error('orchestratorProcess: must be spawned with an IPC channel');
process.on('disconnect', () => process.exit(1));

/** The next IPC message of `type` from the parent. */
const nextMessage = (type) =>
  new Promise((resolve) => {
    const on = (message) => {
      if (message?.type !== type) return;
      process.off('message', on);
      resolve(message);
    };
    process.on('message', on);
  });

const nc = await connect({ servers: url });
const store = createNatsStore(nc, { lattice });
const transport = createNatsTransport(nc);
const orch = await createOrchestrator({ lattice, transport, store, heartbeatMs, scalers: false });

const fail = (message) => {
  process.send({ type: 'error', message }, () => process.exit(1));
};

try {
  const v1 = testRevision({ app: 'fleet', version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
  const c0 = process.cpuUsage();
  const i0 = performance.now();
  const first = await (
    await orch.deploy(v1, { strategy: { type: 'rolling', maxParallel: '100%', maxUnavailable: '100%' } })
  ).done;
  const installMs = performance.now() - i0;
  const installCpu = process.cpuUsage(c0);
  if (first.outcome !== 'completed') {
    fail(`v1 deploy ended ${first.outcome}: ${first.reason}`);
  } else {
    process.send({ type: 'installed', installMs, cpuMs: (installCpu.user + installCpu.system) / 1000 });
    await nextMessage('rollout');
    const writesBefore = orch.stats.snapshotWrites;
    const v2 = testRevision({ app: 'fleet', version: '2', components: [{ id: 'api', image: 'mem://api:2' }] });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const handle = await orch.deploy(v2, {
      strategy: { type: 'rolling', maxParallel: '10%', maxUnavailable: '10%' },
    });
    const out = await handle.done;
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (out.outcome !== 'completed') {
      fail(`v2 rollout ended ${out.outcome}: ${out.reason}`);
    } else {
      process.send({
        type: 'result',
        wallMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        batches: handle.snapshot().batches,
        snapshotWrites: orch.stats.snapshotWrites - writesBefore,
        heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20,
      });
      await nextMessage('stop');
      await orch.close();
      await store.close();
      await transport.close();
      await nc.drain().catch(() => nc.close());
      process.exit(0);
    }
  }
} catch (err) {
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err));
}
