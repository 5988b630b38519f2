// The test kit's simulated clock, through the public export, and the memory adapters wired to it.
import { CutoverError } from 'cutover';
import { createMemoryBus, createMemoryRuntime } from 'cutover/adapters/memory';
import { describe, expect, it } from 'vitest';
import { createSimulatedClock, SimulatedClock, settle } from '../../src/testing/index.js';

const sleep = (clock: SimulatedClock, ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));

describe('simulated clock', () => {
  it('fires timers in order of their instant, each seeing its own instant as now', () => {
    const clock = createSimulatedClock(1_000);
    const seen: string[] = [];
    clock.setTimeout(() => seen.push(`b@${clock.now()}`), 200);
    clock.setTimeout(() => seen.push(`a@${clock.now()}`), 100);
    clock.setTimeout(() => seen.push(`c@${clock.now()}`), 200);
    const cleared = clock.setTimeout(() => seen.push('never'), 150);
    clock.clearTimeout(cleared);
    clock.increment(199);
    expect(seen).toEqual(['a@1100']);
    clock.increment(1);
    expect(seen).toEqual(['a@1100', 'b@1200', 'c@1200']);
    expect(clock.now()).toBe(1_200);
    expect(clock.pending).toBe(0);
  });

  it('refuses to move back in time and leaves the time as it was', () => {
    const clock = new SimulatedClock(500);
    expect(() => clock.set(499)).toThrow(RangeError);
    expect(clock.now()).toBe(500);
  });

  it('lets an effect that awaits between timers set its next timer on time when advancing', async () => {
    const loop = async (clock: SimulatedClock, out: number[]) => {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        await sleep(clock, 100);
        out.push(clock.now());
      }
    };
    const jumped = new SimulatedClock();
    const jumpedSeen: number[] = [];
    void loop(jumped, jumpedSeen);
    await settle();
    jumped.increment(300);
    await settle();
    // A synchronous jump fires only the timer already set; the next one is set after it, from 300.
    expect(jumpedSeen).toEqual([300]);

    const stepped = new SimulatedClock();
    const steppedSeen: number[] = [];
    void loop(stepped, steppedSeen);
    await stepped.advance(300);
    expect(steppedSeen).toEqual([100, 200, 300]);
    expect(stepped.now()).toBe(300);
  });

  it('runs only what is due with runDue, and every timer with runAll', async () => {
    const clock = new SimulatedClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 0);
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 50);
    }, 10);
    expect(await clock.runDue()).toBe(1);
    expect(seen).toEqual([0]);
    expect(clock.nextAt()).toBe(10);
    expect(await clock.runAll()).toBe(2);
    expect(seen).toEqual([0, 10, 60]);
    expect(clock.pending).toBe(0);
  });

  it('gives up runAll on a timer that keeps setting itself, naming how many fired', async () => {
    const clock = new SimulatedClock();
    const tick = () => clock.setTimeout(tick, 1000);
    tick();
    await expect(clock.runAll({ maxTimers: 50 })).rejects.toThrow('runAll fired 50 timers');
    expect(clock.now()).toBe(50_000);
  });
});

describe('memory adapters on the simulated clock', () => {
  it('times a bus request out on simulated time, not real time', async () => {
    const clock = createSimulatedClock();
    await using bus = createMemoryBus({ clock });
    const server = bus.connect('server');
    const client = bus.connect('client');
    // A responder that never answers (a CutoverError from a handler is a silent refusal).
    server.subscribe('svc', () => {
      throw new CutoverError('invoke.failed', 'not answering');
    });
    let outcome: unknown;
    void client.request('svc', new Uint8Array(), { timeoutMs: 5_000 }).then(
      () => (outcome = 'answered'),
      (e: unknown) => (outcome = e),
    );
    await clock.advance(4_999);
    expect(outcome).toBeUndefined();
    await clock.advance(1);
    expect(outcome).toMatchObject({ code: 'transport.timeout' });
  });

  it('makes a memory runtime download take its delay on the simulated clock', async () => {
    const clock = createSimulatedClock();
    const runtime = createMemoryRuntime({ clock });
    runtime.publish('mem://api:1', { version: '1', operations: {}, fetchDelayMs: 30_000 });
    let fetched = false;
    void runtime.fetch('mem://api:1').then(() => (fetched = true));
    await clock.advance(29_999);
    expect(fetched).toBe(false);
    await clock.advance(1);
    expect(fetched).toBe(true);
  });
});
