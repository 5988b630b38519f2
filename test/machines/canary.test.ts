import fc from 'fast-check';
import { CutoverError } from '../../src/errors';
import { parseWith } from '../../src/protocol/decode';
import { CanaryStrategy, type CanaryStrategyInput } from '../../src/protocol/strategies';
import { describe, expect, it } from 'vitest';
import {
  type CanaryHost,
  type CanarySchedule,
  canarySchedule,
  orderCanaryHosts,
  planCanary,
  resolveCanaryStep,
  resolveHostCount,
} from '../../machines/rollout/canary';

/** `n` hosts `h01`…, the first `canary` of them labelled zone=canary, the rest zone=main. */
function hosts(n: number, canary = 0): CanaryHost[] {
  return Array.from({ length: n }, (_, i) => ({
    hostId: `h${String(i + 1).padStart(2, '0')}`,
    labels: { zone: i < canary ? 'canary' : 'main' },
  }));
}

function canary(input: Omit<CanaryStrategyInput, 'type'>): CanaryStrategy {
  return CanaryStrategy.parse({ type: 'canary', ...input });
}

/** Hosts each setHosts step adds, as counts, with pauses and analyses as letters. */
function shape(plan: ReturnType<typeof planCanary>): string {
  return plan.steps
    .map((s) =>
      s.kind === 'setHosts' ? `${s.stepIndex === null ? '+' : ''}${s.add.length}` : s.kind === 'pause' ? 'P' : 'A',
    )
    .join(' ');
}

const analysis = { provider: 'errorRate', failureCondition: { metric: 'errorRate', max: 0.01 } } as const;

describe('canary host counts', () => {
  it.each([
    // value, hosts, rounding, expected
    [1, 10, 'up', 1],
    [3, 10, 'up', 3],
    [20, 10, 'up', 10],
    ['10%', 10, 'up', 1],
    ['25%', 10, 'up', 3],
    ['50%', 10, 'up', 5],
    ['50%', 3, 'up', 2],
    ['33%', 3, 'up', 1],
    ['34%', 3, 'up', 2],
    ['1%', 3, 'up', 1],
    ['1%', 1000, 'up', 10],
    ['0.5%', 1000, 'up', 5],
    ['100%', 7, 'up', 7],
    ['10%', 30, 'up', 3],
    ['12.5%', 8, 'up', 1],
    ['12.5%', 9, 'up', 2],
    ['50%', 1, 'up', 1],
    ['50%', 0, 'up', 0],
    [5, 0, 'up', 0],
    ['25%', 10, 'down', 2],
    ['25%', 3, 'down', 0],
    ['10%', 30, 'down', 3],
    ['0%', 10, 'down', 0],
    [0, 10, 'down', 0],
    ['100%', 4, 'down', 4],
  ] as const)('%s of %i hosts rounds %s to %i', (value, total, rounding, expected) => {
    expect(resolveHostCount(value, total, rounding)).toBe(expected);
  });

  it('refuses a host total that is not a whole number', () => {
    expect(() => resolveHostCount(1, 2.5, 'up')).toThrowError(CutoverError);
  });
});

describe('canary host order', () => {
  it.each([
    ['by id when hostOrder is "name"', 'name', ['a', 'b', 'c', 'd']],
    ['canary zone first, then by id', { label: 'zone', values: ['canary'] }, ['c', 'd', 'a', 'b']],
    ['zones in the listed order, unlisted last', { label: 'zone', values: ['eu', 'canary'] }, ['b', 'c', 'd', 'a']],
    ['hosts without the label last', { label: 'rack', values: ['r1'] }, ['d', 'a', 'b', 'c']],
  ] as const)('orders %s', (_name, hostOrder, expected) => {
    const input: CanaryHost[] = [
      { hostId: 'd', labels: { zone: 'canary', rack: 'r1' } },
      { hostId: 'b', labels: { zone: 'eu' } },
      { hostId: 'c', labels: { zone: 'canary' } },
      { hostId: 'a' },
    ];
    expect(orderCanaryHosts(input, hostOrder).map((h) => h.hostId)).toEqual(expected);
  });
});

