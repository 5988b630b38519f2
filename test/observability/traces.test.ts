// Spans through @opentelemetry/api with an in-memory span exporter registered: one rollout is one trace,
// with a span per batch and per analysis measurement as its children, and each host's apply span a child of
// its batch's span through the `traceparent` the apply request carries.
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { StrategyInput } from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drive, revision, testLattice } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});

const canary: StrategyInput = {
  type: 'canary',
  steps: [
    { setHosts: 1 },
    {
      analysis: {
        name: 'errors',
        provider: 'errorRate',
        intervalMs: 5_000,
        count: 2,
        noData: 'pass',
        failureCondition: { max: 0.05 },
      },
    },
    { setHosts: '100%' },
  ],
};

describe('rollout traces', () => {
  it('makes one trace per rollout: batches, measurements and host applies hang under the rollout span', async () => {
    await using lat = await testLattice(3);
    lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
    lat.runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
    const orch = await lat.orchestrator();
    expect((await drive(lat.clock, (await orch.deploy(rev('1'))).done)).outcome).toBe('completed');
    exporter.reset();
    const handle = await orch.deploy(rev('2'), { strategy: canary });
    expect((await drive(lat.clock, handle.done)).outcome).toBe('completed');
    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === 'cutover.rollout');
    expect(roots).toHaveLength(1);
    const root = roots[0];
    if (root === undefined) throw new Error('no rollout span');
    expect(root.attributes).toMatchObject({ app: 'shop', 'cutover.rollout.id': handle.id, version: '2' });
    const children = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
    const names = children.map((s) => s.name);
    console.log(`spans under the rollout: ${names.join(', ')}`);
    expect(names.filter((n) => n === 'cutover.batch').length).toBeGreaterThanOrEqual(2);
    const measured = children.filter((s) => s.name === 'cutover.analysis.measure');
    expect(measured.map((s) => s.attributes['cutover.analysis.verdict'])).toEqual(['successful', 'successful']);
    // Each host's apply span is a child of the batch span whose apply it served (the request carried it).
    const batches = new Set(children.filter((s) => s.name === 'cutover.batch').map((s) => s.spanContext().spanId));
    const applies = spans.filter((s) => s.name === 'cutover.host.apply');
    expect(applies.map((s) => s.attributes.host).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(applies.every((s) => batches.has(s.parentSpanContext?.spanId ?? ''))).toBe(true);
    expect(applies.map((s) => s.attributes['cutover.outcome'])).toEqual(['applied', 'applied', 'applied']);
    expect(spans.every((s) => s.spanContext().traceId === root.spanContext().traceId)).toBe(true);
  });
});
