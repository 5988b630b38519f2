// Over 400 lines on purpose: Stryker re-imports the machine once per test file for every mutant, so these
// tests stay in one file (27 s as four files, 9 s as one).
// The rollout machine specified at machine level, on a simulated clock with scripted effects (see
// rollout.mutation.harness.ts): what each effect is given and in which order; what each outcome reports (output,
// code, reason, conditions); the tags a scheduler reads; a person's commands (pause, resume, promote, abort,
// supersede) in each phase; pauses after batches; the progress deadline; analyses and the background analysis.
//
// One file over the ~400-line guideline on purpose: `npm run mutation -- machines/rollout/rolloutMachine.ts` runs
// every test file for each mutant (the machine's config is module-level, so its mutants are static), and each
// test file re-imports the machine; one file keeps a mutant's run to one import.
import type { Condition } from '../../src/protocol/rollout';
import { Strategy } from '../../src/protocol/strategy';
import { rolling } from '../fixtures/builders';
import { describe, expect, it } from 'vitest';
import { type EffectName, HOLD, type Responders, codedError, harness } from './rollout.mutation.harness';

const PD = 600_000;
const strategy = rolling({ maxParallel: 1 });
const step = {
  rolloutId: 'r1',
  app: 'shop',
  targetVersion: '2',
  stableVersion: '1',
  strategy,
  kind: 'deploy',
};
const output = {
  rolloutId: 'r1',
  app: 'shop',
  targetVersion: '2',
  stableVersion: '1',
  supersededBy: null,
};

describe('rollout machine: effects and their inputs', () => {
  it('gives every effect the rollout, and batch effects the batch number, first-deploy flag and promote state', async () => {
    const h = harness({ strategy, batches: 2 });
    const out = await h.output();
    expect(h.log()).toEqual([
      'suspendScalers',
      'markUpgrading',
      'planRollout',
      'backgroundAnalysis',
      'applyBatch',
      'verifyBatch',
      'applyBatch',
      'verifyBatch',
      'complete',
      'resumeScalers',
    ]);
    for (const src of ['suspendScalers', 'markUpgrading', 'planRollout'] as const)
      expect(h.inputs(src)).toEqual([step]);
    expect(h.inputs('backgroundAnalysis')).toEqual([{ ...step, batch: 0, firstDeploy: false, promoted: 'no' }]);
    expect(h.inputs('applyBatch')).toEqual([
      { ...step, batch: 0, firstDeploy: false, promoted: 'no' },
      { ...step, batch: 1, firstDeploy: false, promoted: 'no' },
    ]);
    expect(h.inputs('verifyBatch')).toEqual(h.inputs('applyBatch'));
    expect(h.inputs('complete')).toEqual([{ ...step, outcome: 'completed' }]);
    expect(h.inputs('resumeScalers')).toEqual([{ ...step, outcome: 'completed' }]);
    expect(out).toEqual({ ...output, outcome: 'completed', reason: 'completed', code: null });
    expect(h.value()).toBe('completed');
    // The background analysis runs for the whole of `progressing` and is stopped when it is left.
    expect(h.calls.find((c) => c.src === 'backgroundAnalysis')?.aborted).toBe(true);
  });

  it('starts a rollout with the context its input gives', () => {
    const h = harness({ strategy, respond: { suspendScalers: () => HOLD } });
    expect(h.context()).toEqual({
      rolloutId: 'r1',
      app: 'shop',
      kind: 'deploy',
      targetVersion: '2',
      stableVersion: '1',
      strategy,
      firstDeploy: false,
      batch: 0,
      batches: 0,
      paused: false,
      promoted: 'no',
      verified: 0,
      unverified: { hosts: [], count: 0 },
      progressDeadlineAt: null,
      heldAt: null,
      pauseUntil: null,
      rollbackDeadlineAt: null,
      outcome: null,
      code: null,
      reason: null,
      conditions: [],
      supersededBy: null,
    });
    expect(h.value()).toEqual({ preparing: 'suspendingScalers' });
  });

  it('treats a rollout without a stable version as a first deploy, in its context and every batch effect', async () => {
    const h = harness({ strategy, batches: 1, input: { stableVersion: null } });
    expect(h.context().firstDeploy).toBe(true);
    await h.output();
    expect(h.inputs('applyBatch')).toEqual([
      { ...step, stableVersion: null, batch: 0, firstDeploy: true, promoted: 'no' },
    ]);
  });

  it('takes a first deploy from the plan too (no host serves the stable version)', async () => {
    const h = harness({
      strategy,
      batches: 2,
      respond: { planRollout: (_, at) => ({ at, batches: 2, firstDeploy: true }) },
    });
    await h.output();
    expect(h.inputs('applyBatch').map((i) => i.firstDeploy)).toEqual([true, true]);
  });

  it('keeps a first deploy a first deploy when the plan finds stable hosts after all', async () => {
    const h = harness({
      strategy,
      batches: 1,
      input: { stableVersion: null },
      respond: { planRollout: (_, at) => ({ at, batches: 1, firstDeploy: false }) },
    });
    await h.output();
    expect(h.inputs('applyBatch').map((i) => i.firstDeploy)).toEqual([true]);
  });

  it('starts an undo fully promoted, and tells its effects so', async () => {
    const h = harness({ strategy, batches: 1, input: { kind: 'undo' } });
    expect(h.context().promoted).toBe('full');
    await h.output();
    expect(h.inputs('planRollout')).toEqual([{ ...step, kind: 'undo' }]);
    expect(h.inputs('applyBatch')).toEqual([{ ...step, kind: 'undo', batch: 0, firstDeploy: false, promoted: 'full' }]);
  });

  it('completes at once on an empty plan, with the plan recorded and its deadline armed from the plan', async () => {
    const h = harness({ strategy: rolling({ progressDeadlineMs: 5_000 }), respond: { planRollout: () => HOLD } });
    await h.settle();
    await h.advance(700);
    h.pending('planRollout').resolve({ at: 700, batches: 0, firstDeploy: false });
    const out = await h.output();
    expect(out.outcome).toBe('completed');
    expect(h.log()).toEqual(['suspendScalers', 'markUpgrading', 'planRollout', 'complete', 'resumeScalers']);
    expect(h.context()).toMatchObject({ batches: 0, batch: 0, progressDeadlineAt: 5_700 });
  });

  it('grows or shrinks the plan when an apply re-plans, never below the batch in flight', async () => {
    let applies = 0;
    const h = harness({
      strategy,
      batches: 2,
      respond: {
        applyBatch: (input, at) => {
          applies++;
          return input.batch === 0 ? { at, batches: 4 } : input.batch === 2 ? { at, batches: 1 } : { at };
        },
      },
    });
    expect((await h.output()).outcome).toBe('completed');
    // Batch 0 re-planned to 4 batches; batch 2 found fewer left, which still ends with batch 2 itself.
    expect(applies).toBe(3);
    expect(h.context().batches).toBe(3);
  });
});