describe('planCanary', () => {
  const oneHalfAll: CanaryStrategyInput['steps'] = [
    { setHosts: 1 },
    { pause: { durationMs: 60_000 } },
    { setHosts: '50%' },
    { analysis },
    { pause: {} },
  ];

  it.each([
    // name, steps, host count, shape of the plan
    ['1 → 50% → rest on 10 hosts', oneHalfAll, 10, '1 P 4 A P +5'],
    ['1 → 50% → rest on 4 hosts', oneHalfAll, 4, '1 P 1 A P +2'],
    ['1 → 50% → rest on 3 hosts (50% rounds up to 2)', oneHalfAll, 3, '1 P 1 A P +1'],
    ['1 → 50% → rest on 2 hosts (50% is the canary itself)', oneHalfAll, 2, '1 P 0 A P +1'],
    ['1 → 50% on a single host: at least one, then nothing left', oneHalfAll, 1, '1 P 0 A P'],
    ['percent steps on 7 hosts', [{ setHosts: '10%' }, { setHosts: '30%' }, { setHosts: '60%' }], 7, '1 2 2 +2'],
    [
      'percent steps on 100 hosts',
      [{ setHosts: '10%' }, { setHosts: '30%' }, { setHosts: '60%' }],
      100,
      '10 20 30 +40',
    ],
    ['a step to 100% leaves no implicit last step', [{ setHosts: 2 }, { setHosts: '100%' }], 5, '2 3'],
    ['a count beyond the host set moves them all', [{ setHosts: 50 }], 5, '5'],
    ['mixed kinds never shrink', [{ setHosts: 4 }, { setHosts: '10%' }], 10, '4 0 +6'],
    ['no steps: everything at once', [], 6, '+6'],
    ['only a pause, then everything', [{ pause: {} }], 3, 'P +3'],
    ['zero hosts complete at once', oneHalfAll, 0, ''],
  ] as const)('plans %s', (_name, steps, n, expected) => {
    expect(shape(planCanary(canary({ steps: [...steps] }), hosts(n)))).toBe(expected);
  });

  it.each([
    // name, host count, hosts already on the new version, shape
    ['hosts already on the new version count toward setHosts', 10, ['h01'], '0 P 4 A P +5'],
    ['a step already reached adds nothing', 10, ['h01', 'h02', 'h03', 'h04', 'h05', 'h06'], '0 P 0 A P +4'],
    ['done hosts outside the current host set do not count', 4, ['h99'], '1 P 1 A P +2'],
  ] as const)('%s', (_name, n, done, expected) => {
    expect(shape(planCanary(canary({ steps: [...oneHalfAll] }), hosts(n), { done: [...done] }))).toBe(expected);
  });

  it.each([
    // name, host count, maxParallel, batch sizes of the implicit last step
    ['without maxParallel a step moves at once', 10, undefined, [5]],
    ['maxParallel 2 splits a step', 10, 2, [2, 2, 1]],
    ['maxParallel "20%" of 10 hosts is 2', 10, '20%', [2, 2, 1]],
    ['maxParallel "1%" is at least one host', 10, '1%', [1, 1, 1, 1, 1]],
  ] as const)('%s', (_name, n, maxParallel, sizes) => {
    const plan = planCanary(
      canary({ steps: [{ setHosts: '50%' }], ...(maxParallel === undefined ? {} : { maxParallel }) }),
      hosts(n),
    );
    const last = plan.steps.at(-1);
    expect(last?.kind === 'setHosts' && last.batches.map((b) => b.length)).toEqual(sizes);
  });

  it('moves the canary zone first and names the hosts of each step', () => {
    const plan = planCanary(
      canary({ steps: [{ setHosts: 1 }, { setHosts: '50%' }], hostOrder: { label: 'zone', values: ['canary'] } }),
      [...hosts(4, 0), { hostId: 'z9', labels: { zone: 'canary' } }],
    );
    expect(plan.order).toEqual(['z9', 'h01', 'h02', 'h03', 'h04']);
    expect(plan.steps.map((s) => (s.kind === 'setHosts' ? s.add : []))).toEqual([
      ['z9'],
      ['h01', 'h02'],
      ['h03', 'h04'],
    ]);
  });

  it('keeps the index of each strategy step and marks the implicit last one', () => {
    const plan = planCanary(canary({ steps: [...oneHalfAll] }), hosts(10));
    expect(plan.steps.map((s) => s.stepIndex)).toEqual([0, 1, 2, 3, 4, null]);
    expect(plan.steps[1]).toEqual({ kind: 'pause', stepIndex: 1, durationMs: 60_000 });
    expect(plan.steps[4]).toEqual({ kind: 'pause', stepIndex: 4 });
    expect(plan.steps[3]).toMatchObject({ kind: 'analysis', analysis: { provider: 'errorRate', count: 1 } });
  });

  describe('first deploy (no stable revision)', () => {
    it.each<[string, Omit<CanaryStrategyInput, 'type'>, number, number[]]>([
      // name, strategy, host count, batch sizes
      ['skips steps, pauses and analysis', { steps: [...oneHalfAll] }, 10, [10]],
      ['keeps maxParallel', { steps: [...oneHalfAll], maxParallel: 3 }, 10, [3, 3, 3, 1]],
      ['keeps a percentage maxParallel', { steps: [...oneHalfAll], maxParallel: '50%' }, 5, [3, 2]],
      [
        'skips background analysis',
        { steps: [{ setHosts: 1 }], backgroundAnalysis: { ...analysis, intervalMs: 1000 } },
        2,
        [2],
      ],
    ])('%s', (_name, input, n, sizes) => {
      const plan = planCanary(canary(input), hosts(n), { firstDeploy: true });
      expect(plan.firstDeploy).toBe(true);
      expect(plan.backgroundAnalysis).toBeUndefined();
      expect(plan.steps).toHaveLength(1);
      const only = plan.steps[0];
      expect(only?.kind === 'setHosts' && only.batches.map((b) => b.length)).toEqual(sizes);
    });
  });

  it('carries background analysis on an upgrade', () => {
    const plan = planCanary(canary({ steps: [{ setHosts: 1 }], backgroundAnalysis: { ...analysis } }), hosts(2));
    expect(plan.backgroundAnalysis).toMatchObject({ provider: 'errorRate', startingStep: 0 });
  });
});

