import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AnalysisContext,
  AnalysisSpec,
  type AnalysisSpecInput,
  type GateCounters,
  type HostInventory,
  analysisMetric,
  createWebhookProvider,
  errorRateProvider,
  gateWindow,
  latencyP99Provider,
} from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { componentInventory, gateStats, hostInventory } from '../fixtures/inventory';

const V1 = 'a'.repeat(64);
const V2 = 'b'.repeat(64);

/** Gate counters as a host reports them: `accepted` calls completed, `errors` of them failed, the rest answered. */
function counters(accepted: number, errors: number, p99 = 10, answered = accepted - errors): GateCounters {
  return { accepted, answered, errors, latencyMs: { count: answered, p50: p99 / 2, p99, max: p99 * 2 } };
}

/** A host whose `api` (app `shop`) gate has the given counters per hash. */
function host(hostId: string, byHash: Record<string, GateCounters>, app = 'shop'): HostInventory {
  return hostInventory({
    hostId,
    components: [componentInventory({ id: 'api', app, servingHash: V2, gate: gateStats({ byHash }) })],
  });
}

function spec(overrides: Partial<AnalysisSpecInput> = {}): AnalysisSpec {
  return AnalysisSpec.parse({ provider: 'errorRate', failureCondition: { max: 0.01 }, ...overrides });
}

function ctx(hosts: HostInventory[], overrides: Partial<AnalysisContext> = {}): AnalysisContext {
  const s = overrides.spec ?? spec();
  return { app: 'shop', revision: 'v2', hash: V2, hosts, metric: analysisMetric(s), spec: s, ...overrides };
}

describe('built-in analysis providers', () => {
  it.each([
    // name, hosts now, baseline, error rate
    [
      'sums the hash over every host',
      [host('h1', { [V2]: counters(100, 10) }), host('h2', { [V2]: counters(300, 10) })],
      undefined,
      { value: 0.05 },
    ],
    [
      'ignores other hashes',
      [host('h1', { [V1]: counters(100, 100), [V2]: counters(100, 1) })],
      undefined,
      { value: 0.01 },
    ],
    [
      'ignores other apps',
      [host('h1', { [V2]: counters(100, 0) }), host('h2', { [V2]: counters(100, 100) }, 'blog')],
      undefined,
      { value: 0 },
    ],
    ['no answered invocations is no data', [host('h1', { [V2]: counters(0, 0) })], undefined, { noData: true }],
    ['a host without the hash is no data', [host('h1', { [V1]: counters(10, 1) })], undefined, { noData: true }],
    ['no hosts is no data', [], undefined, { noData: true }],
    [
      'measures the window since the baseline',
      [host('h1', { [V2]: counters(200, 21) })],
      [host('h1', { [V2]: counters(100, 1) })],
      { value: 0.2 },
    ],
    [
      'no traffic since the baseline is no data',
      [host('h1', { [V2]: counters(100, 5) })],
      [host('h1', { [V2]: counters(100, 5) })],
      { noData: true },
    ],
    [
      'a host that restarted counts from zero',
      [host('h1', { [V2]: counters(10, 2) })],
      [host('h1', { [V2]: counters(500, 1) })],
      { value: 0.2 },
    ],
    [
      'a host new since the baseline counts in full',
      [host('h1', { [V2]: counters(110, 0) }), host('h2', { [V2]: counters(10, 10) })],
      [host('h1', { [V2]: counters(100, 0) })],
      { value: 0.5 },
    ],
  ])('error rate %s', async (_name, hosts, baseline, expected) => {
    const result = await errorRateProvider.measure(ctx(hosts, baseline === undefined ? {} : { baseline }));
    expect(result).toEqual(expected);
  });

  it('measures several spec hashes of one revision together', async () => {
    const h = host('h1', { [V1]: counters(100, 0), [V2]: counters(100, 20) });
    expect(await errorRateProvider.measure(ctx([h], { hashes: [V1, V2] }))).toEqual({ value: 0.1 });
  });

  const latency = spec({ provider: 'latencyP99', failureCondition: { max: 250 } });
  it.each([
    [
      'is the worst p99 among the hosts',
      [host('h1', { [V2]: counters(10, 0, 40) }), host('h2', { [V2]: counters(10, 0, 90) })],
      undefined,
      { value: 90 },
    ],
    [
      'leaves out hosts without traffic in the window',
      [host('h1', { [V2]: counters(10, 0, 400) }), host('h2', { [V2]: counters(20, 0, 30) })],
      [host('h1', { [V2]: counters(10, 0, 400) }), host('h2', { [V2]: counters(10, 0, 30) })],
      { value: 30 },
    ],
    ['without traffic is no data', [host('h1', { [V2]: counters(0, 0, 0) })], undefined, { noData: true }],
  ])('latency p99 %s', async (_name, hosts, baseline, expected) => {
    const result = await latencyP99Provider.measure(
      ctx(hosts, { spec: latency, metric: 'latencyP99', ...(baseline ? { baseline } : {}) }),
    );
    expect(result).toEqual(expected);
  });

  it('reports the window per host and component', () => {
    const w = gateWindow(
      [host('h1', { [V2]: counters(30, 3, 12) })],
      'shop',
      [V2],
      [host('h1', { [V2]: counters(10, 1, 12) })],
    );
    expect(w).toEqual({
      accepted: 20,
      answered: 18,
      errors: 2,
      samples: [
        { hostId: 'h1', componentId: 'api', accepted: 20, answered: 18, errors: 2, latencyCount: 18, p99: 12, max: 24 },
      ],
    });
  });
});