describe('rollout machine: effects a scheduler does not provide', () => {
  it.each([
    ['suspendScalers', {}, 'failed'],
    ['markUpgrading', {}, 'failed'],
    ['planRollout', {}, 'failed'],
    ['applyBatch', {}, 'rolledBack'],
    ['verifyBatch', {}, 'rolledBack'],
    ['analyze', { analysis: { maxErrorRate: 0.1 } }, 'rolledBack'],
    ['complete', {}, 'failed'],
    ['resumeScalers', {}, 'failed'],
  ] as const)('names %s when it is not provided', async (src, over, outcome) => {
    const h = harness({ strategy: rolling(over), batches: 1, unprovided: [src] });
    const out = await h.output();
    expect(out).toMatchObject({ outcome, code: 'notProvided' });
    expect(out.reason).toBe(`"${src}" is not provided: supply it with machine.provide({ actors: { ${src} } })`);
  });

  it.each(['rollback', 'verifyRollback'] as const)('names %s when a rollback needs it', async (src) => {
    const h = harness({
      strategy,
      unprovided: [src],
      respond: { verifyBatch: (_, at) => ({ status: 'failed', at, code: 'validate.failed', reason: 'bad' }) },
    });
    expect(await h.output()).toMatchObject({
      outcome: 'failed',
      code: 'notProvided',
      reason: `rollback failed: "${src}" is not provided: supply it with machine.provide({ actors: { ${src} } }) (after: bad)`,
    });
  });

  it('runs without a background analysis when none is provided', async () => {
    const h = harness({ strategy, batches: 2, unprovided: ['backgroundAnalysis'] });
    expect((await h.output()).outcome).toBe('completed');
  });
});

describe('rollout machine: effects it runs, by id', () => {
  // A persisted rollout names its running effects by these ids; a restored one finds them by the same ids.
  it('names each running effect and timer after what it does, in every step', async () => {
    const hold = (): typeof HOLD => HOLD;
    const held: Responders = {
      suspendScalers: hold,
      markUpgrading: hold,
      planRollout: hold,
      applyBatch: hold,
      verifyBatch: hold,
      analyze: hold,
      complete: hold,
      resumeScalers: hold,
    };
    const h = harness({
      strategy: rolling({ analysis: { maxErrorRate: 0.1 }, pauseAfterBatch: {} }),
      batches: 2,
      respond: held,
    });
    const running = () => Object.keys(h.snapshot().children).sort();
    const next = async (src: EffectName, output: unknown) => {
      (h.pending(src).resolve as (o: unknown) => void)(output);
      await h.settle();
    };
    expect(running()).toEqual(['suspendScalers']);
    await next('suspendScalers', { at: 0 });
    expect(running()).toEqual(['markUpgrading']);
    await next('markUpgrading', { at: 0 });
    expect(running()).toEqual(['planRollout']);
    await next('planRollout', { at: 0, batches: 2, firstDeploy: false });
    expect(running()).toEqual(['applyBatch', 'backgroundAnalysis', 'progressDeadline']);
    await next('applyBatch', { at: 0 });
    expect(running()).toEqual(['backgroundAnalysis', 'progressDeadline', 'verifyBatch']);
    await next('verifyBatch', { status: 'passed', at: 0 });
    expect(running()).toEqual(['analyze', 'backgroundAnalysis', 'progressDeadline']);
    await next('analyze', { status: 'passed', at: 0 });
    expect(running()).toEqual(['backgroundAnalysis', 'pauseTimer']);
    h.send({ type: 'rollout.resume' });
    await next('applyBatch', { at: 0 });
    await next('verifyBatch', { status: 'passed', at: 0 });
    await next('analyze', { status: 'passed', at: 0 });
    expect(running()).toEqual(['complete']);
    await next('complete', { at: 0 });
    expect(running()).toEqual(['resumeScalers']);
  });

  it('names the rollback and its verification and timer', async () => {
    const h = harness({
      strategy,
      respond: {
        verifyBatch: (_, at) => ({ status: 'failed', at, code: 'x', reason: 'bad' }),
        rollback: () => HOLD,
        verifyRollback: () => HOLD,
      },
    });
    await h.settle();
    expect(Object.keys(h.snapshot().children)).toEqual(['rollback']);
    h.pending('rollback').resolve({ at: 0 });
    await h.settle();
    expect(Object.keys(h.snapshot().children).sort()).toEqual(['rollbackDeadline', 'verifyRollback']);
  });
});

describe('rollout machine: tags a scheduler reads', () => {
  it('is busy while preparing, progressing, completing, rolling back and finalizing, and terminal when done', async () => {
    const h = harness({
      strategy,
      batches: 1,
      respond: {
        suspendScalers: () => HOLD,
        applyBatch: () => HOLD,
        complete: () => HOLD,
        resumeScalers: () => HOLD,
      },
    });
    const tags = () => [...h.snapshot().tags].sort();
    expect(tags()).toEqual(['busy']);
    h.pending('suspendScalers').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(tags()).toEqual(['busy']);
    h.pending('applyBatch').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toBe('completing');
    expect(tags()).toEqual(['busy']);
    h.pending('complete').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toBe('finalizing');
    expect(tags()).toEqual(['busy']);
    h.pending('resumeScalers').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toBe('completed');
    expect(tags()).toEqual(['terminal']);
  });

  it('is busy while rolling back', async () => {
    const h = harness({
      strategy,
      respond: { applyBatch: () => HOLD, rollback: () => HOLD, verifyRollback: () => HOLD },
    });
    await h.settle();
    h.send({ type: 'rollout.abort' });
    expect(h.value()).toEqual({ rollingBack: 'applying' });
    expect([...h.snapshot().tags]).toEqual(['busy']);
    h.pending('rollback').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ rollingBack: 'verifying' });
    expect([...h.snapshot().tags]).toEqual(['busy']);
  });

  it('is terminal in every final state', async () => {
    const ends = {
      rolledBack: harness({ strategy, respond: { verifyBatch: (_, at) => failed(at) } }),
      aborted: harness({ strategy, input: { startPaused: true } }),
      failed: harness({ strategy, respond: { complete: () => Promise.reject(new Error('x')) as never } }),
      superseded: harness({ strategy, input: { startPaused: true } }),
    };
    await ends.aborted.settle();
    ends.aborted.send({ type: 'rollout.abort' });
    await ends.superseded.settle();
    ends.superseded.send({ type: 'rollout.supersede', by: 'r2' });
    for (const [state, h] of Object.entries(ends)) {
      await h.output();
      expect(h.value()).toBe(state);
      expect([...h.snapshot().tags]).toEqual(['terminal']);
    }
  });
});

const failed = (at: number) =>
  ({ status: 'failed', at, code: 'validate.failed', reason: 'host "h1" failed validation' }) as const;

