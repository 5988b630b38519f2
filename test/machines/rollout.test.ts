// The rollout machine on its own, driven by a minimal custom scheduler through provide(), as a user
// with their own scheduler would embed it (no createOrchestrator).
import { waitUntil } from 'cutover';
import {
  type AnalysisResult,
  type PlanSummary,
  type RolloutInputParam,
  type VerifyResult,
  rolloutMachine,
} from 'cutover/machines';
import { RolloutInput } from 'cutover';
import { describe, expect, it } from 'vitest';
import { type Snapshot, SimulatedClock, createActor, fromPromise, toPromise } from 'xstate';
import { rolling } from '../fixtures/orchestrator';

type Strategy = ReturnType<typeof rolling>;

interface Scheduler {
  clock: SimulatedClock;
  log: string[];
  /** Batches whose verification fails. */
  failBatches: Set<number>;
  batches: number;
  analysis: 'passed' | 'failed' | 'inconclusive';
  /** Resolves verification only when released (to hold a rollout in `verifying`). */
  verifyGate: Promise<void> | null;
}

function scheduler(over: Partial<Scheduler> = {}): Scheduler {
  return {
    clock: new SimulatedClock(),
    log: [],
    failBatches: new Set(),
    batches: 3,
    analysis: 'passed',
    verifyGate: null,
    ...over,
  };
}

function machineFor(s: Scheduler) {
  const at = () => ({ at: s.clock.now() });
  const logged = (line: string) => {
    s.log.push(line);
    return at();
  };
  return rolloutMachine.provide({
    actors: {
      suspendScalers: fromPromise(async () => logged('suspend')),
      markUpgrading: fromPromise(async () => logged('mark')),
      planRollout: fromPromise(async (): Promise<PlanSummary> => ({ ...at(), batches: s.batches, firstDeploy: false })),
      applyBatch: fromPromise(async ({ input }) => logged(`apply ${input.batch}`)),
      verifyBatch: fromPromise(async ({ input }): Promise<VerifyResult> => {
        if (s.verifyGate) await s.verifyGate;
        return s.failBatches.has(input.batch)
          ? { status: 'failed', code: 'validate.failed', reason: `batch ${input.batch} failed`, ...at() }
          : { status: 'passed', ...at() };
      }),
      analyze: fromPromise(async () =>
        s.analysis === 'passed'
          ? { status: 'passed' as const, ...at() }
          : { status: s.analysis, reason: 'no data', ...at() },
      ),
      complete: fromPromise(async () => logged('complete')),
      rollback: fromPromise(async () => logged('rollback')),
      verifyRollback: fromPromise(async (): Promise<VerifyResult> => ({ status: 'passed', ...at() })),
      resumeScalers: fromPromise(async () => logged('resume')),
      deadline: fromPromise(async ({ input, signal }) => {
        if (!Number.isFinite(input.at)) await new Promise<never>(() => {});
        await waitUntil(s.clock, input.at, signal);
        return { at: input.at };
      }),
    },
  });
}

