// One rollout is one trace across a real nats-server: an orchestrator and three hosts that only share NATS
// (transport and KV store), with an in-memory span exporter registered. No context manager is registered, so
// nothing carries the span context in-process: a host's apply span can only find its parent through the
// `traceparent` field of the component.apply message it received over the wire.
import type { NatsConnection } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type Host, type Orchestrator, createHost, createOrchestrator, decode, Message } from 'cutover';
import { createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';

const LATTICE = 'traced';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

describe('traces across NATS', () => {
  let server: NatsServerHandle;
  const connections: NatsConnection[] = [];
  const hosts: Host[] = [];
  let orchestrator: Orchestrator;
  /** The traceparent of every component.apply seen on the wire, by the host it was sent to. */
  const wire: Array<{ hostId: string; traceparent: string | undefined }> = [];

  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    server = await startNatsServer();
    const runtime = createMemoryRuntime();
    for (const v of ['1', '2']) runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
    for (const hostId of HOSTS) {
      const nc = await server.connect({ name: hostId });
      connections.push(nc);
      hosts.push(
        await createHost({ hostId, lattice: LATTICE, transport: createNatsTransport(nc), runtime, heartbeatMs: 0 }),
      );
    }
    const spy = await server.connect({ name: 'spy' });
    connections.push(spy);
    spy.subscribe(`wasmbus.ctl.v2alpha1.${LATTICE}.host.*.>`, {
      callback: (_err, msg) => {
        try {
          const m = decode(msg.data, Message);
          if (m.type === 'component.apply')
            wire.push({ hostId: msg.subject.split('.')[5] ?? '', traceparent: m.traceparent });
        } catch {
          // Replies and other messages on these subjects are not ours to count.
        }
      },
    });
    await spy.flush();
    const nc = await server.connect({ name: 'orchestrator' });
    connections.push(nc);
    orchestrator = await createOrchestrator({
      lattice: LATTICE,
      transport: createNatsTransport(nc),
      store: createNatsStore(nc, { lattice: LATTICE, timeoutMs: 5_000 }),
      holder: 'orch-1',
      scalers: false,
    });
  }, 60_000);

  afterAll(async () => {
    await orchestrator?.close();
    for (const h of hosts) await h.stop();
    for (const nc of connections) await nc.close();
    await server?.[Symbol.asyncDispose]();
    trace.disable();
    await provider.shutdown();
  });

  it("parents each host's apply span on the orchestrator's batch span that sent it, in the rollout's trace", async () => {
    expect((await (await orchestrator.deploy(rev('1'))).done).outcome).toBe('completed');
    exporter.reset();
    wire.length = 0;
    const handle = await orchestrator.deploy(rev('2'), {
      strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    });
    expect((await handle.done).outcome).toBe('completed');

    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === 'cutover.rollout');
    expect(roots).toHaveLength(1);
    const root = roots[0];
    if (root === undefined) throw new Error('no rollout span');
    const traceId = root.spanContext().traceId;
    const batches = spans.filter((s) => s.name === 'cutover.batch');
    const applies = spans.filter((s) => s.name === 'cutover.host.apply');
    console.log(
      `trace ${traceId}: ${spans.length} spans (${batches.length} batches, ${applies.length} host applies), ` +
        `${wire.length} component.apply messages on the wire, ${wire.filter((w) => w.traceparent).length} with a traceparent`,
    );

    // One batch per host (maxParallel 1), each a child of the rollout span.
    expect(batches).toHaveLength(HOSTS.length);
    expect(batches.every((b) => b.parentSpanContext?.spanId === root.spanContext().spanId)).toBe(true);
    const batchIds = new Set(batches.map((b) => b.spanContext().spanId));

    // Each host applied once, under a batch span of this trace, and under a different batch each.
    expect(applies.map((s) => s.attributes.host).sort()).toEqual([...HOSTS]);
    for (const apply of applies) {
      expect(apply.spanContext().traceId).toBe(traceId);
      expect(apply.parentSpanContext?.traceId).toBe(traceId);
      expect(apply.parentSpanContext?.isRemote).toBe(true);
      expect(batchIds.has(apply.parentSpanContext?.spanId ?? '')).toBe(true);
      expect(apply.attributes['cutover.outcome']).toBe('applied');
    }
    expect(new Set(applies.map((s) => s.parentSpanContext?.spanId)).size).toBe(HOSTS.length);

    // The context crossed the wire: each apply message carried the traceparent of the batch its span hangs under.
    expect(wire.map((w) => w.hostId).sort()).toEqual([...HOSTS]);
    for (const apply of applies) {
      const parent = apply.parentSpanContext;
      const sent = wire.find((w) => w.hostId === apply.attributes.host);
      expect(sent?.traceparent).toBe(`00-${parent?.traceId}-${parent?.spanId}-01`);
    }
    expect(spans.every((s) => s.spanContext().traceId === traceId)).toBe(true);
  });
});
