// Controls as operators of Argo Rollouts expect them (DESIGN §3 "Controls"): promote ends one pause, promote
// --full skips the rest and stops a running analysis, and a control the rollout cannot take is refused by name.
import { createWebhookProvider, isCutoverError } from 'cutover';
import { describe, expect, it } from 'vitest';
import { drive, revision, testLattice, until } from '../fixtures/orchestrator';

const rev = (version: string) =>
  revision({ app: 'shop', version, components: [{ id: 'api', image: `mem://api:${version}` }] });

async function lattice(n: number) {
  const lat = await testLattice(n);
  for (const v of ['1', '2', '3', '4'])
    lat.runtime.publish(`mem://api:${v}`, { version: v, operations: { handle: (p) => p } });
  return lat;
}

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) => (isCutoverError(e) ? `${e.code}: ${e.message}` : String(e)),
  );

describe('rollout controls', () => {
  it('refuses pause, resume and promote while rolling back, naming the state', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const h = await orch.deploy(rev('2'), { strategy: { type: 'rolling', maxParallel: 1, pauseAfterBatch: {} } });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    await orch.abort('shop', 'bad numbers');
    expect(h.snapshot().state).toMatch(/^rollingBack/);
    for (const control of [orch.pause('shop'), orch.resume('shop'), orch.promote('shop', { full: true })]) {
      expect(await codeOf(control)).toMatch(/^rollout\.invalidCommand: rollout "r\w+" is rollingBack\.\w+: /);
    }
    expect((await drive(lat.clock, h.done)).outcome).toBe('aborted');
  });

  it('answers rollout.notFound for an app never rolled out and for an undo to a pruned revision', async () => {
    await using lat = await lattice(1);
    const orch = await lat.orchestrator({ revisionHistoryLimit: 2 });
    expect(await codeOf(orch.pause('ghost'))).toMatch(/^rollout\.notFound: /);
    expect(await codeOf(orch.promote('ghost'))).toMatch(/^rollout\.notFound: /);
    for (const v of ['1', '2', '3', '4']) await drive(lat.clock, (await orch.deploy(rev(v))).done);
    expect(await codeOf(orch.undo('shop', '1'))).toMatch(/^rollout\.notFound: revision "1" of "shop"/);
    // A known app with nothing in progress still refuses commands as invalid.
    expect(await codeOf(orch.pause('shop'))).toMatch(/^rollout\.invalidCommand: /);
  });

  it('stops a running step analysis on promote --full and goes on', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const hour = 3_600_000;
    const h = await orch.deploy(rev('2'), {
      strategy: {
        type: 'canary',
        steps: [
          { setHosts: 1 },
          { analysis: { provider: 'errorRate', intervalMs: hour, noData: 'pass', failureCondition: { max: 1 } } },
        ],
        progressDeadlineMs: 2 * hour,
      },
    });
    await until(lat.clock, () => h.snapshot().state === 'progressing.analyzing');
    const promotedAt = lat.clock.now();
    await orch.promote('shop', { full: true });
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect(lat.clock.now() - promotedAt).toBeLessThan(60_000);
  });
});

describe('canary steps', () => {
  it('runs a pause written before the first setHosts before any host moves', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const v1 = Object.values(lat.serving('shop')).map((w) => w.api);
    const h = await orch.deploy(rev('2'), { strategy: { type: 'canary', steps: [{ pause: {} }, { setHosts: 1 }] } });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).toEqual(v1);
    await orch.promote('shop');
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect(Object.values(lat.serving('shop')).map((w) => w.api)).not.toContain(v1[0]);
  });
});