describe('rollout machine: effect failures', () => {
  it.each(['suspendScalers', 'markUpgrading', 'planRollout'] as const)(
    'fails when %s fails while preparing, with the error code and message, and still resumes scalers',
    async (src) => {
      const h = harness({
        strategy,
        respond: {
          [src]: () => {
            throw codedError('store.unavailable', 'store is down');
          },
        },
      });
      const out = await h.output();
      expect(out).toEqual({ ...output, outcome: 'failed', code: 'store.unavailable', reason: 'store is down' });
      expect(h.value()).toBe('failed');
      expect(h.log().at(-1)).toBe('resumeScalers');
      expect(h.inputs('resumeScalers')).toEqual([{ ...step, outcome: 'failed' }]);
      expect(h.log()).not.toContain('rollback');
    },
  );

  it('reports an error without a code as invoke.failed with its message', async () => {
    const h = harness({
      strategy,
      respond: {
        planRollout: () => {
          throw new Error('plan exploded');
        },
      },
    });
    expect(await h.output()).toMatchObject({ outcome: 'failed', code: 'invoke.failed', reason: 'plan exploded' });
  });

  it('reports a thrown string as invoke.failed with the string as reason', async () => {
    const h = harness({
      strategy,
      respond: {
        planRollout: () => {
          throw 'disk full';
        },
      },
    });
    expect(await h.output()).toMatchObject({ outcome: 'failed', code: 'invoke.failed', reason: 'disk full' });
  });

  it('reports a thrown null or undefined, and an error object without a string message or code, as invoke.failed', async () => {
    const nothing = harness({
      strategy,
      respond: {
        planRollout: () => {
          throw null;
        },
      },
    });
    expect(await nothing.output()).toMatchObject({ outcome: 'failed', code: 'invoke.failed', reason: 'null' });
    const odd = harness({
      strategy,
      respond: {
        planRollout: () => {
          throw { code: 42, message: 7 };
        },
      },
    });
    expect(await odd.output()).toMatchObject({ outcome: 'failed', code: 'invoke.failed', reason: '[object Object]' });
    const none = harness({
      strategy,
      respond: {
        planRollout: () => {
          throw undefined;
        },
      },
    });
    expect(await none.output()).toMatchObject({ outcome: 'failed', code: 'invoke.failed', reason: 'undefined' });
  });

  it.each(['applyBatch', 'verifyBatch'] as const)(
    'rolls back when %s fails, with the error code and message',
    async (src) => {
      const h = harness({
        strategy,
        respond: {
          [src]: () => {
            throw codedError('host.unreachable', 'host "h1" did not answer');
          },
        },
      });
      const out = await h.output();
      expect(out).toEqual({
        ...output,
        outcome: 'rolledBack',
        code: 'host.unreachable',
        reason: 'host "h1" did not answer',
      });
      expect(h.value()).toBe('rolledBack');
      expect(h.log().slice(-3)).toEqual(['rollback', 'verifyRollback', 'resumeScalers']);
      expect(h.inputs('rollback')).toEqual([step]);
      expect(h.inputs('verifyRollback')).toEqual([step]);
      expect(h.inputs('resumeScalers')).toEqual([{ ...step, outcome: 'rolledBack' }]);
    },
  );

  it('rolls back when a batch fails verification, with its code, reason and conditions', async () => {
    const lost = {
      type: 'HostLost',
      status: true,
      reason: 'hostLost',
      message: 'host "h1" lost',
      since: 0,
      hosts: ['h1'],
    };
    const h = harness({
      strategy,
      respond: { verifyBatch: (_, at) => ({ ...failed(at), conditions: [lost] }) },
    });
    const out = await h.output();
    expect(out).toEqual({
      ...output,
      outcome: 'rolledBack',
      code: 'validate.failed',
      reason: 'host "h1" failed validation',
    });
    expect(h.context().conditions).toEqual([lost]);
    expect(h.inputs('applyBatch')).toHaveLength(1);
  });

  it('fails when completing fails, and still resumes scalers', async () => {
    const h = harness({
      strategy,
      batches: 1,
      respond: {
        complete: () => {
          throw codedError('store.unavailable', 'could not record the revision');
        },
      },
    });
    const out = await h.output();
    expect(out).toEqual({
      ...output,
      outcome: 'failed',
      code: 'store.unavailable',
      reason: 'could not record the revision',
    });
    expect(h.value()).toBe('failed');
    expect(h.inputs('complete')).toEqual([{ ...step, outcome: 'completed' }]);
    expect(h.inputs('resumeScalers')).toEqual([{ ...step, outcome: 'failed' }]);
  });

  it('fails when resuming scalers fails, even after completing', async () => {
    const h = harness({
      strategy,
      batches: 1,
      respond: {
        resumeScalers: () => {
          throw codedError('scaler.refused', 'scaler did not resume');
        },
      },
    });
    const out = await h.output();
    expect(out).toEqual({ ...output, outcome: 'failed', code: 'scaler.refused', reason: 'scaler did not resume' });
    expect(h.value()).toBe('failed');
  });

  it('ends rolledBack after a clean rollback, keeping the conditions the rollback verification reports', async () => {
    const restored = { type: 'Restored', status: true, reason: 'restored', message: 'stable again', since: 3 };
    const h = harness({
      strategy,
      respond: {
        verifyBatch: (_, at) => failed(at),
        verifyRollback: (_, at) => ({ status: 'passed', at, conditions: [restored] }),
      },
    });
    expect((await h.output()).outcome).toBe('rolledBack');
    expect(h.value()).toBe('rolledBack');
    expect(h.context().conditions).toEqual([restored]);
  });
});

describe('rollout machine: a failed rollback', () => {
  it('fails when the rollback itself fails, naming what it rolled back from', async () => {
    const h = harness({
      strategy,
      respond: {
        verifyBatch: (_, at) => failed(at),
        rollback: () => {
          throw codedError('store.unavailable', 'store is down');
        },
      },
    });
    const out = await h.output();
    expect(out).toEqual({
      ...output,
      outcome: 'failed',
      code: 'store.unavailable',
      reason: 'rollback failed: store is down (after: host "h1" failed validation)',
    });
    expect(h.value()).toBe('failed');
    expect(h.inputs('resumeScalers')).toEqual([{ ...step, outcome: 'failed' }]);
    expect(h.log()).not.toContain('verifyRollback');
  });

  it('fails when the stable version fails verification after a rollback, with that verdict', async () => {
    const h = harness({
      strategy,
      respond: {
        verifyBatch: (_, at) => failed(at),
        verifyRollback: (_, at) => ({ status: 'failed', at, code: 'health.failed', reason: 'stable is unhealthy' }),
      },
    });
    expect(await h.output()).toMatchObject({
      outcome: 'failed',
      code: 'health.failed',
      reason: 'rollback failed: stable is unhealthy (after: host "h1" failed validation)',
    });
  });

  it('fails when verifying the rollback errors', async () => {
    const h = harness({
      strategy,
      respond: {
        verifyBatch: (_, at) => failed(at),
        verifyRollback: () => {
          throw codedError('host.unreachable', 'no host answered');
        },
      },
    });
    expect(await h.output()).toMatchObject({
      outcome: 'failed',
      code: 'host.unreachable',
      reason: 'rollback failed: no host answered (after: host "h1" failed validation)',
    });
  });

  it('names no earlier reason when there was none', async () => {
    const h = harness({
      strategy,
      input: { startPaused: true },
      respond: {
        rollback: () => {
          throw codedError('store.unavailable', 'store is down');
        },
      },
    });
    await h.settle();
    h.send({ type: 'rollout.abort', reason: '' });
    expect(await h.output()).toMatchObject({ outcome: 'failed', reason: 'rollback failed: store is down' });
  });

  it.each([
    ['at least ten minutes', 1_000, 600_000],
    ['the progress deadline when longer', 900_000, 900_000],
  ])('gives a rollback %s to bring hosts back, then fails with timeout', async (_name, progressDeadlineMs, window) => {
    const h = harness({
      strategy: rolling({ progressDeadlineMs, applyDeadlineMs: 500 }),
      respond: { verifyBatch: (_, at) => failed(at), rollback: () => HOLD, verifyRollback: () => HOLD },
    });
    await h.settle();
    await h.advance(250);
    h.pending('rollback').resolve({ at: 250 });
    await h.settle();
    expect(h.context().rollbackDeadlineAt).toBe(250 + window);
    expect(h.armed.filter((a) => a.id === 'rollbackDeadline')).toEqual([{ id: 'rollbackDeadline', at: 250 + window }]);
    await h.advance(window - 1);
    expect(h.value()).toEqual({ rollingBack: 'verifying' });
    await h.advance(1);
    expect(await h.output()).toMatchObject({
      outcome: 'failed',
      code: 'timeout',
      reason:
        'rollback failed: hosts did not return to the stable revision in time (after: host "h1" failed validation)',
    });
    // The verification still running is stopped.
    expect(h.calls.find((c) => c.src === 'verifyRollback')?.aborted).toBe(true);
  });
});