/** Batches as host counts with their gates: `1 |P60| 0 |A| 2` (a gate: A analyses, P pause, P60 a 60 s pause). */
function scheduleShape(s: CanarySchedule, first = 0): string {
  return s.batches
    .map((b, i) => {
      const g = s.gates.get(first + i);
      const marks = [
        ...(g?.analyses ?? []).map(() => 'A'),
        ...(g === undefined || g.pause === false
          ? []
          : [g.pause.durationMs === undefined ? 'P' : `P${g.pause.durationMs / 1000}`]),
      ];
      return marks.length === 0 ? `${b.length}` : `${b.length} |${marks.join('')}|`;
    })
    .join(' ');
}

describe('canarySchedule', () => {
  const pause60 = { pause: { durationMs: 60_000 } };
  it.each([
    // name, steps, host count, shape
    [
      'a pause then an analysis: the analysis gets its own empty batch',
      [{ setHosts: 1 }, pause60, { analysis }],
      4,
      '1 |P60| 0 |A| 3',
    ],
    [
      'an analysis then a pause share one gate, analysis first',
      [{ setHosts: 1 }, { analysis }, pause60],
      4,
      '1 |AP60| 3',
    ],
    ['timed pauses in a row add up', [{ setHosts: 1 }, pause60, pause60], 3, '1 |P120| 2'],
    ['an untimed pause wins over a timed one', [{ setHosts: 1 }, pause60, { pause: {} }], 3, '1 |P| 2'],
    [
      'gates before any host moved run first, on batches of no hosts',
      [pause60, { analysis }, { setHosts: 2 }],
      4,
      '0 |P60| 0 |A| 2 2',
    ],
    ['a placement of zero hosts has no gates', [pause60, { analysis }], 0, ''],
    ['a step that moves no host opens no batch', [{ setHosts: 2 }, { setHosts: '25%' }, { analysis }], 4, '2 |A| 2'],
  ] as const)('%s', (_name, steps, n, expected) => {
    expect(scheduleShape(canarySchedule(canary({ steps: [...steps] }), hosts(n)))).toBe(expected);
  });

  it('names the batch each setHosts step begins with, the implicit last step as steps.length', () => {
    const s = canarySchedule(
      canary({ steps: [{ setHosts: 1 }, pause60, { analysis }, { setHosts: '50%' }] }),
      hosts(6),
    );
    expect(s.starts).toEqual([
      { batch: 0, step: 0 },
      { batch: 2, step: 3 },
      { batch: 3, step: 4 },
    ]);
  });

  it('splits each step with the chunker (maxParallel and maxUnavailable)', () => {
    const s = canarySchedule(canary({ steps: [{ setHosts: 1 }, { setHosts: '100%' }] }), hosts(5), {
      chunk: (ids) => ids.map((id) => [id]),
    });
    expect(s.batches).toEqual([['h01'], ['h02'], ['h03'], ['h04'], ['h05']]);
  });

  it('re-plans from a step on, numbering batches after the ones already run', () => {
    const strategy = canary({ steps: [{ setHosts: 1 }, pause60, { setHosts: '50%' }, { analysis }] });
    // Eight hosts now, one of them already on the new version: "50%" is four, so three more.
    const s = canarySchedule(strategy, hosts(8), { fromStep: 2, firstBatch: 1, done: ['h01'] });
    expect(scheduleShape(s, 1)).toBe('3 |A| 4');
    expect(s.starts).toEqual([
      { batch: 1, step: 2 },
      { batch: 2, step: 4 },
    ]);
  });

  it.each([
    // name, startingStep, where background analysis starts
    ['at step 0: with the first batch', 0, { batch: 0, when: 'applied' }],
    ['at a pause: once the batch before it is verified', 1, { batch: 0, when: 'verified' }],
    ["at a later setHosts step: with that step's first batch", 2, { batch: 1, when: 'applied' }],
    ['at the last step (implicit): with its first batch', 3, { batch: 2, when: 'applied' }],
  ] as const)('starts background analysis %s', (_name, startingStep, expected) => {
    const strategy = canary({
      steps: [{ setHosts: 1 }, pause60, { setHosts: 2 }],
      backgroundAnalysis: { ...analysis, startingStep },
    });
    expect(canarySchedule(strategy, hosts(4)).backgroundStart).toEqual(expected);
  });

  it('has no background start on a first deploy or before fromStep', () => {
    const strategy = canary({ steps: [{ setHosts: 1 }, { setHosts: 2 }], backgroundAnalysis: { ...analysis } });
    expect(canarySchedule(strategy, hosts(4), { firstDeploy: true }).backgroundStart).toBeUndefined();
    expect(
      canarySchedule(strategy, hosts(4), { fromStep: 1, firstBatch: 1, done: ['h01'] }).backgroundStart,
    ).toBeUndefined();
  });
});

