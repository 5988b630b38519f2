// Rollout notifications: what the `notify` option is told, and the webhook notifier delivering it to a real
// local HTTP receiver (in order, exactly once per change, through 500s, and never slowing a rollout).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  NOTIFICATION_TYPES,
  NotificationEvent,
  type RolloutOutput,
  type StrategyInput,
  type WebhookNotifier,
  createWebhookNotifier,
} from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision, settle, type TestLattice, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }], providers: [] });
const V1 = rev('1');
const V2 = rev('2');

const canary: StrategyInput = {
  type: 'canary',
  steps: [
    { setHosts: 1 },
    { pause: { durationMs: 10_000 } },
    {
      analysis: {
        name: 'errors',
        provider: 'errorRate',
        intervalMs: 5_000,
        count: 1,
        noData: 'pass',
        failureCondition: { max: 0.05 },
      },
    },
    { setHosts: '100%' },
  ],
};

async function lattice(): Promise<TestLattice> {
  const lat = await testLattice(3);
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  lat.runtime.publish('mem://api:2', { version: '2', operations: { handle: (p) => p } });
  return lat;
}

/** Drives the simulated clock in 500 ms steps until `done`; returns the output and the steps it took. */
async function driveCounting(clock: TestLattice['clock'], done: Promise<RolloutOutput>) {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  let steps = 0;
  for (; steps < 2000 && !finished; steps++) {
    await settle();
    if (!finished) clock.increment(500);
  }
  if (!finished) throw new Error('rollout did not finish');
  return { output: await done, steps };
}

/**
 * The canary from v1 to v2 with a person's pause and resume during its timed pause; `notify` hears it all.
 * Returns the output and the clock steps the v2 rollout took.
 */
async function rollout(notify: (e: NotificationEvent) => void) {
  await using lat = await lattice();
  let v2 = false;
  const orch = await lat.orchestrator({ notify: (e) => (v2 ? notify(e) : undefined) });
  expect((await driveCounting(lat.clock, (await orch.deploy(V1)).done)).output.outcome).toBe('completed');
  v2 = true;
  const handle = await orch.deploy(V2, { strategy: canary });
  await until(lat.clock, () => handle.snapshot().state.includes('stepPause'));
  await orch.pause('shop');
  await settle();
  await orch.resume('shop');
  // Awaited here: the lattice is disposed when this function returns.
  return await driveCounting(lat.clock, handle.done);
}

type Reply = (event: NotificationEvent, attempt: number, res: ServerResponse) => void;

/** A local HTTP receiver: `reply` answers each POST; what it answered 2xx to is `accepted`. */
function receiver() {
  const state = {
    reply: ((_e, _n, res) => res.end('ok')) as Reply,
    accepted: [] as NotificationEvent[],
    attempts: new Map<string, number>(),
    requests: 0,
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      state.requests++;
      const event = NotificationEvent.parse(JSON.parse(body));
      const key = `${event.rolloutId}#${event.seq}`;
      const attempt = (state.attempts.get(key) ?? 0) + 1;
      state.attempts.set(key, attempt);
      res.on('finish', () => {
        if (res.statusCode < 300) state.accepted.push(event);
      });
      state.reply(event, attempt, res);
    });
  });
  return { state, server };
}

const hook = receiver();
let url = '';
const notifiers: WebhookNotifier[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => hook.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(hook.server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  for (const n of notifiers) n.close();
  hook.server.closeAllConnections();
  await new Promise<void>((resolve) => hook.server.close(() => resolve()));
});

function reset(reply: Reply) {
  hook.state.reply = reply;
  hook.state.accepted = [];
  hook.state.attempts.clear();
  hook.state.requests = 0;
}

function notifierFor(options: { retries?: number; queueSize?: number; timeoutMs?: number } = {}) {
  const n = createWebhookNotifier({ url, backoffMs: 5, ...options });
  notifiers.push(n);
  return n;
}

/** Each phase event starts where the one before it ended: no change is missed or told twice. */
function expectOneChain(events: NotificationEvent[]) {
  const phases = events.filter((e) => e.type === 'rollout.phase');
  expect(phases[0]?.from).toBeNull();
  for (let i = 1; i < phases.length; i++) {
    expect(phases[i]?.from).toBe(phases[i - 1]?.to);
    expect(phases[i]?.to).not.toBe(phases[i]?.from);
  }
  expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
}

describe('rollout notifications', () => {
  it('tells the notify function every phase change, the pause and resume, the analysis verdict and the outcome', async () => {
    const told: NotificationEvent[] = [];
    const { output } = await rollout((e) => told.push(e));
    expect(output.outcome).toBe('completed');
    expectOneChain(told);
    expect(new Set(told.map((e) => e.type))).toEqual(new Set(NOTIFICATION_TYPES));
    const phases = told.filter((e) => e.type === 'rollout.phase').map((e) => e.to);
    console.log(`phases told: ${phases.join(' → ')}`);
    expect(phases).toContain('progressing.stepPause');
    expect(told.find((e) => e.type === 'rollout.analysis')).toMatchObject({
      analysis: 'errors',
      provider: 'errorRate',
      verdict: 'passed',
      targetVersion: '2',
      stableVersion: '1',
    });
    expect(told.at(-1)).toMatchObject({ type: 'rollout.outcome', outcome: 'completed', app: 'shop' });
    for (const e of told) expect(NotificationEvent.safeParse(e).success).toBe(true);
  });

  it('delivers every event to a webhook in order, exactly once per change', async () => {
    reset((_e, _n, res) => res.end('ok'));
    const told: NotificationEvent[] = [];
    const webhook = notifierFor();
    await rollout((e) => {
      told.push(e);
      webhook(e);
    });
    await webhook.flush();
    expect(hook.state.accepted).toEqual(told);
    expect(hook.state.requests).toBe(told.length);
    expect(webhook.stats).toMatchObject({ delivered: told.length, failed: 0, dropped: 0, retries: 0 });
  });

  it('retries through a receiver that answers 500 twice and then 200, still once per change and in order', async () => {
    reset((_e, attempt, res) => {
      res.statusCode = attempt <= 2 ? 500 : 200;
      res.end(attempt <= 2 ? 'try later' : 'ok');
    });
    const told: NotificationEvent[] = [];
    const webhook = notifierFor({ retries: 3 });
    await rollout((e) => {
      told.push(e);
      webhook(e);
    });
    await webhook.flush();
    expect(hook.state.accepted).toEqual(told);
    expectOneChain(hook.state.accepted);
    expect(hook.state.requests).toBe(told.length * 3);
    expect(webhook.stats).toMatchObject({ delivered: told.length, retries: told.length * 2, failed: 0 });
  });

  it('does not slow a rollout when the receiver hangs: the same clock steps as without notifications', async () => {
    const baseline = await rollout(() => {});
    reset(() => {
      // Never answers.
    });
    const webhook = notifierFor({ queueSize: 4, timeoutMs: 60_000 });
    const hung = await rollout(webhook);
    console.log(
      `steps without notifications ${baseline.steps}, with a hanging receiver ${hung.steps}; notifier ${JSON.stringify(webhook.stats)}`,
    );
    expect(hung.output.outcome).toBe('completed');
    expect(hung.steps).toBe(baseline.steps);
    // One POST hangs; the bounded queue kept the latest events and dropped the oldest.
    expect(hook.state.requests).toBe(1);
    expect(webhook.stats.queued).toBe(4);
    expect(webhook.stats.dropped).toBeGreaterThan(0);
    webhook.close();
  });
});