describe('rollout machine: commands while preparing', () => {
  it('holds after planning when paused while preparing, from the instant of the plan', async () => {
    const h = harness({ respond: { suspendScalers: () => HOLD } });
    h.send({ type: 'rollout.pause' });
    expect(h.context().paused).toBe(true);
    await h.advance(300);
    h.pending('suspendScalers').resolve({ at: 300 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    expect(h.context()).toMatchObject({ heldAt: 300, batches: 3, batch: 0, progressDeadlineAt: 300 + PD });
    expect([...h.snapshot().tags].sort()).toEqual(['busy', 'paused']);
    expect(h.inputs('applyBatch')).toEqual([]);
  });

  it('does not hold when resumed before planning ends', async () => {
    const h = harness({ respond: { suspendScalers: () => HOLD, applyBatch: () => HOLD } });
    h.send({ type: 'rollout.pause' });
    h.send({ type: 'rollout.resume' });
    expect(h.context().paused).toBe(false);
    h.pending('suspendScalers').resolve({ at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context().heldAt).toBeNull();
  });

  it('remembers a promote given while preparing: a step ends the first pause only', async () => {
    const h = harness({
      strategy: rolling({ pauseAfterBatch: {} }),
      respond: { suspendScalers: () => HOLD },
    });
    h.send({ type: 'rollout.promote' });
    expect(h.context().promoted).toBe('step');
    h.pending('suspendScalers').resolve({ at: 0 });
    await h.settle();
    // The pause after batch 0 was ended by the promote; the one after batch 1 waits.
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context()).toMatchObject({ batch: 2, promoted: 'no' });
    expect(h.inputs('applyBatch').map((i) => i.promoted)).toEqual(['step', 'no']);
  });

  it('remembers a full promote given while preparing: no pause at all', async () => {
    const h = harness({
      strategy: rolling({ pauseAfterBatch: {} }),
      respond: { suspendScalers: () => HOLD },
    });
    h.send({ type: 'rollout.promote', full: true });
    expect(h.context().promoted).toBe('full');
    h.pending('suspendScalers').resolve({ at: 0 });
    expect((await h.output()).outcome).toBe('completed');
    expect(h.inputs('applyBatch').map((i) => i.promoted)).toEqual(['full', 'full', 'full']);
  });

  it('rolls back on abort while preparing, ending aborted with the reason given', async () => {
    const h = harness({ respond: { markUpgrading: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.abort', reason: 'wrong version' });
    expect(h.value()).toEqual({ rollingBack: 'applying' });
    const out = await h.output();
    expect(out).toMatchObject({ outcome: 'aborted', code: 'aborted', reason: 'wrong version', supersededBy: null });
    expect(h.value()).toBe('aborted');
    expect(h.log()).toEqual(['suspendScalers', 'markUpgrading', 'rollback', 'verifyRollback', 'resumeScalers']);
    expect(h.inputs('resumeScalers').map((i) => i.outcome)).toEqual(['aborted']);
  });

  it('ends superseded while preparing, naming its successor, without rolling back or resuming scalers', async () => {
    const h = harness({ respond: { planRollout: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.supersede', by: 'r2' });
    const out = await h.output();
    expect(out).toMatchObject({
      outcome: 'superseded',
      code: 'superseded',
      reason: 'superseded by rollout "r2"',
      supersededBy: 'r2',
    });
    expect(h.value()).toBe('superseded');
    expect(h.log()).toEqual(['suspendScalers', 'markUpgrading', 'planRollout']);
  });
});

describe('rollout machine: pause and resume while progressing', () => {
  it('lets the batch in flight finish, holds before the next one, and resumes where it stopped', async () => {
    const h = harness({ respond: { verifyBatch: () => HOLD } });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    h.send({ type: 'rollout.pause' });
    expect(h.value()).toEqual({ progressing: 'verifying' });
    await h.advance(100);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 100 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    expect(h.context()).toMatchObject({ batch: 1, heldAt: 100, paused: true, progressDeadlineAt: 100 + PD });
    expect(h.inputs('applyBatch')).toHaveLength(1);
    await h.advance(5_000);
    h.send({ type: 'rollout.resume' });
    expect(h.value()).toEqual({ progressing: 'applying' });
    // Time held does not count against the progress deadline.
    expect(h.context()).toMatchObject({
      paused: false,
      heldAt: null,
      pauseUntil: null,
      progressDeadlineAt: 5_100 + PD,
    });
    expect(h.inputs('applyBatch').map((i) => i.batch)).toEqual([0, 1]);
  });

  it('does not move the deadline back when a resume carries an instant before the hold began', async () => {
    const h = harness({ respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.pause' });
    await h.advance(100);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 100 });
    await h.settle();
    h.send({ type: 'rollout.resume', at: 40 });
    expect(h.context()).toMatchObject({ heldAt: null, progressDeadlineAt: 100 + PD });
  });

  it('takes back a pause resumed before the batch ended: no hold', async () => {
    const h = harness({ respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.pause' });
    h.send({ type: 'rollout.resume' });
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context()).toMatchObject({ paused: false, heldAt: null });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context().batch).toBe(1);
  });

  it('completes when paused during the last batch: there is no next batch to hold before', async () => {
    const h = harness({ batches: 1, respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.pause' });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    expect((await h.output()).outcome).toBe('completed');
  });
});

describe('rollout machine: promote', () => {
  const paused = () => harness({ strategy: rolling({ pauseAfterBatch: {} }), respond: { verifyBatch: () => HOLD } });

  it('ends a hold on a step promote and keeps the next pause', async () => {
    const h = paused();
    await h.advance(100);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 100 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context()).toMatchObject({ heldAt: 100, pauseUntil: null, batch: 1 });
    await h.advance(900);
    h.send({ type: 'rollout.promote' });
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context()).toMatchObject({ promoted: 'no', paused: false, heldAt: null, progressDeadlineAt: 1_000 + PD });
    await h.settle();
    h.pending('verifyBatch').resolve({ status: 'passed', at: 1_000 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
  });

  it('ends a hold on a full promote, skips every later pause and stops the background analysis', async () => {
    const h = paused();
    await h.advance(100);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 100 });
    await h.settle();
    await h.advance(900);
    h.send({ type: 'rollout.promote', full: true });
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context()).toMatchObject({
      promoted: 'full',
      paused: false,
      heldAt: null,
      progressDeadlineAt: 1_000 + PD,
    });
    expect(h.calls.find((c) => c.src === 'backgroundAnalysis')?.aborted).toBe(true);
    await h.settle();
    h.pending('verifyBatch').resolve({ status: 'passed', at: 1_000 });
    await h.settle();
    h.pending('verifyBatch').resolve({ status: 'passed', at: 1_000 });
    expect((await h.output()).outcome).toBe('completed');
  });

  it('on a step promote outside a pause, skips the next pause only', async () => {
    const h = paused();
    await h.settle();
    h.send({ type: 'rollout.promote' });
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context().promoted).toBe('step');
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context()).toMatchObject({ batch: 1, promoted: 'no' });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
  });

  it('on a full promote outside a pause, stops the background analysis and skips every pause', async () => {
    const h = paused();
    await h.settle();
    h.send({ type: 'rollout.promote', full: true });
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context().promoted).toBe('full');
    expect(h.calls.find((c) => c.src === 'backgroundAnalysis')?.aborted).toBe(true);
    // A later step promote does not undo the full one.
    h.send({ type: 'rollout.promote' });
    expect(h.context().promoted).toBe('full');
    for (let i = 0; i < 2; i++) {
      h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
      await h.settle();
      expect(h.value()).toEqual({ progressing: 'verifying' });
      expect(h.context().promoted).toBe('full');
    }
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    expect((await h.output()).outcome).toBe('completed');
  });
});

describe('rollout machine: a manual pause after a full promote', () => {
  it('still holds before the next batch: the full promote skipped the pauses the strategy asked for', async () => {
    const h = harness({ strategy: rolling({ pauseAfterBatch: {} }), respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.promote', full: true });
    h.send({ type: 'rollout.pause' });
    await h.advance(30);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 30 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    expect(h.context()).toMatchObject({ batch: 1, heldAt: 30, promoted: 'full', paused: true });
  });
});

describe('rollout machine: promote on a first deploy', () => {
  it('keeps a step promote for later: a first deploy has no pause for it to end', async () => {
    const h = harness({
      batches: 2,
      strategy: rolling({ pauseAfterBatch: {} }),
      input: { stableVersion: null },
      respond: { verifyBatch: () => HOLD },
    });
    await h.settle();
    h.send({ type: 'rollout.promote' });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context()).toMatchObject({ batch: 1, promoted: 'step' });
  });
});

describe('rollout machine: abort and supersede while progressing or rolling back', () => {
  it('rolls back on abort without a reason, saying it was aborted by request', async () => {
    const h = harness({ respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.abort' });
    expect(await h.output()).toMatchObject({ outcome: 'aborted', code: 'aborted', reason: 'aborted by request' });
    expect(h.calls.find((c) => c.src === 'verifyBatch')?.aborted).toBe(true);
    expect(h.log().slice(-3)).toEqual(['rollback', 'verifyRollback', 'resumeScalers']);
  });

  it('ends superseded while progressing', async () => {
    const h = harness({ respond: { applyBatch: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.supersede', by: 'r7' });
    expect(await h.output()).toMatchObject({
      outcome: 'superseded',
      code: 'superseded',
      reason: 'superseded by rollout "r7"',
      supersededBy: 'r7',
    });
    expect(h.log()).not.toContain('resumeScalers');
  });

  it('ends superseded while rolling back, replacing the rollback reason', async () => {
    const h = harness({
      respond: { verifyBatch: (_, at) => ({ status: 'failed', at, code: 'x', reason: 'bad' }), rollback: () => HOLD },
    });
    await h.settle();
    expect(h.value()).toEqual({ rollingBack: 'applying' });
    h.send({ type: 'rollout.supersede', by: 'r3' });
    expect(await h.output()).toMatchObject({
      outcome: 'superseded',
      code: 'superseded',
      reason: 'superseded by rollout "r3"',
      supersededBy: 'r3',
    });
    expect(h.value()).toBe('superseded');
  });
});

describe('rollout machine: pauses after batches', () => {
  it('pauses for durationMs after each batch but the last, then goes on by itself', async () => {
    const h = harness({
      batches: 2,
      strategy: rolling({ pauseAfterBatch: { durationMs: 60_000 } }),
      respond: { verifyBatch: () => HOLD },
    });
    await h.settle();
    await h.advance(500);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 500 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context()).toMatchObject({ batch: 1, heldAt: 500, pauseUntil: 60_500, progressDeadlineAt: 500 + PD });
    expect(h.armed.filter((a) => a.id === 'pauseTimer')).toEqual([{ id: 'pauseTimer', at: 60_500 }]);
    expect([...h.snapshot().tags].sort()).toEqual(['busy', 'paused']);
    await h.advance(59_999);
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    await h.advance(1);
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context()).toMatchObject({ heldAt: null, pauseUntil: null, progressDeadlineAt: 60_500 + PD });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 60_500 });
    expect((await h.output()).outcome).toBe('completed');
  });

  it('holds at the end of a timed pause when paused during it', async () => {
    const h = harness({ batches: 2, strategy: rolling({ pauseAfterBatch: { durationMs: 1_000 } }) });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    h.send({ type: 'rollout.pause' });
    await h.advance(1_000);
    expect(h.value()).toEqual({ progressing: 'held' });
    expect(h.context()).toMatchObject({ heldAt: 1_000, pauseUntil: null, progressDeadlineAt: 1_000 + PD });
    h.send({ type: 'rollout.resume' });
    expect((await h.output()).outcome).toBe('completed');
  });

  it('waits for a person on a pause without durationMs', async () => {
    const h = harness({ batches: 2, strategy: rolling({ pauseAfterBatch: {} }) });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context().pauseUntil).toBeNull();
    expect(h.armed.filter((a) => a.id === 'pauseTimer')).toEqual([{ id: 'pauseTimer', at: Number.POSITIVE_INFINITY }]);
    await h.advance(PD * 10);
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    h.send({ type: 'rollout.resume' });
    expect((await h.output()).outcome).toBe('completed');
  });

  it('pauses when a verified batch says so, whatever the rolling strategy says', async () => {
    const h = harness({
      batches: 2,
      strategy: rolling({ pauseAfterBatch: false }),
      respond: {
        verifyBatch: (_, at) => ({ status: 'passed', at, gate: { pause: { durationMs: 2_000 }, analysis: false } }),
      },
    });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context().pauseUntil).toBe(2_000);
  });

  it('goes on without pausing when a verified batch says no pause, whatever the rolling strategy says', async () => {
    const h = harness({
      batches: 2,
      strategy: rolling({ pauseAfterBatch: {} }),
      respond: { verifyBatch: (_, at) => ({ status: 'passed', at, gate: { pause: false, analysis: false } }) },
    });
    expect((await h.output()).outcome).toBe('completed');
  });

  it('never pauses or analyses after a batch of a canary or blue-green strategy that gives no gate', async () => {
    for (const strategy of [Strategy.parse({ type: 'canary' }), Strategy.parse({ type: 'blueGreen' })]) {
      const h = harness({ batches: 2, strategy });
      expect((await h.output()).outcome).toBe('completed');
      expect(h.log()).not.toContain('analyze');
    }
  });

  it('skips pauses on an undo (it starts fully promoted)', async () => {
    const h = harness({ batches: 2, strategy: rolling({ pauseAfterBatch: {} }), input: { kind: 'undo' } });
    expect((await h.output()).outcome).toBe('completed');
  });
});

const exceeded = (message: string, since: number, hosts: string[] = []): Condition => ({
  type: 'ProgressDeadlineExceeded',
  status: true,
  reason: 'progressDeadline',
  message,
  since,
  hosts,
});
const WINDOW = 'no progress within progressDeadlineMs 1000';

describe('rollout machine: progress deadline while applying', () => {
  it('rolls back when a batch makes no progress within the window from the plan, with its condition', async () => {
    const h = harness({ strategy: rolling({ progressDeadlineMs: 1_000 }), respond: { applyBatch: () => HOLD } });
    await h.settle();
    expect(h.context().progressDeadlineAt).toBe(1_000);
    expect(h.armed.filter((a) => a.id === 'progressDeadline')).toEqual([{ id: 'progressDeadline', at: 1_000 }]);
    await h.advance(999);
    expect(h.value()).toEqual({ progressing: 'applying' });
    await h.advance(1);
    const out = await h.output();
    expect(out).toMatchObject({
      outcome: 'rolledBack',
      code: 'progressDeadline',
      reason: `progressDeadline: ${WINDOW}`,
    });
    expect(h.context().conditions).toEqual([exceeded(WINDOW, 1_000)]);
    expect(h.log().slice(-3)).toEqual(['rollback', 'verifyRollback', 'resumeScalers']);
  });

  it('only reports the condition when progressDeadlineAbort is false, and clears it on the next progress', async () => {
    const h = harness({
      strategy: rolling({ progressDeadlineMs: 1_000, progressDeadlineAbort: false }),
      respond: { applyBatch: () => HOLD, verifyBatch: () => HOLD },
    });
    await h.advance(1_000);
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context().progressDeadlineAt).toBeNull();
    expect(h.context().conditions).toEqual([exceeded(WINDOW, 1_000)]);
    expect(h.context().outcome).toBeNull();
    await h.advance(500);
    h.pending('applyBatch').resolve({ at: 1_500 });
    await h.settle();
    h.pending('verifyBatch').resolve({ status: 'passed', at: 1_500 });
    await h.settle();
    expect(h.context().progressDeadlineAt).toBe(2_500);
    expect(h.context().conditions).toEqual([{ ...exceeded('progress resumed', 1_500), status: false }]);
    // Verifying that batch ran without a deadline (it had passed); the next batch has one again.
    expect(h.armed.filter((a) => a.id === 'progressDeadline').map((a) => a.at)).toEqual([
      1_000,
      Number.POSITIVE_INFINITY,
      2_500,
    ]);
  });
});

describe('rollout machine: conditions a verified batch reports', () => {
  it('sets the conditions a batch reports and clears the ones it says no longer hold', async () => {
    const lost: Condition = {
      type: 'HostLost',
      status: true,
      reason: 'hostLost',
      message: 'h3 lost',
      since: 0,
      hosts: ['h3'],
    };
    const slow: Condition = { type: 'SlowHosts', status: true, reason: 'slow', message: 'h2 slow', since: 0 };
    const h = harness({ strategy: rolling({ progressDeadlineMs: 1_000 }), respond: { verifyBatch: () => HOLD } });
    await h.settle();
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0, conditions: [lost, slow] });
    await h.settle();
    expect(h.context().conditions).toEqual([lost, slow]);
    await h.advance(300);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 300, cleared: ['HostLost'] });
    await h.settle();
    expect(h.context().conditions).toEqual([
      { ...lost, status: false, since: 300, message: 'h3 lost (cleared)' },
      slow,
    ]);
    expect(h.context().progressDeadlineAt).toBe(1_300);
  });
});

