// For every state of the rollout machine: stop the orchestrator there, start a new one on the same
// store, and the rollout reaches the same outcome with the same final host specs.
import { RolloutRecord, type RolloutHandle, type StrategyInput, hasCode, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, settle, testLattice, type TestLattice } from '../fixtures/orchestrator';

const rev = (version: string, image: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image }], providers: [] });
const V1 = rev('1', 'mem://api:1');
const V2 = rev('2', 'mem://api:2');
const V3 = rev('3', 'mem://api:3');

type Scenario = {
  name: string;
  outcome: string;
  strategy: StrategyInput;
  /** Run after the v2 deploy starts (with the orchestrator in use). */
  after?: (lat: TestLattice, orch: Awaited<ReturnType<TestLattice['orchestrator']>>, h: RolloutHandle) => Promise<void>;
  /** Run against the new orchestrator after the restart (people's commands are not replayed). */
  resume?: (orch: Awaited<ReturnType<TestLattice['orchestrator']>>, lat: TestLattice) => Promise<void>;
  brokenV2?: boolean;
  /** A store fault injected when the rollout enters `completing` (so completion fails: outcome `failed`). */
  failCompleting?: boolean;
  final: 'v1' | 'v2' | 'v3';
};

const paced: StrategyInput = {
  type: 'rolling',
  maxParallel: 1,
  maxUnavailable: 1,
  pauseAfterBatch: { durationMs: 1000 },
  analysis: { maxErrorRate: 0.5 },
};

const scenarios: Scenario[] = [
  { name: 'completes', outcome: 'completed', strategy: paced, final: 'v2' },
  {
    name: 'held',
    outcome: 'completed',
    strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    after: async (_lat, orch) => {
      await orch.pause('shop');
    },
    resume: async (orch) => {
      await orch.resume('shop').catch(() => undefined);
    },
    final: 'v2',
  },
  {
    name: 'rolls back',
    outcome: 'rolledBack',
    strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    brokenV2: true,
    final: 'v1',
  },
  {
    name: 'aborted',
    outcome: 'aborted',
    strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    after: async (_lat, orch) => {
      await orch.pause('shop');
      await orch.abort('shop', 'stop');
    },
    final: 'v1',
  },
  {
    name: 'fails',
    outcome: 'failed',
    strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    failCompleting: true,
    final: 'v2',
  },
  {
    name: 'superseded',
    outcome: 'superseded',
    strategy: { type: 'rolling', maxParallel: 1, maxUnavailable: 1 },
    // The orchestrator is killed the moment V3 supersedes V2: V3 is stored but never runs there (close stops
    // everything, a start racing with it included); the next orchestrator resumes it and completes it.
    after: async (_lat, orch) => {
      await expect(orch.deploy(V3, { strategy: { type: 'rolling' } })).rejects.toSatisfy((e) =>
        hasCode(e, 'transport.closed'),
      );
    },
    resume: async (second, lat) => {
      const status = await second.status('shop');
      const next = status.rolloutId === null ? undefined : second.rollout(status.rolloutId);
      if (!next) throw new Error('V3 was not resumed');
      expect((await drive(lat.clock, next.done)).outcome).toBe('completed');
    },
    final: 'v3',
  },
];

const STATES: Array<[string, string]> = [
  ['preparing.suspendingScalers', 'completes'],
  ['preparing.markingUpgrading', 'completes'],
  ['preparing.planning', 'completes'],
  ['progressing.applying', 'completes'],
  ['progressing.verifying', 'completes'],
  ['progressing.analyzing', 'completes'],
  ['progressing.stepPause', 'completes'],
  ['progressing.held', 'held'],
  ['completing', 'completes'],
  ['rollingBack.applying', 'rolls back'],
  ['rollingBack.verifying', 'rolls back'],
  ['finalizing', 'completes'],
  ['finalizing', 'rolls back'],
  ['completed', 'completes'],
  ['rolledBack', 'rolls back'],
  ['aborted', 'aborted'],
  ['superseded', 'superseded'],
  ['failed', 'fails'],
];

async function setup(s: Scenario) {
  const lat = await testLattice(3);
  lat.runtime.publish('mem://api:1', { version: '1', operations: { handle: (p) => p } });
  lat.runtime.publish('mem://api:3', { version: '3', operations: { handle: (p) => p } });
  lat.runtime.publish('mem://api:2', {
    version: '2',
    operations: { handle: (p) => p },
    ...(s.brokenV2 ? { validateError: 'bad magic number' } : {}),
  });
  const orch = await lat.orchestrator({ holder: 'first' });
  expect((await drive(lat.clock, (await orch.deploy(V1)).done)).outcome).toBe('completed');
  return { lat, orch };
}

describe('rollout crash and resume', () => {
  it.each(STATES)(
    'resumes a rollout stopped in %s (%s) to the same outcome and host specs',
    async (state, scenarioName) => {
      const s = scenarios.find((x) => x.name === scenarioName);
      if (!s) throw new Error(scenarioName);
      const { lat, orch } = await setup(s);
      await using _lat = lat;
      const handle = await orch.deploy(V2, { strategy: s.strategy });
      let killed: Promise<void> | null = null;
      const kill = () => {
        killed ??= orch.close();
      };
      if (handle.snapshot().state === state) kill();
      handle.subscribe((v) => {
        if (s.failCompleting && v.state === 'completing') lat.store.failNext(2, 'store.tooLarge');
        if (v.state === state) kill();
      });
      if (s.after && !killed) await s.after(lat, orch, handle);
      for (let i = 0; i < 400 && !killed; i++) {
        await settle();
        lat.clock.increment(250);
      }
      expect(killed).not.toBeNull();
      await killed;

      const stored = await lat.store.get('cutover', `rollout.${handle.id}`);
      const record = RolloutRecord.parse(stored?.value);
      const storedState =
        typeof record.snapshot.value === 'string' ? record.snapshot.value : JSON.stringify(record.snapshot.value);
      expect(storedState.replace(/[{}"]/g, '').replace(':', '.')).toBe(state);

      const second = await lat.orchestrator({ holder: 'second' });
      expect(second.problems).toEqual([]);
      await s.resume?.(second, lat);
      const resumed = second.rollout(handle.id);
      const outcome = resumed ? (await drive(lat.clock, resumed.done)).outcome : record.snapshot.context.outcome;
      expect(outcome).toBe(s.outcome);
      // Terminal stays terminal: a finished rollout is not resumed at all.
      if (record.snapshot.status === 'done') expect(resumed).toBeUndefined();
      await settle();
      const want = { v1: V1, v2: V2, v3: V3 }[s.final];
      const spec = want.components[0]?.spec;
      if (!spec) throw new Error('no spec');
      const hash = specHash(spec, 'component');
      const serving = lat.serving('shop');
      expect(Object.values(serving).map((w) => w.api)).toEqual([hash, hash, hash]);
    },
  );
});
