// Strategy validation and defaults as data: what a strategy may say, and what an unset field means.
import { Strategy } from 'cutover';
import { planBatches } from 'cutover/machines';
import { checkPreviewHosts } from '../../machines/rollout/blueGreen';
import { checkSetHostsAgainst } from '../../machines/rollout/canary';
import { describe, expect, it } from 'vitest';
import { hosts } from '../fixtures/orchestrator';

const problems = (input: unknown) => {
  const r = Strategy.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('strategy validation', () => {
  it.each([
    { name: 'maxParallel 0', input: { type: 'rolling', maxParallel: 0 }, want: 'maxParallel: must be at least 1' },
    {
      name: 'minReadyMs not below the apply deadline',
      input: { type: 'rolling', minReadyMs: 30_000, applyDeadlineMs: 30_000 },
      want: 'minReadyMs: must be below the apply deadline (30000): no host could pass the health gate in time',
    },
    {
      name: 'applyDeadlineMs not below progressDeadlineMs',
      input: { type: 'canary', applyDeadlineMs: 60_000, progressDeadlineMs: 60_000 },
      want: 'applyDeadlineMs: must be below progressDeadlineMs (60000): a host needs its verification inside the progress window',
    },
    {
      name: 'a setHosts below an earlier step',
      input: { type: 'canary', steps: [{ setHosts: 3 }, { setHosts: 2 }] },
      want: 'steps.1.setHosts: setHosts never shrinks: 2 after 3',
    },
    {
      name: 'an unknown analysis provider inside a step',
      input: { type: 'canary', steps: [{ analysis: { provider: 'nope', failureCondition: { max: 1 } } }] },
      want: 'steps.0: analysis.provider: must be "errorRate", "latencyP99", "webhook" or "prometheus"',
    },
    {
      name: 'an analysis count of 0 inside a step',
      input: {
        type: 'canary',
        steps: [{ analysis: { provider: 'errorRate', count: 0, failureCondition: { max: 1 } } }],
      },
      want: 'steps.0.analysis.count: Too small: expected number to be >=1',
    },
    {
      name: 'a bound that is not a number inside a step',
      input: { type: 'canary', steps: [{ analysis: { provider: 'errorRate', failureCondition: { max: 'x' } } }] },
      want: 'steps.0: analysis.failureCondition.max: Invalid input: expected number, received string',
    },
  ])('refuses $name, naming the field', ({ input, want }) => {
    expect(problems(input)).toEqual([want]);
  });

  it.each([
    { type: 'canary', minReadyMs: 5_000, maxErrorRate: 0.01 },
    { type: 'blueGreen', minReadyMs: 5_000, maxErrorRate: 0.01 },
  ])('accepts the health gate on $type', (input) => {
    expect(Strategy.parse(input)).toMatchObject({ minReadyMs: 5_000, maxErrorRate: 0.01 });
  });
});

describe('strategy validation against the hosts at plan time', () => {
  const canary = (steps: unknown[]) => {
    const s = Strategy.parse({ type: 'canary', steps });
    if (s.type !== 'canary') throw new Error('canary');
    return s;
  };
  const blueGreen = (previewHosts: number | `${number}%`) => {
    const s = Strategy.parse({ type: 'blueGreen', previewHosts });
    if (s.type !== 'blueGreen') throw new Error('blueGreen');
    return s;
  };

  it('refuses a percentage setHosts that moves fewer hosts than an earlier count, naming the step', () => {
    expect(() => checkSetHostsAgainst(canary([{ setHosts: 2 }, { setHosts: '25%' }]), 4)).toThrow(
      expect.objectContaining({
        code: 'strategy.invalid',
        message: 'steps.1.setHosts: setHosts never shrinks: "25%" (1 of 4 hosts) after 2 at steps.0',
      }),
    );
  });

  it('refuses a count below an earlier percentage once the host count is known', () => {
    expect(() => checkSetHostsAgainst(canary([{ setHosts: '50%' }, { pause: {} }, { setHosts: 3 }]), 10)).toThrow(
      expect.objectContaining({ code: 'strategy.invalid', message: expect.stringMatching(/^steps\.2\.setHosts: /) }),
    );
  });

  it('accepts mixed steps that grow on the hosts there are', () => {
    expect(() => checkSetHostsAgainst(canary([{ setHosts: 2 }, { setHosts: '25%' }]), 8)).not.toThrow();
    expect(() => checkSetHostsAgainst(canary([{ setHosts: '50%' }, { setHosts: 3 }]), 6)).not.toThrow();
  });

  it('refuses previewHosts above the number of hosts, naming the field', () => {
    expect(() => checkPreviewHosts(blueGreen(5), 3)).toThrow(
      expect.objectContaining({
        code: 'strategy.invalid',
        message: 'previewHosts: 5 is more than the 3 hosts the app is placed on',
      }),
    );
    expect(() => checkPreviewHosts(blueGreen(3), 3)).not.toThrow();
    expect(() => checkPreviewHosts(blueGreen('100%'), 3)).not.toThrow();
  });
});

describe('strategy defaults', () => {
  it('moves maxParallel hosts at a time when maxUnavailable is unset', () => {
    const hs = hosts(5);
    const ids = hs.map((h) => h.hostId);
    const s = Strategy.parse({ type: 'rolling', maxParallel: 2 });
    if (s.type !== 'rolling') throw new Error('rolling');
    expect(planBatches(ids, hs, s)).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
  });

  it('caps the default apply deadline by a shorter progress deadline', () => {
    expect(problems({ type: 'rolling', progressDeadlineMs: 60_000 })).toEqual([]);
  });
});