describe('webhook analysis provider', () => {
  type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
  let handler: Handler = (_req, _body, res) => res.end('{"value":0}');
  const received: { body: unknown; headers: IncomingMessage['headers'] }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ body: JSON.parse(body), headers: req.headers });
      handler(req, body, res);
    });
  });
  let url = '';

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/measure`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function webhookCtx(timeoutMs = 2_000): AnalysisContext {
    const s = AnalysisSpec.parse({
      name: 'checkout-errors',
      provider: 'webhook',
      metric: 'errorRate',
      webhook: { url, timeoutMs, headers: { authorization: 'Bearer t0ken' } },
      failureCondition: { metric: 'errorRate', max: 0.01 },
    });
    return ctx([host('h1', {}), host('h2', {})], { spec: s, metric: 'errorRate' });
  }

  it('posts the measurement context as json and returns the value', async () => {
    handler = (_req, _body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ value: 0.004, extra: 'ignored' }));
    };
    received.length = 0;
    await expect(createWebhookProvider().measure(webhookCtx())).resolves.toEqual({ value: 0.004 });
    expect(received[0]?.body).toEqual({
      app: 'shop',
      revision: 'v2',
      hash: V2,
      hashes: [V2],
      metric: 'errorRate',
      analysis: 'checkout-errors',
      hosts: ['h1', 'h2'],
    });
    expect(received[0]?.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer t0ken' });
  });

  it('passes no data through', async () => {
    handler = (_req, _body, res) => res.end('{"noData":true}');
    await expect(createWebhookProvider().measure(webhookCtx())).resolves.toEqual({ noData: true });
  });

  it.each([
    [
      'a 500',
      (res: ServerResponse) => {
        res.statusCode = 500;
        res.end('database down');
      },
      'analysis.failed',
      `answered 500: "database down"`,
    ],
    ['bad json', (res: ServerResponse) => res.end('{"value":'), 'analysis.failed', 'answered 200 with invalid json'],
    [
      'json without a value',
      (res: ServerResponse) => res.end('{"errorRate":0.5}'),
      'analysis.failed',
      'answered without a numeric "value" or "noData": true',
    ],
    [
      'a value that is not a number',
      (res: ServerResponse) => res.end('{"value":"0.5"}'),
      'analysis.failed',
      'answered without a numeric "value"',
    ],
  ] as const)('turns %s into a measurement error', async (_name, reply, code, message) => {
    handler = (_req, _body, res) => reply(res);
    await expect(createWebhookProvider().measure(webhookCtx())).rejects.toMatchObject({
      code,
      retryable: true,
      message: expect.stringContaining(`webhook "${url}" ${message}`),
    });
  });

  it('turns no answer within timeoutMs into a timeout', async () => {
    handler = () => {
      // Never answers; the connection is closed when the server stops.
    };
    await expect(createWebhookProvider().measure(webhookCtx(50))).rejects.toMatchObject({
      code: 'timeout',
      message: `webhook "${url}" did not answer within 50 ms`,
      retryable: true,
    });
  });

  it('stops when the caller cancels', async () => {
    handler = () => {};
    const controller = new AbortController();
    const pending = createWebhookProvider().measure({ ...webhookCtx(), signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
  });

  it('turns a refused connection into a measurement error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const c = webhookCtx();
    const s = AnalysisSpec.parse({ ...c.spec, webhook: { url: `http://127.0.0.1:${port}/`, timeoutMs: 2_000 } });
    await expect(createWebhookProvider().measure({ ...c, spec: s })).rejects.toMatchObject({
      code: 'analysis.failed',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('uses the fetch it is given', async () => {
    const calls: string[] = [];
    const provider = createWebhookProvider({
      fetch: async (input) => {
        calls.push(String(input));
        return new Response('{"value":1}', { status: 200 });
      },
    });
    await expect(provider.measure(webhookCtx())).resolves.toEqual({ value: 1 });
    expect(calls).toEqual([url]);
  });
});