describe('rollout machine: progress while verifying', () => {
  const verifying = (abort = true) =>
    harness({
      strategy: rolling({ progressDeadlineMs: 1_000, progressDeadlineAbort: abort }),
      respond: { verifyBatch: () => HOLD },
    });

  it('counts a rising verified count as progress: the deadline moves and the hosts left are kept', async () => {
    const h = verifying();
    await h.advance(400);
    h.send({ type: 'rollout.progress', verified: 1, unverified: { hosts: ['h2'], count: 1 } });
    expect(h.context()).toMatchObject({
      verified: 1,
      unverified: { hosts: ['h2'], count: 1 },
      progressDeadlineAt: 1_400,
    });
  });

  it('does not count a repeated or lower verified count, or a bare report, as progress', async () => {
    const h = verifying();
    await h.advance(400);
    h.send({ type: 'rollout.progress', verified: 2, unverified: { hosts: ['h3'], count: 1 } });
    await h.advance(100);
    h.send({ type: 'rollout.progress', verified: 2 });
    h.send({ type: 'rollout.progress', verified: 1, unverified: { hosts: ['h3', 'h4'], count: 2 } });
    expect(h.context()).toMatchObject({
      verified: 2,
      unverified: { hosts: ['h3', 'h4'], count: 2 },
      progressDeadlineAt: 1_400,
    });
    h.send({ type: 'rollout.progress' });
    expect(h.context()).toMatchObject({
      verified: 2,
      unverified: { hosts: ['h3', 'h4'], count: 2 },
      progressDeadlineAt: 1_400,
    });
  });

  it('counts a measurement as progress', async () => {
    const h = verifying();
    await h.advance(700);
    h.send({ type: 'rollout.progress', measured: true });
    expect(h.context()).toMatchObject({ verified: 0, progressDeadlineAt: 1_700 });
    h.send({ type: 'rollout.progress', measured: false });
    expect(h.context().progressDeadlineAt).toBe(1_700);
  });

  it('re-arms instead of expiring when progress moved the deadline on, then expires naming the hosts left', async () => {
    const h = verifying();
    await h.advance(400);
    h.send({ type: 'rollout.progress', verified: 1, unverified: { hosts: ['h2', 'h3'], count: 3 } });
    await h.advance(600);
    // The timer armed for 1000 fired, but the deadline is now 1400: verification starts over with a new timer.
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.armed.filter((a) => a.id === 'progressDeadline').map((a) => a.at)).toEqual([1_000, 1_000, 1_400]);
    expect(h.inputs('verifyBatch')).toHaveLength(2);
    await h.advance(399);
    expect(h.value()).toEqual({ progressing: 'verifying' });
    await h.advance(1);
    const message = `${WINDOW}; not yet verified: "h2", "h3" and 1 more`;
    expect(await h.output()).toMatchObject({ code: 'progressDeadline', reason: `progressDeadline: ${message}` });
    expect(h.context().conditions).toEqual([exceeded(message, 1_400, ['h2', 'h3'])]);
  });

  it('names only the hosts left when it knows them all', async () => {
    const h = verifying();
    await h.settle();
    h.send({ type: 'rollout.progress', verified: 0, unverified: { hosts: ['h1', 'h2'], count: 2 } });
    await h.advance(1_000);
    expect(await h.output()).toMatchObject({
      reason: `progressDeadline: ${WINDOW}; not yet verified: "h1", "h2"`,
    });
  });

  it('only reports the condition while verifying when progressDeadlineAbort is false; progress clears it', async () => {
    const h = verifying(false);
    await h.settle();
    h.send({ type: 'rollout.progress', verified: 0, unverified: { hosts: ['h1'], count: 1 } });
    await h.advance(1_000);
    expect(h.value()).toEqual({ progressing: 'verifying' });
    const message = `${WINDOW}; not yet verified: "h1"`;
    expect(h.context().conditions).toEqual([exceeded(message, 1_000, ['h1'])]);
    expect(h.context().progressDeadlineAt).toBeNull();
    await h.advance(200);
    h.send({ type: 'rollout.progress', verified: 1, unverified: { hosts: [], count: 0 } });
    expect(h.context().progressDeadlineAt).toBe(2_200);
    expect(h.context().conditions).toEqual([{ ...exceeded('progress resumed', 1_200, ['h1']), status: false }]);
  });

  it('starts each batch with no host verified', async () => {
    const h = verifying();
    await h.settle();
    h.send({ type: 'rollout.progress', verified: 2, unverified: { hosts: ['h9'], count: 1 } });
    h.pending('verifyBatch').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.context()).toMatchObject({ batch: 1, verified: 0, unverified: { hosts: [], count: 0 } });
    // The first host of the new batch is progress again.
    await h.advance(100);
    h.send({ type: 'rollout.progress', verified: 1 });
    expect(h.context().progressDeadlineAt).toBe(1_100);
  });
});