function input(strategy: Strategy, over: Partial<RolloutInputParam> = {}): RolloutInputParam {
  return { rolloutId: 'r1', app: 'shop', targetVersion: '2', stableVersion: '1', strategy, at: 0, ...over };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function start(s: Scheduler, strategy: Strategy, over: Partial<RolloutInputParam> = {}) {
  return createActor(machineFor(s), { input: RolloutInput.parse(input(strategy, over)) }).start();
}

describe('rollout machine', () => {
  it('applies and verifies every batch in order, then completes and resumes scalers', async () => {
    const s = scheduler();
    const out = await toPromise(start(s, rolling()));
    expect(out.outcome).toBe('completed');
    expect(s.log).toEqual(['suspend', 'mark', 'apply 0', 'apply 1', 'apply 2', 'complete', 'resume']);
  });

  it('rolls back when a batch fails verification, and resumes scalers', async () => {
    const s = scheduler({ failBatches: new Set([1]) });
    const out = await toPromise(start(s, rolling()));
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'validate.failed', reason: 'batch 1 failed' });
    expect(s.log).toEqual(['suspend', 'mark', 'apply 0', 'apply 1', 'rollback', 'resume']);
  });

  it('completes at once when the plan is empty', async () => {
    const s = scheduler({ batches: 0 });
    const out = await toPromise(start(s, rolling()));
    expect(out.outcome).toBe('completed');
    expect(s.log).toEqual(['suspend', 'mark', 'complete', 'resume']);
  });

  it('holds before the next batch when paused, lets the in-flight batch finish, and resumes', async () => {
    let release = () => {};
    const s = scheduler({ verifyGate: new Promise<void>((r) => (release = r)) });
    const actor = start(s, rolling());
    await settle();
    expect(actor.getSnapshot().matches({ progressing: 'verifying' })).toBe(true);
    actor.send({ type: 'rollout.pause', at: s.clock.now() });
    release();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'held' });
    expect(actor.getSnapshot().hasTag('paused')).toBe(true);
    expect(s.log.filter((l) => l.startsWith('apply'))).toEqual(['apply 0']);
    actor.send({ type: 'rollout.resume', at: s.clock.now() });
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('does not run the progress deadline while held, and shifts it by the time held', async () => {
    const s = scheduler();
    const actor = start(s, rolling({ progressDeadlineMs: 1000 }), { startPaused: true });
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'held' });
    const before = actor.getSnapshot().context.progressDeadlineAt;
    s.clock.increment(5000);
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'held' });
    actor.send({ type: 'rollout.resume', at: s.clock.now() });
    expect(actor.getSnapshot().context.progressDeadlineAt).toBe((before ?? 0) + 5000);
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('rolls back with reason progressDeadline when no progress is made in time', async () => {
    let release = () => {};
    const s = scheduler({ verifyGate: new Promise<void>((r) => (release = r)) });
    const actor = start(s, rolling({ progressDeadlineMs: 1000 }));
    await settle();
    s.clock.increment(1000);
    await settle();
    const out = await toPromise(actor);
    release();
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'progressDeadline' });
    expect(s.log).toContain('rollback');
  });

  it('counts each verified host as progress: the deadline moves per host, not per batch', async () => {
    let release = () => {};
    const s = scheduler({ verifyGate: new Promise<void>((r) => (release = r)) });
    const actor = start(s, rolling({ progressDeadlineMs: 60_000 }));
    await settle();
    const progress = (verified: number, hosts: string[]) =>
      actor.send({ type: 'rollout.progress', at: s.clock.now(), verified, unverified: { hosts, count: hosts.length } });
    progress(0, ['h1', 'h2']);
    s.clock.increment(3_000);
    progress(1, ['h2']);
    s.clock.increment(57_500);
    await settle();
    // 60.5 s after the batch began, but 57.5 s after h1 was verified: still going.
    expect(actor.getSnapshot().value).toEqual({ progressing: 'verifying' });
    expect(actor.getSnapshot().context.progressDeadlineAt).toBe(63_000);
    // A repeated count (a duplicate report, a restarted verification) is no progress.
    progress(1, ['h2']);
    s.clock.increment(2_500);
    await settle();
    release();
    const out = await toPromise(actor);
    expect(out).toMatchObject({
      outcome: 'rolledBack',
      code: 'progressDeadline',
      reason: 'progressDeadline: no progress within progressDeadlineMs 60000; not yet verified: "h2"',
    });
    expect(actor.getSnapshot().context.conditions).toContainEqual(
      expect.objectContaining({ type: 'ProgressDeadlineExceeded', status: true, since: 63_000, hosts: ['h2'] }),
    );
  });

  it('counts an analysis measurement as progress', async () => {
    const s = scheduler({ batches: 1 });
    let finish = () => {};
    const gate = new Promise<void>((r) => (finish = r));
    const actor = createActor(
      machineFor(s).provide({
        actors: {
          analyze: fromPromise(async (): Promise<AnalysisResult> => {
            await gate;
            return { status: 'passed', at: s.clock.now() };
          }),
        },
      }),
      { input: RolloutInput.parse(input(rolling({ progressDeadlineMs: 10_000, analysis: { maxErrorRate: 0.1 } }))) },
    ).start();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'analyzing' });
    for (let i = 0; i < 5; i++) {
      s.clock.increment(8_000);
      actor.send({ type: 'rollout.progress', at: s.clock.now(), measured: true });
      await settle();
    }
    expect(actor.getSnapshot().value).toEqual({ progressing: 'analyzing' });
    finish();
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('only reports a condition on the progress deadline when progressDeadlineAbort is false', async () => {
    let release = () => {};
    const s = scheduler({ verifyGate: new Promise<void>((r) => (release = r)) });
    const actor = start(s, rolling({ progressDeadlineMs: 1000, progressDeadlineAbort: false }));
    await settle();
    s.clock.increment(1000);
    await settle();
    expect(actor.getSnapshot().context.conditions).toContainEqual(
      expect.objectContaining({ type: 'ProgressDeadlineExceeded', status: true, reason: 'progressDeadline' }),
    );
    expect(actor.getSnapshot().matches({ progressing: 'verifying' })).toBe(true);
    release();
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('pauses after each batch for durationMs, a timer that the simulated clock drives', async () => {
    const s = scheduler({ batches: 2 });
    const actor = start(s, rolling({ pauseAfterBatch: { durationMs: 60_000 } }));
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'stepPause' });
    expect(actor.getSnapshot().context.pauseUntil).toBe(60_000);
    s.clock.increment(60_000);
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('waits for a person on an untimed pause; promote ends that pause only, the next one waits again', async () => {
    const s = scheduler({ batches: 3 });
    const actor = start(s, rolling({ pauseAfterBatch: {} }));
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'stepPause' });
    actor.send({ type: 'rollout.promote', at: s.clock.now() });
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'stepPause' });
    expect(actor.getSnapshot().context.batch).toBe(2);
    actor.send({ type: 'rollout.promote', at: s.clock.now() });
    expect((await toPromise(actor)).outcome).toBe('completed');
    expect(s.log.filter((l) => l.startsWith('apply'))).toHaveLength(3);
  });

  it('skips every remaining pause on promote --full', async () => {
    const s = scheduler({ batches: 3 });
    const actor = start(s, rolling({ pauseAfterBatch: {} }));
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'stepPause' });
    actor.send({ type: 'rollout.promote', full: true, at: s.clock.now() });
    expect((await toPromise(actor)).outcome).toBe('completed');
    expect(s.log.filter((l) => l.startsWith('apply'))).toHaveLength(3);
  });

  it('ends the next pause when promoted outside a pause', async () => {
    const s = scheduler({ batches: 3 });
    const actor = start(s, rolling({ pauseAfterBatch: {} }), { startPaused: true });
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'held' });
    actor.send({ type: 'rollout.resume', at: s.clock.now() });
    actor.send({ type: 'rollout.promote', at: s.clock.now() });
    await settle();
    // The pause after batch 1 was ended by the promote; the one after batch 2 waits.
    expect(actor.getSnapshot().value).toEqual({ progressing: 'stepPause' });
    expect(actor.getSnapshot().context.batch).toBe(2);
    expect(actor.getSnapshot().context.promoted).toBe('no');
    actor.send({ type: 'rollout.promote', at: s.clock.now() });
    expect((await toPromise(actor)).outcome).toBe('completed');
  });

  it('skips pauses on a first deploy', async () => {
    const s = scheduler({ batches: 2 });
    const out = await toPromise(start(s, rolling({ pauseAfterBatch: {} }), { stableVersion: null }));
    expect(out.outcome).toBe('completed');
  });

  it('rolls back on abort and ends aborted with the reason', async () => {
    const s = scheduler();
    const actor = start(s, rolling(), { startPaused: true });
    await settle();
    actor.send({ type: 'rollout.abort', reason: 'bad metrics', at: 0 });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'aborted', reason: 'bad metrics' });
    expect(s.log).toEqual(['suspend', 'mark', 'rollback', 'resume']);
  });

  it('ends superseded without resuming scalers', async () => {
    const s = scheduler();
    const actor = start(s, rolling(), { startPaused: true });
    await settle();
    actor.send({ type: 'rollout.supersede', by: 'r2', at: 0 });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'superseded', supersededBy: 'r2' });
    expect(s.log).not.toContain('resume');
  });

  it('holds for a person when analysis is inconclusive, and rolls back when it fails', async () => {
    const s = scheduler({ analysis: 'inconclusive' });
    const actor = start(s, rolling({ analysis: { maxErrorRate: 0.1, minSamples: 10 } }));
    await settle();
    expect(actor.getSnapshot().value).toEqual({ progressing: 'held' });
    expect(actor.getSnapshot().context.conditions).toContainEqual(
      expect.objectContaining({ type: 'AnalysisInconclusive', status: true }),
    );
    s.analysis = 'failed';
    actor.send({ type: 'rollout.resume', at: 0 });
    expect(await toPromise(actor)).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
  });

  it('fails when an effect is not provided', async () => {
    const actor = createActor(rolloutMachine, { input: RolloutInput.parse(input(rolling())) }).start();
    expect(await toPromise(actor)).toMatchObject({ outcome: 'failed', code: 'notProvided' });
  });

  it('resumes from a persisted snapshot with its deadline still armed at the same instant', async () => {
    let release = () => {};
    const s = scheduler({ verifyGate: new Promise<void>((r) => (release = r)) });
    const first = start(s, rolling({ progressDeadlineMs: 1000 }));
    await settle();
    const persisted = first.getPersistedSnapshot() as Snapshot<unknown>;
    first.stop();
    s.clock.increment(400);
    const restored = createActor(machineFor(s), {
      snapshot: persisted,
      input: RolloutInput.parse(input(rolling())),
    }).start();
    await settle();
    s.clock.increment(600);
    const out = await toPromise(restored);
    release();
    expect(out.code).toBe('progressDeadline');
  });

  it('keeps a finished rollout finished: events to it change nothing', async () => {
    const s = scheduler({ batches: 1 });
    const actor = start(s, rolling());
    await toPromise(actor);
    actor.send({ type: 'rollout.abort', at: 0 });
    expect(actor.getSnapshot()).toMatchObject({ status: 'done', value: 'completed' });
  });
});
