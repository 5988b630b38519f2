// A fleet scraped by a real Prometheus: one `cutover orchestrator` and three `cutover host` processes on a real
// nats-server, each serving /metrics (`--metrics`), while a canary of examples/hello (real wasm, the built-in
// http-server provider) runs under load from a load generator invoking over NATS. The series read back through
// Prometheus' query API must match what the test itself knows: the rollouts it started and how they ended,
// and every invocation the load generator had answered, by version.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type ApiClient,
  type StrategyInput,
  type Transport,
  createApiClient,
  invokeRemote,
  parseManifest,
  specHash,
} from 'cutover';
import { createNatsTransport } from 'cutover/adapters/nats';
import { type LoadFigures, createLoadGenerator } from 'cutover/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT, type CliProcess, killAll, startCli } from '../e2e/cliProcess';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { freePort, type PromSample, type PrometheusServerHandle, startPrometheus } from '../helpers/prometheusServer';

const LATTICE = 'fleet';
const APP = 'hello';
const HOSTS = ['h1', 'h2', 'h3'] as const;
/** One host first, a timed pause the load runs through, then every host. */
const CANARY: StrategyInput = {
  type: 'canary',
  steps: [{ setHosts: 1 }, { pause: { durationMs: 2_000 } }, { setHosts: '100%' }],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `{label: value}` of a `sum by (label)` answer. */
const byLabel = (samples: PromSample[], label: string) =>
  Object.fromEntries(samples.map((s) => [s.metric[label] ?? '', s.value]));

describe('a fleet of CLI processes scraped by a real Prometheus during a canary under load', () => {
  let nats: NatsServerHandle;
  let prom: PrometheusServerHandle;
  let nc: NatsConnection;
  let transport: Transport;
  let api: ApiClient;
  const processes: CliProcess[] = [];
  const manifests = { v1: '', v2: '' };
  /** The greeter's spec hash per version: the `version` label of cutover_invocations_total. */
  const hashes = { v1: '', v2: '' };
  let greeter = '';
  let load: LoadFigures;
  let stoppedAt = 0;
  const outcomes: string[] = [];

  beforeAll(async () => {
    for (const v of ['v1', 'v2'] as const) {
      manifests[v] = await readFile(join(CLI_ROOT, `examples/hello/hello.${v}.wadm.yaml`), 'utf8');
      const spec = parseManifest(manifests[v]).revision.components.find((c) => c.name === 'greeter')?.spec;
      if (spec === undefined) throw new Error(`no greeter in hello ${v}`);
      greeter = spec.id;
      hashes[v] = specHash(spec, 'component');
    }
    nats = await startNatsServer();
    const common = ['--nats', nats.url, '--lattice', LATTICE, '--log-format', 'json'];
    const targets: string[] = [];
    const metrics = async () => {
      const at = `127.0.0.1:${await freePort()}`;
      targets.push(at);
      return at;
    };
    const orchestrator = startCli('orchestrator', [
      'orchestrator',
      ...common,
      '--metrics',
      await metrics(),
      '--heartbeat-ms',
      '200',
      '--request-timeout-ms',
      '5000',
    ]);
    processes.push(orchestrator);
    for (const id of HOSTS) {
      processes.push(
        startCli(id, [
          'host',
          ...common,
          '--id',
          id,
          '--metrics',
          await metrics(),
          '--heartbeat-ms',
          '500',
          // Three hosts on one machine: the manifest's listen address goes to an ephemeral port on each.
          '--bind-map',
          '0.0.0.0:8080=127.0.0.1:0',
        ]),
      );
    }
    await Promise.all([
      orchestrator.waitFor(/"msg":"orchestrator ready/),
      ...processes.slice(1).map((p) => p.waitFor(new RegExp(`"msg":"host ${p.name} ready`))),
    ]);
    prom = await startPrometheus({ targets });
    await prom.waitFor('up{job="cutover"}', (s) => s.length === 4 && s.every((x) => x.value === 1), 30_000);
    nc = await nats.connect();
    transport = createNatsTransport(nc);
    api = createApiClient(transport, { lattice: LATTICE, timeoutMs: 10_000 });

    // v1 everywhere, then the canary of v2 while the load generator calls the greeter over NATS.
    const first = await api.deploy(manifests.v1);
    outcomes.push((await api.watch(first.id, () => undefined, { pollMs: 250 }).done).outcome);
    const generator = createLoadGenerator({
      concurrency: 2,
      invoke: (seq) => invokeRemote(transport, LATTICE, greeter, 'handle', new TextEncoder().encode(`${seq}`), 10_000),
      check: (reply, seq) => {
        const text = new TextDecoder().decode(reply);
        const m = /^(v[12]):(\d+)$/.exec(text);
        const [, version, echoed] = m ?? [];
        return version !== undefined && echoed === `${seq}`
          ? { label: version }
          : { error: 'reply.unexpected', message: `call ${seq} answered ${JSON.stringify(text)}` };
      },
    });
    await sleep(1_000);
    const canary = await api.deploy(manifests.v2, { strategy: CANARY });
    outcomes.push((await api.watch(canary.id, () => undefined, { pollMs: 250 }).done).outcome);
    await sleep(1_000);
    load = await generator.stop();
    stoppedAt = Date.now();
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await killAll();
    await prom?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  /**
   * Polls `promql` (a `sum by (label)`) until every target was scraped after the load stopped and two reads
   * in a row agree, bounded; returns the last read by label.
   */
  const settled = async (promql: string, label: string): Promise<Record<string, number>> => {
    await prom.waitFor(
      'timestamp(up{job="cutover"})',
      (s) => s.length === 4 && s.every((x) => x.value * 1000 > stoppedAt + 100),
      30_000,
    );
    let last = JSON.stringify(byLabel(await prom.query(promql), label));
    const deadline = Date.now() + 20_000;
    for (;;) {
      await sleep(1_200);
      const now = JSON.stringify(byLabel(await prom.query(promql), label));
      if (now === last) return JSON.parse(now) as Record<string, number>;
      if (Date.now() > deadline) throw new Error(`${promql} kept changing: ${last} → ${now}`);
      last = now;
    }
  };

  it('ran the canary to completion under load, every call answered by v1 or v2', () => {
    console.log(
      `load: sent ${load.sent}, answered ${load.answered} (${JSON.stringify(load.answeredBy)}), errors ${load.errors} ${JSON.stringify(load.errorsByCode)}, dropped ${load.dropped}`,
    );
    expect(outcomes).toEqual(['completed', 'completed']);
    expect(load.errors).toBe(0);
    expect(load.dropped).toBe(0);
    expect(load.answered).toBe(load.sent);
    expect(load.answeredBy.v1).toBeGreaterThan(0);
    expect(load.answeredBy.v2).toBeGreaterThan(0);
  });

  it("counts the orchestrator's rollouts: both started, both ended completed", async () => {
    const started = await settled(`sum by (app) (cutover_rollout_started_total{app="${APP}"})`, 'app');
    const ended = await settled(`sum by (outcome) (cutover_rollout_ended_total{app="${APP}"})`, 'outcome');
    console.log(`prometheus: rollouts started ${JSON.stringify(started)}, ended ${JSON.stringify(ended)}`);
    expect(started).toEqual({ [APP]: 2 });
    expect(ended).toEqual({ completed: 2 });
  });

  it("counts the hosts' invocations by version exactly as the load generator counted its answers", async () => {
    const query = `sum by (version, outcome) (cutover_invocations_total{app="${APP}",component="${greeter}"})`;
    await settled(query, 'version');
    const samples = await prom.query(query);
    const perHost = await prom.query(`sum by (host) (cutover_invocations_total{app="${APP}"})`);
    console.log(
      `prometheus: invocations ${samples.map((s) => `${s.metric.version === hashes.v1 ? 'v1' : s.metric.version === hashes.v2 ? 'v2' : s.metric.version}/${s.metric.outcome}=${s.value}`).join(', ')}; by host ${perHost.map((s) => `${s.metric.host}=${s.value}`).join(', ')}`,
    );
    const count = (hash: string, outcome: string) =>
      samples.find((s) => s.metric.version === hash && s.metric.outcome === outcome)?.value ?? 0;
    expect(new Set(samples.map((s) => s.metric.version))).toEqual(new Set([hashes.v1, hashes.v2]));
    expect(count(hashes.v1, 'ok')).toBe(load.answeredBy.v1);
    expect(count(hashes.v2, 'ok')).toBe(load.answeredBy.v2);
    expect(count(hashes.v1, 'error') + count(hashes.v2, 'error')).toBe(load.errors);
  });
});