describe('rollout machine: progress while analysing', () => {
  const analysing = (abort = true) =>
    harness({
      strategy: rolling({ progressDeadlineMs: 1_000, progressDeadlineAbort: abort, analysis: { maxErrorRate: 0.1 } }),
      respond: { analyze: () => HOLD },
    });

  it('counts measurements as progress and re-arms, then rolls back once they stop', async () => {
    const h = analysing();
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    await h.advance(600);
    h.send({ type: 'rollout.progress', measured: true });
    expect(h.context().progressDeadlineAt).toBe(1_600);
    await h.advance(400);
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    expect(h.armed.filter((a) => a.id === 'progressDeadline').map((a) => a.at)).toEqual([1_000, 1_000, 1_000, 1_600]);
    expect(h.inputs('analyze')).toHaveLength(2);
    await h.advance(600);
    expect(await h.output()).toMatchObject({ code: 'progressDeadline', reason: `progressDeadline: ${WINDOW}` });
  });

  it('only reports the condition while analysing when progressDeadlineAbort is false', async () => {
    const h = analysing(false);
    await h.settle();
    await h.advance(1_000);
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    expect(h.context().progressDeadlineAt).toBeNull();
    expect(h.context().conditions).toEqual([exceeded(WINDOW, 1_000)]);
    // Held on an inconclusive verdict, and resumed: a deadline already passed stays disarmed.
    h.pending('analyze').resolve({ status: 'inconclusive', at: 1_000, reason: 'no data' });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    await h.advance(5_000);
    h.send({ type: 'rollout.resume' });
    expect(h.context()).toMatchObject({ heldAt: null, progressDeadlineAt: null });
  });
});