describe('analysis verdicts', () => {
  const measure = { provider: 'errorRate', noData: 'pass', failureCondition: { max: 1 } } as const;

  it('ends an unbounded background analysis with its rollout: successful once the rollout completed', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const h = await orch.deploy(rev('2'), {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: { durationMs: 30_000 } }],
        backgroundAnalysis: { ...measure, intervalMs: 10_000 },
      },
    });
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    const [background] = (await orch.status('shop')).analyses;
    expect(background).toMatchObject({ run: 'background', status: 'successful' });
    expect(background?.measurements).toBeGreaterThan(0);
  });

  it('stops a background analysis on promote --full and ends it cancelled, with the reason', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const h = await orch.deploy(rev('2'), {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: {} }],
        backgroundAnalysis: { ...measure, intervalMs: 3_600_000, count: 5 },
      },
    });
    await until(lat.clock, () => h.snapshot().state === 'progressing.stepPause');
    await orch.promote('shop', { full: true });
    expect((await drive(lat.clock, h.done)).outcome).toBe('completed');
    expect((await orch.status('shop')).analyses).toEqual([
      expect.objectContaining({
        run: 'background',
        status: 'cancelled',
        reason: 'cancelled: the rollout ended completed',
      }),
    ]);
  });
});

describe('analysis verdicts of a superseded rollout', () => {
  it('ends the analyses a superseded rollout was running, cancelled with the rollout that superseded it', async () => {
    await using lat = await lattice(2);
    const orch = await lat.orchestrator();
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const first = await orch.deploy(rev('2'), {
      strategy: {
        type: 'canary',
        steps: [{ setHosts: 1 }, { pause: {} }],
        backgroundAnalysis: {
          provider: 'errorRate',
          noData: 'pass',
          failureCondition: { max: 1 },
          intervalMs: 3_600_000,
          count: 5,
        },
      },
    });
    await until(lat.clock, () => first.snapshot().state === 'progressing.stepPause');
    const second = await orch.deploy(rev('3'));
    expect((await first.done).outcome).toBe('superseded');
    const run = await lat.store.get<{ ended?: { status: string; reason: string } }>(
      'cutover',
      `plan.${first.id}.a.background`,
    );
    expect(run?.value.ended).toMatchObject({ status: 'cancelled', reason: `cancelled: superseded by ${second.id}` });
    expect((await drive(lat.clock, second.done)).outcome).toBe('completed');
  });
});

describe('analysis providers given to the orchestrator', () => {
  const analysisStep = (over: Record<string, unknown> = {}) => ({
    type: 'canary' as const,
    steps: [
      { setHosts: 1 },
      {
        analysis: {
          provider: 'webhook' as const,
          webhook: { url: 'http://metrics.test/q', timeoutMs: 5_000 },
          failureCondition: { max: 0.1 },
          ...over,
        },
      },
    ],
  });

  it('measures with the provider given to createOrchestrator, over the built-in one', async () => {
    await using lat = await lattice(2);
    const asked: string[] = [];
    const orch = await lat.orchestrator({
      analysisProviders: {
        webhook: {
          measure: async (ctx) => {
            asked.push(ctx.metric);
            return { value: 0.9 };
          },
        },
      },
    });
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const out = await drive(lat.clock, (await orch.deploy(rev('2'), { strategy: analysisStep() })).done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
    expect(asked).toEqual(['value']);
  });

  it('times a webhook out on the orchestrator clock, with the fetch it was given', async () => {
    await using lat = await lattice(2);
    const calls: number[] = [];
    // A metrics server that never answers: only the clock's timeout ends each call.
    const hanging: typeof fetch = (_url, init) =>
      new Promise((_, reject) => {
        calls.push(lat.clock.now());
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    const orch = await lat.orchestrator({
      analysisProviders: { webhook: createWebhookProvider({ fetch: hanging, clock: lat.clock }) },
    });
    await drive(lat.clock, (await orch.deploy(rev('1'))).done);
    const h = await orch.deploy(rev('2'), { strategy: analysisStep({ consecutiveErrorLimit: 0 }) });
    const out = await drive(lat.clock, h.done);
    expect(out).toMatchObject({ outcome: 'rolledBack', code: 'analysis.failed' });
    expect(out.reason).toContain('did not answer within 5000 ms');
    expect(calls).toHaveLength(1);
  });
});
