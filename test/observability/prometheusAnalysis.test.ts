// PromQL analysis against a real Prometheus (the Debian package): the provider's answers and errors, and
// canaries on real hosts (memory adapter, wall clock) whose invocations Prometheus scrapes from an exporter
// of the hosts' gate counters while a load generator calls them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';
import { createMemoryProvider } from 'cutover/adapters/providers';
import {
  type AnalysisContext,
  AnalysisSpec,
  type AnalysisSpecInput,
  type Host,
  type Orchestrator,
  type RolloutOutput,
  type StrategyInput,
  createHost,
  createOrchestrator,
  createPrometheusProvider,
  isCutoverError,
  renderPromQuery,
  specHash,
} from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { freePort, type PrometheusServerHandle, startPrometheus } from '../helpers/prometheusServer';

const rev = (version: string, app = 'shop') =>
  revision({ app, version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
const V2 = rev('2');
const hashOf = (r: ReturnType<typeof rev>) =>
  specHash(r.components[0]?.spec ?? { id: 'x', app: 'x', imageRef: 'x' }, 'component');

/** The error ratio of the measured version over the last 30 s, from the invocation counters. */
const ERROR_RATIO =
  'sum(increase(cutover_invocations_total{app="{{app}}",version="{{revision}}",outcome="error"}[30s]))' +
  ' / sum(increase(cutover_invocations_total{app="{{app}}",version="{{revision}}"}[30s]))';

/** The hosts whose gate counters the exporter serves, and the version each spec hash is. */
const exported = { hosts: [] as Host[], versions: new Map<string, string>() };

/** Text exposition of the hosts' invocation counters by app, component, version and outcome. */
function exposition(): string {
  const lines = ['# TYPE cutover_invocations_total counter'];
  for (const host of exported.hosts) {
    for (const c of host.inventory().components) {
      for (const [hash, n] of Object.entries(c.gate?.byHash ?? {})) {
        const version = exported.versions.get(hash) ?? hash.slice(0, 12);
        const at = `app="${c.app}",component="${c.id}",version="${version}",host="${host.hostId}"`;
        lines.push(`cutover_invocations_total{${at},outcome="ok"} ${n.answered}`);
        lines.push(`cutover_invocations_total{${at},outcome="error"} ${n.errors}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

let exporter: Server;
let exporterTarget = '';
let prom: PrometheusServerHandle;

beforeAll(async () => {
  exporter = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(exposition());
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  exporterTarget = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  prom = await startPrometheus({ targets: [exporterTarget] });
  await prom.waitFor('up{job="cutover"}', (s) => s[0]?.value === 1);
});

afterAll(async () => {
  await prom?.[Symbol.asyncDispose]();
  exporter.closeAllConnections();
  await new Promise<void>((resolve) => exporter.close(() => resolve()));
});

function promSpec(overrides: Partial<AnalysisSpecInput> = {}): AnalysisSpec {
  return AnalysisSpec.parse({
    provider: 'prometheus',
    address: prom.url,
    query: 'vector(0.25)',
    failureCondition: { max: 0.1 },
    ...overrides,
  });
}

function promCtx(spec: AnalysisSpec): AnalysisContext {
  return { app: 'shop', revision: '2', hash: hashOf(V2), hosts: [], metric: 'value', spec };
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isCutoverError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected the measurement to fail');
}

describe('prometheus analysis provider (real Prometheus)', () => {
  const provider = createPrometheusProvider();

  it.each([
    ['a scalar', 'scalar(vector(0.5))', { value: 0.5 }],
    ['a vector of one series', 'vector(0.25)', { value: 0.25 }],
    ['a labelled single series', 'up{job="cutover"}', { value: 1 }],
    ['an empty vector as no data', 'up{job="nobody"}', { noData: true }],
    ['NaN (0/0, no traffic) as no data', 'vector(0) / vector(0)', { noData: true }],
  ])('reads %s', async (_name, query, expected) => {
    await expect(provider.measure(promCtx(promSpec({ query })))).resolves.toEqual(expected);
  });

  it('refuses a query Prometheus cannot parse with analysis.queryInvalid', async () => {
    const e = await errorOf(provider.measure(promCtx(promSpec({ query: 'sum(rate(' }))));
    expect(e.code).toBe('analysis.queryInvalid');
    expect(e.message).toContain('sum(rate(');
  });

  it('refuses several series with analysis.notSingleValue, naming them', async () => {
    const e = await errorOf(
      provider.measure(promCtx(promSpec({ query: 'label_replace(up, "x", "a", "", "") or vector(1)' }))),
    );
    expect(e.code).toBe('analysis.notSingleValue');
    expect(e.message).toMatch(/answered 2 series .*not one/);
  });

  it('refuses a range vector with analysis.notSingleValue', async () => {
    const e = await errorOf(provider.measure(promCtx(promSpec({ query: 'up[5s]' }))));
    expect(e.code).toBe('analysis.notSingleValue');
    expect(e.message).toContain('matrix');
  });

  it('reports a server nobody answers on as analysis.unavailable', async () => {
    const address = `http://127.0.0.1:${await freePort()}`;
    const e = await errorOf(provider.measure(promCtx(promSpec({ address }))));
    expect(e.code).toBe('analysis.unavailable');
    expect(e.message).toContain(`prometheus ${address} is unreachable`);
  });

  it('fills {{app}}, {{revision}} and {{hash}} into the query', () => {
    const q = renderPromQuery('x{app="{{app}}",version="{{ revision }}",hash="{{hash}}"}', promCtx(promSpec()));
    expect(q).toBe(`x{app="shop",version="2",hash="${hashOf(V2)}"}`);
  });

  it('refuses an analysis without address or query, or with an unknown placeholder, naming the field', () => {
    const missing = AnalysisSpec.safeParse({ provider: 'prometheus', failureCondition: { max: 1 } });
    expect(missing.success).toBe(false);
    expect(missing.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['address', 'query']);
    const placeholder = AnalysisSpec.safeParse({
      provider: 'prometheus',
      address: 'http://127.0.0.1:9090',
      query: 'x{v="{{version}}"}',
      failureCondition: { max: 1 },
    });
    expect(placeholder.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'query: placeholders are {{app}}, {{revision}} and {{hash}}',
    ]);
    const foreign = AnalysisSpec.safeParse({ provider: 'errorRate', query: 'up', failureCondition: { max: 1 } });
    expect(foreign.error?.issues.map((i) => i.message)).toEqual(['provider "errorRate" takes no query']);
  });
});

/** Four real hosts and an orchestrator on the memory adapter and the wall clock, exported to Prometheus. */
/**
 * Each lattice rolls out its own app (`app`), so the series of one test never fall inside the 30 s window
 * another test's analysis queries.
 */
async function lattice(opts: { flakyV2: boolean; app: string }) {
  const v1 = rev('1', opts.app);
  const v2 = rev('2', opts.app);
  const bus = createMemoryBus();
  const store = createMemoryStore({ lattice: 'prom' });
  const runtime = createMemoryRuntime();
  runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  let v2calls = 0;
  runtime.publish('mem://api:2', {
    version: '2',
    operations: {
      handle: (p) => {
        v2calls++;
        if (opts.flakyV2 && v2calls % 5 === 0) throw new Error('every fifth call fails');
        return p;
      },
    },
  });
  const hosts: Host[] = [];
  for (let i = 1; i <= 4; i++) {
    hosts.push(
      await createHost({
        hostId: `h${i}`,
        lattice: 'prom',
        transport: bus.connect(`h${i}`),
        runtime,
        heartbeatMs: 0,
        defaultProvider: createMemoryProvider(),
      }),
    );
  }
  exported.hosts = hosts;
  exported.versions = new Map([
    [hashOf(v1), '1'],
    [hashOf(v2), '2'],
  ]);
  const orch: Orchestrator = await createOrchestrator({
    lattice: 'prom',
    transport: bus.connect('orchestrator'),
    store,
    heartbeatMs: 1000,
    requestTimeoutMs: 2000,
    scalers: false,
  });
  return {
    v1,
    v2,
    hosts,
    orch,
    async [Symbol.asyncDispose]() {
      exported.hosts = [];
      await orch.close();
      for (const h of hosts) await h.stop();
      await bus.close();
    },
  };
}

/** Calls every host round-robin until `done` settles; returns its own count of answers and errors. */
async function underLoad(hosts: Host[], done: Promise<RolloutOutput>) {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const own = { ok: 0, errors: 0 };
  while (!finished) {
    for (const h of hosts) {
      await h.invoke('api', 'handle', new Uint8Array([1])).then(
        () => own.ok++,
        () => own.errors++,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { output: await done, own };
}

function canary(analysis: Partial<AnalysisSpecInput>): StrategyInput {
  return {
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
          ...analysis,
        },
      },
      { setHosts: '100%' },
    ],
  };
}

describe('canary judged by a PromQL error ratio (real Prometheus scraping the hosts)', () => {
  it('rolls back a new version that answers 20% errors, with the ratio in the reason', async () => {
    await using lat = await lattice({ flakyV2: true, app: 'flaky' });
    expect((await (await lat.orch.deploy(lat.v1)).done).outcome).toBe('completed');
    const handle = await lat.orch.deploy(lat.v2, { strategy: canary({}) });
    const { output, own } = await underLoad(lat.hosts, handle.done);
    console.log(`flaky canary: ${output.reason}; load generator saw ${own.ok} ok, ${own.errors} errors`);
    expect(output.outcome).toBe('rolledBack');
    expect(output.reason).toMatch(
      /^analysis "error-ratio" failed: value 0\.[12][0-9]* > max 0\.1 in 1 of 1 measurements$/,
    );
    const v1 = hashOf(lat.v1);
    expect(lat.hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash)).toEqual([
      v1,
      v1,
      v1,
      v1,
    ]);
    // Prometheus saw the canary's errors: its counters agree with what the load generator got back.
    const seen = await prom.query('sum(cutover_invocations_total{app="flaky",version="2",outcome="error"})');
    expect(seen[0]?.value).toBeGreaterThan(0);
    expect(own.errors).toBeGreaterThanOrEqual(seen[0]?.value ?? Number.POSITIVE_INFINITY);
  });

  it('completes the same canary when the new version is healthy', async () => {
    await using lat = await lattice({ flakyV2: false, app: 'healthy' });
    expect((await (await lat.orch.deploy(lat.v1)).done).outcome).toBe('completed');
    const handle = await lat.orch.deploy(lat.v2, { strategy: canary({}) });
    const { output, own } = await underLoad(lat.hosts, handle.done);
    console.log(
      `healthy canary: ${output.outcome} ${output.reason}; load generator saw ${own.ok} ok, ${own.errors} errors`,
    );
    expect(output.outcome).toBe('completed');
    expect(own.errors).toBe(0);
    const v2 = hashOf(lat.v2);
    expect(lat.hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash)).toEqual([
      v2,
      v2,
      v2,
      v2,
    ]);
  });

  it('fails the analysis when Prometheus is down for more errors in a row than the limit, with the count in the reason', async () => {
    await using down = await startPrometheus({ targets: [exporterTarget] });
    await using lat = await lattice({ flakyV2: false, app: 'unwatched' });
    expect((await (await lat.orch.deploy(lat.v1)).done).outcome).toBe('completed');
    await down.kill();
    const handle = await lat.orch.deploy(lat.v2, {
      strategy: canary({ address: down.url, initialDelayMs: 0, intervalMs: 300, count: 5, consecutiveErrorLimit: 2 }),
    });
    const { output } = await underLoad(lat.hosts, handle.done);
    console.log(`prometheus down: ${output.reason}`);
    expect(output.outcome).toBe('rolledBack');
    expect(output.reason).toContain('analysis "error-ratio" failed: 3 measurement errors in a row > limit 2');
    expect(output.reason).toContain(`analysis.unavailable: prometheus ${down.url} is unreachable`);
  });
});
