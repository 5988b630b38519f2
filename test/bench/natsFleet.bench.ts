// NATS fleet benchmark (issue 20 goal 4): 1,000 real hosts over a real nats-server, in 4 host processes of 250
// hosts each, driven by an orchestrator in a process of its own (JetStream KV store, no scalers), as a
// deployment would run them. Installs v1 on every host (maxParallel 100%), then times a rolling v2 update
// (maxParallel 10%, maxUnavailable 10%) and the orchestrator process's CPU over it. Prints numbers, asserts
// nothing about time; throws unless every host serves v1 after the install and v2 after the rollout.
// The children are plain `node` scripts (test/bench/fleet/*.mjs) running the BUILT package, so dist/ is built
// first when it is stale (`ensureBuilt`, as the README tests do).
// Last line of the run: {"bench":"nats-fleet","hosts":1000,"wallMs":…,"cpuMsPerHost":…,"installMs":…,…}
import { loadavg } from 'node:os';
import { bench, describe } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { ensureBuilt } from '../readme/builtPackage';
import { type Child, fleetScript, nextMessage, send, startChild, stopChildren } from './fleet/childProcess';

const HOST_PROCESSES = 4;
const HOSTS_PER_PROCESS = 250;
/**
 * NATS connections per host process, shared by its 250 hosts (63 or 62 each). A process is one event loop, so
 * more sockets add no parallelism, only parsers, buffers and per-connection server work; one socket would put
 * every host of the process behind one read/flush loop. Four per process matches the in-process rollout of
 * nats.bench.ts (4 connections) and is what a host process multiplexing many hosts would plausibly use.
 * `CUTOVER_FLEET_CONNECTIONS` overrides it to compare.
 */
const CONNECTIONS_PER_PROCESS = Number(process.env.CUTOVER_FLEET_CONNECTIONS ?? 4);
/** The orchestrator's re-query period when a report is late: its default, as a deployment would run it. */
const ORCHESTRATOR_HEARTBEAT_MS = Number(process.env.CUTOVER_FLEET_HEARTBEAT_MS ?? 1_000);
const HOSTS = HOST_PROCESSES * HOSTS_PER_PROCESS;
const LATTICE = 'fleet';

/** Asks every host process how many of its hosts serve `imageRef`, and its CPU time so far (ms). */
async function census(hostProcs: readonly Child[], imageRef: string): Promise<{ serving: number; cpuMs: number }> {
  const replies = await Promise.all(
    hostProcs.map((child, id) => {
      const reply = nextMessage(child, 'count');
      send(child, { type: 'count', id, imageRef });
      return reply;
    }),
  );
  return {
    serving: replies.reduce((n, r) => n + Number(r.serving), 0),
    cpuMs: replies.reduce((n, r) => n + Number(r.cpuMs), 0),
  };
}

/** {@link census}, throwing unless every host serves `imageRef`. */
async function expectServing(hostProcs: readonly Child[], imageRef: string): Promise<{ cpuMs: number }> {
  const { serving, cpuMs } = await census(hostProcs, imageRef);
  if (serving !== HOSTS) throw new Error(`${serving} of ${HOSTS} hosts serve ${imageRef}`);
  return { cpuMs };
}

const round = (value: number, digits = 0) => Number(value.toFixed(digits));

async function fleetRollout(): Promise<void> {
  await ensureBuilt();
  let server: NatsServerHandle | undefined;
  const children: Child[] = [];
  let finished = false;
  try {
    server = await startNatsServer();
    const url = server.url;
    const s0 = performance.now();
    const hostProcs = Array.from({ length: HOST_PROCESSES }, (_, p) =>
      startChild(`host process ${p}`, fleetScript('hostProcess.mjs'), {
        FLEET_NATS_URL: url,
        FLEET_LATTICE: LATTICE,
        FLEET_FIRST: String(p * HOSTS_PER_PROCESS),
        FLEET_HOSTS: String(HOSTS_PER_PROCESS),
        FLEET_CONNECTIONS: String(CONNECTIONS_PER_PROCESS),
      }),
    );
    children.push(...hostProcs);
    const ready = await Promise.all(hostProcs.map((c) => nextMessage(c, 'ready')));
    const started = ready.reduce((n, r) => n + Number(r.hosts), 0);
    if (started !== HOSTS) throw new Error(`host processes started ${started} hosts, expected ${HOSTS}`);
    const startMs = performance.now() - s0;
    const idle = await census(hostProcs, 'mem://api:1');

    const orchestrator = startChild('orchestrator process', fleetScript('orchestratorProcess.mjs'), {
      FLEET_NATS_URL: url,
      FLEET_LATTICE: LATTICE,
      FLEET_HEARTBEAT_MS: String(ORCHESTRATOR_HEARTBEAT_MS),
    });
    children.push(orchestrator);
    const installed = await nextMessage(orchestrator, 'installed');
    const before = await expectServing(hostProcs, 'mem://api:1');

    const result = nextMessage(orchestrator, 'result');
    send(orchestrator, { type: 'rollout' });
    const out = await result;
    const after = await expectServing(hostProcs, 'mem://api:2');

    const wallMs = Number(out.wallMs);
    const cpuMs = Number(out.cpuMs);
    const line = {
      bench: 'nats-fleet',
      hosts: HOSTS,
      wallMs: round(wallMs),
      cpuMsPerHost: round(cpuMs / HOSTS, 3),
      installMs: round(Number(installed.installMs)),
      installCpuMsPerHost: round(Number(installed.cpuMs) / HOSTS, 3),
      // The host processes' CPU from ready to installed (the orchestrator's start and its first ping included).
      installHostCpuMsPerHost: round((before.cpuMs - idle.cpuMs) / HOSTS, 3),
      orchestratorCpuMs: round(cpuMs),
      // CPU of the four host processes over the same window (their cut-overs, replies and reports).
      hostCpuMsPerHost: round((after.cpuMs - before.cpuMs) / HOSTS, 3),
      msPerHost: round(wallMs / HOSTS, 3),
      batches: out.batches,
      snapshotWrites: out.snapshotWrites,
      orchestratorHeapMB: round(Number(out.heapUsedMB), 1),
      hostProcesses: HOST_PROCESSES,
      connectionsPerProcess: CONNECTIONS_PER_PROCESS,
      hostStartMs: round(startMs),
      // The machine's 1-minute load average at the end (2 cores: above 2, processes waited for a CPU).
      loadAvg1: round(loadavg()[0] ?? 0, 2),
    };
    console.log(
      `nats fleet of ${HOSTS} hosts in ${HOST_PROCESSES} processes (${CONNECTIONS_PER_PROCESS} connections each): ` +
        `install v1 ${line.installMs} ms, rolling v2 ${line.wallMs} ms (${line.batches} batches), orchestrator CPU ` +
        `${line.orchestratorCpuMs} ms = ${line.cpuMsPerHost} ms/host, hosts' CPU ${line.hostCpuMsPerHost} ms/host`,
    );
    console.log(JSON.stringify(line));
    finished = true;
  } finally {
    // After a run the processes are asked to stop (a clean stop is not what is measured; whoever has not exited
    // in 10 s is killed); after a failure they are killed at once.
    await stopChildren(children, finished ? 10_000 : 0);
    // Kills the server and removes its temp dir (config, JetStream store).
    await server?.[Symbol.asyncDispose]();
  }
}

describe('nats fleet', () => {
  bench('rolling update of 1,000 hosts in 4 processes over NATS (maxParallel 10%)', fleetRollout, {
    iterations: 1,
    warmupIterations: 0,
    time: 0,
    warmupTime: 0,
  });
});