describe('resolveCanaryStep', () => {
  const strategy = canary({ steps: [{ setHosts: '50%' }, { pause: {} }] });

  it.each([
    // host count when the step is reached, done, hosts added
    [4, [], ['h01', 'h02']],
    [6, ['h01'], ['h02', 'h03']],
    [8, ['h01', 'h02'], ['h03', 'h04']],
    [2, ['h01'], []],
  ] as const)('resolves "50%" against the current %i hosts', (n, done, expected) => {
    const step = resolveCanaryStep(strategy, 0, hosts(n), { done: [...done] });
    expect(step.kind === 'setHosts' && step.add).toEqual(expected);
  });

  it('resolves the step after the last as moving every remaining host', () => {
    expect(resolveCanaryStep(strategy, 2, hosts(3), { done: ['h02'] })).toMatchObject({
      kind: 'setHosts',
      stepIndex: null,
      target: 3,
      add: ['h01', 'h03'],
    });
  });

  it.each([[-1], [3], [1.5]])('refuses step %s, which does not exist', (index) => {
    expect(() => resolveCanaryStep(strategy, index, hosts(2))).toThrowError(/canary step ".*" does not exist/);
  });
});

describe('canary strategy schema', () => {
  it.each([
    ['setHosts 0', [{ setHosts: 0 }], 'steps.0.setHosts: must be at least 1'],
    ['setHosts "0%"', [{ setHosts: '0%' }], 'steps.0.setHosts: must be a percentage from above 0 to 100, like "25%"'],
    ['setHosts "150%"', [{ setHosts: '150%' }], 'steps.0.setHosts: must be a percentage'],
    ['a fractional host count', [{ setHosts: 1.5 }], 'steps.0.setHosts: must be a whole number of hosts'],
    ['an unknown step', [{ wait: 5 }], 'steps.0: a canary step is one of { setHosts }, { pause } or { analysis }'],
    ['two kinds in one step', [{ setHosts: 1, pause: {} }], 'steps.0: a canary step is one of'],
    ['a shrinking count', [{ setHosts: 3 }, { setHosts: 2 }], 'steps.1.setHosts: setHosts never shrinks: 2 after 3'],
    ['a shrinking percentage', [{ setHosts: '50%' }, { setHosts: '20%' }], 'steps.1.setHosts: setHosts never shrinks'],
    ['a zero pause', [{ pause: { durationMs: 0 } }], 'steps.0.pause.durationMs'],
    [
      'an analysis without conditions',
      [{ analysis: { provider: 'errorRate' } }],
      'needs a successCondition or a failureCondition',
    ],
  ])('refuses %s with a clear message', (_name, steps, message) => {
    expect(() =>
      parseWith(CanaryStrategy, { type: 'canary', steps }, 'strategy.invalid', 'canary strategy'),
    ).toThrowError(expect.objectContaining({ code: 'strategy.invalid', message: expect.stringContaining(message) }));
  });

  it('fills in the defaults', () => {
    expect(canary({})).toEqual({
      type: 'canary',
      steps: [],
      hostOrder: 'name',
      minReadyMs: 0,
      progressDeadlineMs: 600_000,
      progressDeadlineAbort: true,
      onConflict: 'fail',
      onHostLost: 'rollback',
    });
  });
});