const analysed = (over: Parameters<typeof rolling>[0] = {}) =>
  rolling({ maxParallel: 1, analysis: { maxErrorRate: 0.1 }, ...over });
const inconclusive = (message: string, since: number): Condition => ({
  type: 'AnalysisInconclusive',
  status: true,
  reason: 'analysisInconclusive',
  message,
  since,
});

describe('rollout machine: analysis after a batch', () => {
  it('analyses every verified batch with the batch input, then goes on', async () => {
    const strategy = analysed();
    const h = harness({ strategy, batches: 2 });
    expect((await h.output()).outcome).toBe('completed');
    expect(h.log().filter((src) => /Batch|analyze/.test(src))).toEqual([
      'applyBatch',
      'verifyBatch',
      'analyze',
      'applyBatch',
      'verifyBatch',
      'analyze',
    ]);
    expect(h.inputs('analyze')).toEqual([
      expect.objectContaining({ batch: 0, firstDeploy: false, promoted: 'no', strategy, kind: 'deploy' }),
      expect.objectContaining({ batch: 1, firstDeploy: false, promoted: 'no' }),
    ]);
  });

  it('records the analysis instant as progress', async () => {
    const h = harness({ strategy: analysed(), respond: { analyze: () => HOLD, applyBatch: () => HOLD } });
    await h.settle();
    h.pending('applyBatch').resolve({ at: 0 });
    await h.settle();
    await h.advance(2_000);
    h.pending('analyze').resolve({ status: 'passed', at: 2_000 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context()).toMatchObject({ batch: 1, progressDeadlineAt: 2_000 + PD });
  });

  it('does not analyse a first deploy', async () => {
    const h = harness({ strategy: analysed(), batches: 2, input: { stableVersion: null } });
    expect((await h.output()).outcome).toBe('completed');
    expect(h.log()).not.toContain('analyze');
  });

  it('does not analyse once fully promoted, but does after a step promote', async () => {
    const full = harness({ strategy: analysed(), batches: 2, respond: { suspendScalers: () => HOLD } });
    full.send({ type: 'rollout.promote', full: true });
    full.pending('suspendScalers').resolve({ at: 0 });
    expect((await full.output()).outcome).toBe('completed');
    expect(full.log()).not.toContain('analyze');
    const step = harness({ strategy: analysed(), batches: 2, respond: { suspendScalers: () => HOLD } });
    step.send({ type: 'rollout.promote' });
    step.pending('suspendScalers').resolve({ at: 0 });
    expect((await step.output()).outcome).toBe('completed');
    // Without a pause to end, the step promote stays given.
    expect(step.inputs('analyze').map((i) => i.promoted)).toEqual(['step', 'step']);
  });

  it('analyses when a verified batch asks for it, and not when it says no, whatever the strategy says', async () => {
    const asked = harness({
      strategy: rolling(),
      batches: 1,
      respond: { verifyBatch: (_, at) => ({ status: 'passed', at, gate: { pause: false, analysis: true } }) },
    });
    expect((await asked.output()).outcome).toBe('completed');
    expect(asked.log()).toContain('analyze');
    const refused = harness({
      strategy: analysed(),
      batches: 1,
      respond: { verifyBatch: (_, at) => ({ status: 'passed', at, gate: { pause: false, analysis: false } }) },
    });
    expect((await refused.output()).outcome).toBe('completed');
    expect(refused.log()).not.toContain('analyze');
  });

  it('rolls back when the analysis fails, with its reason', async () => {
    const h = harness({
      strategy: analysed(),
      respond: { analyze: (_, at) => ({ status: 'failed', at, reason: 'error rate 0.200 over 0.1' }) },
    });
    expect(await h.output()).toMatchObject({
      outcome: 'rolledBack',
      code: 'analysis.failed',
      reason: 'error rate 0.200 over 0.1',
    });
    expect(h.context().conditions).toEqual([]);
    expect(h.inputs('applyBatch')).toHaveLength(1);
  });

  it('rolls back when the analysis errors', async () => {
    const h = harness({
      strategy: analysed(),
      respond: {
        analyze: () => {
          throw codedError('metrics.unavailable', 'prometheus did not answer');
        },
      },
    });
    expect(await h.output()).toMatchObject({
      outcome: 'rolledBack',
      code: 'metrics.unavailable',
      reason: 'prometheus did not answer',
    });
  });

  it('holds for a person on an inconclusive analysis, with a condition, and analyses the batch again on resume', async () => {
    const h = harness({ strategy: analysed(), respond: { analyze: () => HOLD } });
    await h.advance(250);
    h.pending('analyze').resolve({ status: 'inconclusive', at: 250, reason: 'too few samples' });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    expect([...h.snapshot().tags].sort()).toEqual(['busy', 'paused']);
    expect(h.context()).toMatchObject({ heldAt: 250, batch: 0, outcome: null });
    expect(h.context().conditions).toEqual([inconclusive('too few samples', 250)]);
    h.send({ type: 'rollout.resume' });
    await h.settle();
    expect(h.inputs('applyBatch').map((i) => i.batch)).toEqual([0, 0]);
    expect(h.value()).toEqual({ progressing: 'analyzing' });
  });

  it('pauses after an analysed batch as the analysis says', async () => {
    const h = harness({
      strategy: analysed(),
      respond: {
        analyze: (_, at) => ({ status: 'passed', at, gate: { pause: { durationMs: 3_000 }, analysis: true } }),
      },
    });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context()).toMatchObject({ batch: 1, heldAt: 0, pauseUntil: 3_000 });
  });

  it('pauses after an analysed batch when the strategy pauses after every batch', async () => {
    const h = harness({ strategy: analysed({ pauseAfterBatch: {} }) });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'stepPause' });
    expect(h.context()).toMatchObject({ batch: 1, pauseUntil: null });
  });

  it('skips the pause after an analysed batch once promoted a step, using the promote up', async () => {
    const h = harness({ strategy: analysed({ pauseAfterBatch: {} }), respond: { analyze: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.promote' });
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    expect(h.context().promoted).toBe('step');
    h.pending('analyze').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    expect(h.context()).toMatchObject({ batch: 1, promoted: 'no' });
  });

  it('holds after an analysed batch when paused during the analysis', async () => {
    const h = harness({ strategy: analysed(), respond: { analyze: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.pause' });
    await h.advance(40);
    h.pending('analyze').resolve({ status: 'passed', at: 40 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
    expect(h.context()).toMatchObject({ batch: 1, heldAt: 40, progressDeadlineAt: 40 + PD });
  });

  it('completes after analysing the last batch, even when paused during it', async () => {
    const h = harness({ strategy: analysed({ pauseAfterBatch: {} }), batches: 1, respond: { analyze: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.pause' });
    h.pending('analyze').resolve({ status: 'passed', at: 0 });
    expect((await h.output()).outcome).toBe('completed');
  });
});

describe('rollout machine: a full promote during an analysis', () => {
  it('ends the analysis and goes on with the next batch, as if it had passed', async () => {
    const h = harness({ strategy: analysed(), respond: { analyze: () => HOLD } });
    await h.advance(500);
    h.send({ type: 'rollout.promote', full: true });
    expect(h.value()).toEqual({ progressing: 'applying' });
    expect(h.context()).toMatchObject({ batch: 1, promoted: 'full', progressDeadlineAt: 500 + PD });
    expect(h.calls.find((c) => c.src === 'analyze')?.aborted).toBe(true);
    expect(h.calls.find((c) => c.src === 'backgroundAnalysis')?.aborted).toBe(true);
    expect((await h.output()).outcome).toBe('completed');
    expect(h.inputs('analyze')).toHaveLength(1);
  });

  it('completes at once during the last batch', async () => {
    const h = harness({ strategy: analysed(), batches: 1, respond: { analyze: () => HOLD, complete: () => HOLD } });
    await h.advance(500);
    h.send({ type: 'rollout.promote', full: true });
    expect(h.value()).toBe('completing');
    expect(h.context()).toMatchObject({ batch: 0, promoted: 'full', progressDeadlineAt: 500 + PD });
    expect(h.calls.find((c) => c.src === 'backgroundAnalysis')?.aborted).toBe(true);
  });

  it('lets a step promote during the last analysis wait for its verdict', async () => {
    const h = harness({ strategy: analysed(), batches: 1, respond: { analyze: () => HOLD } });
    await h.settle();
    h.send({ type: 'rollout.promote' });
    expect(h.value()).toEqual({ progressing: 'analyzing' });
    expect(h.context().promoted).toBe('step');
    h.pending('analyze').resolve({ status: 'failed', at: 0, reason: 'error rate 0.300 over 0.1' });
    expect(await h.output()).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
  });

  it('clears a passed progress deadline when a full promote ends the analysis', async () => {
    const h = harness({
      strategy: analysed({ progressDeadlineMs: 1_000, progressDeadlineAbort: false }),
      batches: 1,
      respond: { analyze: () => HOLD, complete: () => HOLD },
    });
    await h.advance(1_000);
    expect(h.context().conditions.map((c) => c.status)).toEqual([true]);
    await h.advance(100);
    h.send({ type: 'rollout.promote', full: true });
    expect(h.context().conditions).toEqual([
      expect.objectContaining({
        type: 'ProgressDeadlineExceeded',
        status: false,
        since: 1_100,
        message: 'progress resumed',
      }),
    ]);
  });
});

describe('rollout machine: background analysis', () => {
  const background = (over: Parameters<typeof harness>[0] = {}) =>
    harness({ respond: { verifyBatch: () => HOLD }, ...over });

  it('rolls back when the background analysis fails, with its reason', async () => {
    const h = background();
    await h.settle();
    h.pending('backgroundAnalysis').resolve({
      status: 'failed',
      at: 0,
      reason: 'background analysis "errorRate" failed',
    });
    expect(await h.output()).toMatchObject({
      outcome: 'rolledBack',
      code: 'analysis.failed',
      reason: 'background analysis "errorRate" failed',
    });
    expect(h.calls.find((c) => c.src === 'verifyBatch')?.aborted).toBe(true);
  });

  it('holds before the next batch when the background analysis is inconclusive, with a condition', async () => {
    const h = background();
    await h.advance(70);
    h.pending('backgroundAnalysis').resolve({ status: 'inconclusive', at: 70, reason: 'no data' });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context().paused).toBe(true);
    expect(h.context().conditions).toEqual([inconclusive('no data', 70)]);
    h.pending('verifyBatch').resolve({ status: 'passed', at: 70 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'held' });
  });

  it('changes nothing when the background analysis passes', async () => {
    const h = background();
    await h.settle();
    h.pending('backgroundAnalysis').resolve({ status: 'passed', at: 0 });
    await h.settle();
    expect(h.value()).toEqual({ progressing: 'verifying' });
    expect(h.context()).toMatchObject({ paused: false, outcome: null, conditions: [] });
  });

  it('rolls back when the background analysis errors', async () => {
    const h = background();
    await h.settle();
    h.pending('backgroundAnalysis').reject(codedError('metrics.unavailable', 'prometheus did not answer'));
    expect(await h.output()).toMatchObject({
      outcome: 'rolledBack',
      code: 'metrics.unavailable',
      reason: 'prometheus did not answer',
    });
  });

  it('ignores background verdicts on a first deploy', async () => {
    for (const verdict of ['failed', 'inconclusive'] as const) {
      const h = background({ input: { stableVersion: null } });
      await h.settle();
      h.pending('backgroundAnalysis').resolve({ status: verdict, at: 0, reason: 'no data' });
      await h.settle();
      expect(h.value()).toEqual({ progressing: 'verifying' });
      expect(h.context()).toMatchObject({ paused: false, outcome: null, conditions: [] });
    }
  });

  it('ignores background verdicts once fully promoted (an undo)', async () => {
    for (const verdict of ['failed', 'inconclusive'] as const) {
      const h = background({ input: { kind: 'undo' } });
      await h.settle();
      h.pending('backgroundAnalysis').resolve({ status: verdict, at: 0, reason: 'no data' });
      await h.settle();
      expect(h.value()).toEqual({ progressing: 'verifying' });
      expect(h.context()).toMatchObject({ paused: false, outcome: null, conditions: [] });
    }
  });
});
