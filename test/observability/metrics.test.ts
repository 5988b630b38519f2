// OpenTelemetry metrics end to end: the CLI's --metrics endpoint (OTel SDK + Prometheus exporter) serves the
// figures of real hosts and an orchestrator (memory adapter, wall clock); a real Prometheus scrapes it while a
// canary runs under load and is judged by a PromQL analysis on those very metrics. The counters read back
// through Prometheus' query API match the load generator's own counts.
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';
import { createMemoryProvider } from 'cutover/adapters/providers';
import { type Host, type RolloutOutput, createHost, createOrchestrator, specHash } from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetricsEndpoint, parseListen, serveMetrics } from '../../src/cli/telemetry/metrics';
import { revision } from '../fixtures/orchestrator';
import { freePort, type PrometheusServerHandle, startPrometheus } from '../helpers/prometheusServer';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
const V1 = rev('1');
const V2 = rev('2');
const hashOf = (r: typeof V1) => specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

/** The error ratio of the measured spec hash over the last 30 s, from cutover's own invocation counter. */
const ERROR_RATIO =
  'sum(increase(cutover_invocations_total{app="{{app}}",version="{{hash}}",outcome="error"}[30s]))' +
  ' / sum(increase(cutover_invocations_total{app="{{app}}",version="{{hash}}"}[30s]))';

let endpoint: MetricsEndpoint;
let prom: PrometheusServerHandle;

beforeAll(async () => {
  // Registered before any host or orchestrator exists, as the CLI does.
  endpoint = await serveMetrics(`127.0.0.1:${await freePort()}`);
  prom = await startPrometheus({ targets: [new URL(endpoint.url).host] });
  await prom.waitFor('up{job="cutover"}', (s) => s[0]?.value === 1);
});

afterAll(async () => {
  await prom?.[Symbol.asyncDispose]();
  await endpoint?.close();
});

describe('--metrics endpoint', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['9464', { host: '127.0.0.1', port: 9464 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
  ])('reads %s', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(['', 'localhost', 'host:port', '127.0.0.1:99999'])('refuses %j with config.invalid', (text) => {
    expect(() => parseListen(text)).toThrow(expect.objectContaining({ code: 'config.invalid' }));
  });

  it('serves cutover metrics in Prometheus text format', async () => {
    const res = await fetch(endpoint.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
  });
});

describe('a canary scraped by a real Prometheus through OpenTelemetry', () => {
  it('is rolled back by a PromQL error ratio on cutover_invocations_total, and the counters match the load', async () => {
    const bus = createMemoryBus();
    const runtime = createMemoryRuntime();
    runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    let calls = 0;
    runtime.publish('mem://api:2', {
      version: '2',
      operations: {
        handle: (p) => {
          calls++;
          if (calls % 5 === 0) throw new Error('every fifth call fails');
          return p;
        },
      },
    });
    const hosts: Host[] = [];
    for (let i = 1; i <= 3; i++) {
      hosts.push(
        await createHost({
          hostId: `h${i}`,
          lattice: 'otel',
          transport: bus.connect(`h${i}`),
          runtime,
          heartbeatMs: 0,
          defaultProvider: createMemoryProvider(),
        }),
      );
    }
    const orch = await createOrchestrator({
      lattice: 'otel',
      transport: bus.connect('orchestrator'),
      store: createMemoryStore({ lattice: 'otel' }),
      heartbeatMs: 1000,
      requestTimeoutMs: 2000,
      scalers: false,
    });
    try {
      expect((await (await orch.deploy(V1)).done).outcome).toBe('completed');
      const handle = await orch.deploy(V2, {
        strategy: {
          type: 'canary',
          steps: [
            { setHosts: 1 },
            {
              analysis: {
                name: 'error-ratio',
                provider: 'prometheus',
                address: prom.url,
                query: ERROR_RATIO,
                initialDelayMs: 3_000,
                intervalMs: 1_500,
                count: 2,
                failureCondition: { max: 0.1 },
              },
            },
            { setHosts: '100%' },
          ],
        },
      });
      const own = { ok: 0, errors: 0 };
      let finished = false;
      void handle.done.finally(() => {
        finished = true;
      });
      while (!finished) {
        for (const h of hosts) {
          await h.invoke('api', 'handle', new Uint8Array([1])).then(
            () => own.ok++,
            () => own.errors++,
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const output: RolloutOutput = await handle.done;
      console.log(`otel canary: ${output.reason}; load generator: ${own.ok} ok, ${own.errors} errors`);
      expect(output.outcome).toBe('rolledBack');
      expect(output.reason).toMatch(/^analysis "error-ratio" failed: value 0\.[12][0-9]* > max 0\.1 in 1 of 1/);

      // Once Prometheus scraped after the load stopped, its counters equal the load generator's.
      const ok = await prom.waitFor(
        'sum(cutover_invocations_total{app="shop",outcome="ok"})',
        (s) => s[0]?.value === own.ok,
      );
      const errors = await prom.waitFor(
        'sum(cutover_invocations_total{app="shop",outcome="error"})',
        (s) => s[0]?.value === own.errors,
      );
      const byVersion = await prom.query('sum by (version) (cutover_invocations_total{app="shop",outcome="error"})');
      console.log(
        `prometheus: ${ok[0]?.value} ok, ${errors[0]?.value} errors; errors by version ${JSON.stringify(byVersion)}`,
      );
      expect(byVersion.find((s) => s.metric.version === hashOf(V1))?.value).toBe(0);
      expect(byVersion.find((s) => s.metric.version === hashOf(V2))?.value).toBe(own.errors);
      const ended = await prom.waitFor('sum by (outcome, reason) (cutover_rollout_ended_total)', (s) => s.length >= 2);
      expect(ended.map((s) => [s.metric.outcome, s.metric.reason, s.value]).sort()).toEqual([
        ['completed', 'completed', 1],
        ['rolledBack', 'analysis.failed', 1],
      ]);
      const measured = await prom.query('sum by (provider, verdict) (cutover_analysis_measurements_total)');
      expect(measured.map((s) => [s.metric.provider, s.metric.verdict, s.value])).toEqual([
        ['prometheus', 'failed', 1],
      ]);
      const leases = await prom.query('sum by (change) (cutover_lease_changes_total{app="shop"})');
      expect(leases.find((s) => s.metric.change === 'acquired')?.value).toBeGreaterThanOrEqual(1);
      const pauses = await prom.query('sum(cutover_gate_pause_duration_count)');
      console.log(`gate pauses recorded: ${pauses[0]?.value}`);
      expect(pauses[0]?.value).toBeGreaterThan(0);
    } finally {
      await orch.close();
      for (const h of hosts) await h.stop();
      await bus.close();
    }
  });
});
