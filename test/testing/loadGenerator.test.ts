// The test kit's invocation load generator, through the public export.
import { CutoverError } from 'cutover';
import { describe, expect, it } from 'vitest';
import { createLoadGenerator, createSimulatedClock, createTestLattice, testRevision } from '../../src/testing/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('load generator', () => {
  it('sends at its rate on simulated time and counts every answer of a real host once, by version', async () => {
    await using lat = await createTestLattice({ hosts: 1 });
    lat.publish('mem://api:1');
    const orch = await lat.orchestrator();
    const v1 = testRevision({ version: '1', components: [{ id: 'api', image: 'mem://api:1' }] });
    expect((await lat.drive((await orch.deploy(v1)).done)).outcome).toBe('completed');
    const load = createLoadGenerator({
      clock: lat.clock,
      rate: 200,
      tickMs: 10,
      invoke: (seq) => lat.host('h1').invoke('api', 'echo', encoder.encode(`#${seq}`)),
      check: (reply, seq) => {
        const text = decoder.decode(reply);
        return text.endsWith(`:#${seq}`)
          ? { label: `v${text.split(':')[0]}` }
          : { error: 'wrong.reply', message: `got "${text}"` };
      },
    });
    await lat.clock.advance(1_000);
    const figures = await load.stop();
    expect(figures).toMatchObject({ sent: 200, answered: 200, errors: 0, dropped: 0, inFlight: 0 });
    expect(figures.answeredBy).toEqual({ v1: 200 });
  });

  it('keeps its concurrency in flight and counts errors by code with a sample message', async () => {
    let inFlight = 0;
    let most = 0;
    const load = createLoadGenerator({
      concurrency: 4,
      maxCalls: 30,
      invoke: async (seq) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        if (seq % 3 === 2) throw new CutoverError('gate.overflow', `call ${seq} refused`);
        return seq;
      },
      check: (reply) => (reply % 2 === 0 ? {} : { label: 'odd' }),
    });
    await load.idle();
    const figures = await load.stop();
    expect(most).toBe(4);
    expect(figures).toMatchObject({ sent: 30, answered: 20, errors: 10, dropped: 0 });
    expect(figures.errorsByCode).toEqual({ 'gate.overflow': 10 });
    expect(figures.samples['gate.overflow']).toBe('call 2 refused');
    expect(figures.answeredBy).toEqual({ odd: 10 });
  });

  it('counts calls never answered by the end of its grace as dropped', async () => {
    const clock = createSimulatedClock();
    const load = createLoadGenerator({ clock, rate: 10, tickMs: 100, invoke: () => new Promise<never>(() => {}) });
    await clock.advance(1_000);
    expect(load.figures()).toMatchObject({ sent: 10, inFlight: 10 });
    expect(await load.stop(0)).toMatchObject({ sent: 10, answered: 0, dropped: 10, inFlight: 0 });
  });

  it('refuses options without exactly one of rate and concurrency, naming them', () => {
    const invoke = async () => 1;
    expect(() => createLoadGenerator({ invoke })).toThrow('exactly one of rate and concurrency');
    expect(() => createLoadGenerator({ invoke, rate: 1, concurrency: 1 })).toThrow(
      'exactly one of rate and concurrency',
    );
    expect(() => createLoadGenerator({ invoke, rate: 0 })).toThrow('rate must be above 0');
    expect(() => createLoadGenerator({ invoke, concurrency: 1.5 })).toThrow('concurrency must be a whole number');
  });
});