describe('canary plan invariants', () => {
  const step = fc.oneof(
    fc.integer({ min: 1, max: 40 }).map((n) => ({ setHosts: n })),
    fc.integer({ min: 1, max: 100 }).map((p) => ({ setHosts: `${p}%` as const })),
    fc.constant({ pause: {} }),
  );

  it('moves every host exactly once, in order, never shrinking, at least one host per reached step', () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 6 }),
        fc.integer({ min: 0, max: 30 }),
        fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
        fc.boolean(),
        (rawSteps, n, maxParallel, firstDeploy) => {
          // The schema refuses shrinking steps of one kind; keep each kind sorted so every input is valid.
          const counts = rawSteps
            .flatMap((s) => ('setHosts' in s && typeof s.setHosts === 'number' ? [s.setHosts] : []))
            .sort((a, b) => a - b);
          const percents = rawSteps
            .flatMap((s) => ('setHosts' in s && typeof s.setHosts === 'string' ? [Number.parseFloat(s.setHosts)] : []))
            .sort((a, b) => a - b);
          const steps = rawSteps.map((s) =>
            'setHosts' in s
              ? {
                  setHosts:
                    typeof s.setHosts === 'number' ? (counts.shift() ?? 1) : (`${percents.shift() ?? 1}%` as const),
                }
              : s,
          );
          const strategy = canary({ steps, ...(maxParallel === undefined ? {} : { maxParallel }) });
          const plan = planCanary(strategy, hosts(n), { firstDeploy });
          const moves = plan.steps.flatMap((s) => (s.kind === 'setHosts' ? [s] : []));
          const moved = moves.flatMap((s) => s.add);
          expect(moved).toEqual(plan.order);
          expect(new Set(moved).size).toBe(n);
          let last = 0;
          for (const s of moves) {
            expect(s.target).toBeGreaterThanOrEqual(last);
            expect(s.batches.flat()).toEqual(s.add);
            for (const b of s.batches) expect(b.length).toBeLessThanOrEqual(maxParallel ?? n);
            if (n > 0 && s.stepIndex !== null) expect(s.target).toBeGreaterThanOrEqual(1);
            last = s.target;
          }
          if (firstDeploy || n === 0) expect(plan.steps.every((s) => s.kind === 'setHosts')).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('canary host counts, at their edges', () => {
  it.each([
    // value, hosts, rounding, expected: float noise never moves a count past a whole number
    ['29%', 100, 'down', 29],
    ['29%', 100, 'up', 29],
    ['10%', 30, 'up', 3],
    ['14.2857%', 7, 'up', 1],
    ['100%', 1, 'down', 1],
    ['99%', 1, 'down', 0],
    // Any percentage of a non-empty host set moves at least one host, however small.
    ['0.00000001%', 1, 'up', 1],
    ['0.00000001%', 1, 'down', 0],
  ] as const)('%s of %i hosts rounds %s to %i', (value, total, rounding, expected) => {
    expect(resolveHostCount(value, total, rounding)).toBe(expected);
  });

  it.each([[2.5], [-1], [Number.NaN]])('refuses a host total of %s with plan.invalid, naming it', (total) => {
    expect(() => resolveHostCount(1, total, 'up')).toThrowError(
      expect.objectContaining({ code: 'plan.invalid', message: `host total must be a whole number, got "${total}"` }),
    );
  });
});

describe('canary steps, resolved', () => {
  const strategy = canary({ steps: [{ setHosts: '50%' }, { pause: { durationMs: 5000 } }, { analysis }] });

  it('counts hosts already done toward the target, never below them', () => {
    expect(resolveCanaryStep(strategy, 0, hosts(4), { done: ['h01', 'h02', 'h03'] })).toEqual({
      kind: 'setHosts',
      stepIndex: 0,
      target: 3,
      add: [],
      batches: [],
    });
  });

  it('gives an untimed pause no duration at all', () => {
    const untimed = canary({ steps: [{ setHosts: 1 }, { pause: {} }] });
    expect(resolveCanaryStep(untimed, 1, hosts(2))).toStrictEqual({ kind: 'pause', stepIndex: 1 });
  });

  it('gives a timed pause its duration and an analysis its spec', () => {
    expect(resolveCanaryStep(strategy, 1, hosts(2))).toEqual({ kind: 'pause', stepIndex: 1, durationMs: 5000 });
    expect(resolveCanaryStep(strategy, 2, hosts(2))).toEqual({
      kind: 'analysis',
      stepIndex: 2,
      analysis: strategy.steps[2] && 'analysis' in strategy.steps[2] ? strategy.steps[2].analysis : undefined,
    });
  });

  it('names the step and the step count when a step does not exist', () => {
    expect(() => resolveCanaryStep(strategy, 7, hosts(2))).toThrowError(
      expect.objectContaining({ code: 'plan.invalid', message: 'canary step "7" does not exist (3 steps)' }),
    );
  });

  it('splits by a maxParallel percentage of the current host set', () => {
    const step = resolveCanaryStep(canary({ steps: [], maxParallel: '25%' }), 0, hosts(8));
    expect(step).toMatchObject({
      stepIndex: null,
      target: 8,
      batches: [
        ['h01', 'h02'],
        ['h03', 'h04'],
        ['h05', 'h06'],
        ['h07', 'h08'],
      ],
    });
  });

  it('needs no options', () => {
    expect(resolveCanaryStep(strategy, 0, hosts(2))).toMatchObject({ add: ['h01'] });
  });
});

describe('planCanary, more', () => {
  it('is no first deploy unless told, and carries no background analysis the strategy does not have', () => {
    const plan = planCanary(canary({ steps: [{ setHosts: 1 }] }), hosts(2));
    expect(plan).toStrictEqual({
      firstDeploy: false,
      hostCount: 2,
      order: ['h01', 'h02'],
      steps: [
        { kind: 'setHosts', stepIndex: 0, target: 1, add: ['h01'], batches: [['h01']] },
        { kind: 'setHosts', stepIndex: null, target: 2, add: ['h02'], batches: [['h02']] },
      ],
    });
  });

  it('plans nothing on zero hosts, even a first deploy', () => {
    expect(planCanary(canary({ steps: [{ setHosts: 1 }] }), [], { firstDeploy: true })).toStrictEqual({
      firstDeploy: true,
      hostCount: 0,
      order: [],
      steps: [],
    });
  });

  it('moves only the hosts not done yet on a first deploy', () => {
    const plan = planCanary(canary({ steps: [{ setHosts: 1 }] }), hosts(3), { firstDeploy: true, done: ['h02'] });
    expect(plan.steps).toEqual([
      { kind: 'setHosts', stepIndex: null, target: 3, add: ['h01', 'h03'], batches: [['h01', 'h03']] },
    ]);
  });
});

describe('canarySchedule, more', () => {
  const pause60 = { pause: { durationMs: 60_000 } };

  it.each([
    ['an untimed pause then a timed one wait for a person', [{ setHosts: 1 }, { pause: {} }, pause60], 3, '1 |P| 2'],
    ['two analyses in a row share one gate', [{ setHosts: 1 }, { analysis }, { analysis }], 3, '1 |AA| 2'],
    [
      'a pause after the last step gates the last batch',
      [{ setHosts: 1 }, { setHosts: '100%' }, pause60],
      3,
      '1 2 |P60|',
    ],
  ] as const)('%s', (_name, steps, n, expected) => {
    expect(scheduleShape(canarySchedule(canary({ steps: [...steps] }), hosts(n)))).toBe(expected);
  });

  it('never asks the chunker to split a step that moves no host, and drops the empty batches it gives', () => {
    const asked: string[][] = [];
    const s = canarySchedule(canary({ steps: [{ setHosts: 2 }, { setHosts: '50%' }, { setHosts: 3 }] }), hosts(4), {
      chunk: (ids) => {
        asked.push(ids);
        return [[], ids, []];
      },
    });
    expect(asked).toEqual([['h01', 'h02'], ['h03'], ['h04']]);
    expect(s.batches).toEqual([['h01', 'h02'], ['h03'], ['h04']]);
    expect(s.starts).toEqual([
      { batch: 0, step: 0 },
      { batch: 1, step: 2 },
      { batch: 2, step: 3 },
    ]);
  });

  it.each([
    // name, steps, host count, startingStep, where background analysis starts
    [
      'at a pause before any host moved: with the first batch',
      [{ pause: {} }, { setHosts: 1 }],
      3,
      0,
      { batch: 0, when: 'applied' },
    ],
    [
      'at a step that moves no host, last: once the last batch is verified',
      [{ setHosts: 4 }, { setHosts: '10%' }],
      4,
      1,
      { batch: 0, when: 'verified' },
    ],
    [
      'at a pause after the last batch: once it is verified',
      [{ setHosts: '100%' }, pause60],
      2,
      1,
      { batch: 0, when: 'verified' },
    ],
  ] as const)('starts background analysis %s', (_name, steps, n, startingStep, expected) => {
    const strategy = canary({ steps: [...steps], backgroundAnalysis: { ...analysis, startingStep } });
    expect(canarySchedule(strategy, hosts(n)).backgroundStart).toEqual(expected);
  });

  it('runs no gate at all when every host already serves the new version', () => {
    const strategy = canary({ steps: [pause60, { setHosts: 1 }, { analysis }, { setHosts: 2 }, { pause: {} }] });
    const s = canarySchedule(strategy, hosts(2), { done: ['h01', 'h02'] });
    expect({ batches: s.batches, gates: [...s.gates], starts: s.starts }).toEqual({
      batches: [],
      gates: [],
      starts: [],
    });
  });

  it('has no background start when no host moves', () => {
    const strategy = canary({ steps: [{ setHosts: 1 }], backgroundAnalysis: { ...analysis } });
    expect('backgroundStart' in canarySchedule(strategy, hosts(0))).toBe(false);
    expect('backgroundStart' in canarySchedule(strategy, hosts(2), { done: ['h01', 'h02'] })).toBe(false);
  });

  it('starts background analysis at fromStep itself on a re-plan, numbering from firstBatch', () => {
    const strategy = canary({
      steps: [{ setHosts: 1 }, { setHosts: 2 }, pause60],
      backgroundAnalysis: { ...analysis, startingStep: 1 },
    });
    const s = canarySchedule(strategy, hosts(4), { fromStep: 1, firstBatch: 3, done: ['h01'] });
    expect(s.backgroundStart).toEqual({ batch: 3, when: 'applied' });
    expect(scheduleShape(s, 3)).toBe('1 |P60| 2');
    expect(s.starts).toEqual([
      { batch: 3, step: 1 },
      { batch: 4, step: 3 },
    ]);
  });

  it('starts background analysis at a pause of a re-plan once the batch before it is verified', () => {
    const strategy = canary({
      steps: [{ setHosts: 1 }, { setHosts: 2 }, pause60],
      backgroundAnalysis: { ...analysis, startingStep: 2 },
    });
    expect(canarySchedule(strategy, hosts(4), { fromStep: 1, firstBatch: 3, done: ['h01'] }).backgroundStart).toEqual({
      batch: 3,
      when: 'verified',
    });
  });
});
