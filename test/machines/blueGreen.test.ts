import { BlueGreenStrategy, type BlueGreenStrategyInput } from 'cutover';
import { describe, expect, it } from 'vitest';
import { blueGreenSchedule, retentionMs } from '../../machines/rollout/blueGreen';
import { hosts } from '../fixtures/orchestrator';

const strategy = (over: Omit<BlueGreenStrategyInput, 'type'>) =>
  BlueGreenStrategy.parse({ type: 'blueGreen', ...over });
const all = (n: number) => hosts(n).map((h) => h.hostId);

describe('blueGreenSchedule', () => {
  it.each([
    // name, strategy, host count, standby batches, last preview batch index
    ['every host previews by default, all at once', {}, 4, [['h1', 'h2', 'h3', 'h4']], 0],
    ['one preview host stands by first, then the rest', { previewHosts: 1 }, 4, [['h1'], ['h2', 'h3', 'h4']], 0],
    [
      '"50%" previews round down',
      { previewHosts: '50%' },
      5,
      [
        ['h1', 'h2'],
        ['h3', 'h4', 'h5'],
      ],
      0,
    ],
    ['previewHosts 0 means no separate preview: every host', { previewHosts: 0 }, 3, [['h1', 'h2', 'h3']], 0],
    [
      'maxParallel splits the preview and the rest separately',
      { previewHosts: 3, maxParallel: 2 },
      5,
      [['h1', 'h2'], ['h3'], ['h4', 'h5']],
      1,
    ],
  ] as const)('%s', (_name, over, n, standby, lastPreview) => {
    const s = blueGreenSchedule(strategy(over), all(n), hosts(n));
    expect(s.standby).toEqual(standby);
    expect(s.lastPreview).toBe(lastPreview);
    expect(s.promote).toEqual(all(n));
  });

  it('orders hosts by label, the preview zone first', () => {
    const labelled = hosts(4, (i) => ({ zone: i === 3 ? 'preview' : 'main' }));
    const s = blueGreenSchedule(
      strategy({ previewHosts: 1, hostOrder: { label: 'zone', values: ['preview'] } }),
      all(4),
      labelled,
    );
    expect(s.previewHosts).toEqual(['h3']);
    expect(s.standby[0]).toEqual(['h3']);
  });

  it('plans nothing without candidates', () => {
    expect(blueGreenSchedule(strategy({}), [], hosts(3))).toEqual({
      standby: [],
      previewHosts: [],
      lastPreview: -1,
      promote: [],
    });
  });
});

describe('retentionMs', () => {
  const failureCondition = { metric: 'errorRate', max: 0.05 };
  it('is keepOldForMs without post-promotion analysis', () => {
    expect(retentionMs(strategy({ keepOldForMs: 45_000 }))).toBe(45_000);
  });

  it('lasts until post-promotion analysis can have ended when that is later than keepOldForMs', () => {
    const s = strategy({
      keepOldForMs: 1000,
      applyDeadlineMs: 30_000,
      progressDeadlineMs: 60_000,
      postPromotionAnalysis: {
        provider: 'errorRate',
        initialDelayMs: 5000,
        intervalMs: 10_000,
        count: 3,
        failureCondition,
      },
    });
    // Verification (30 s), the initial delay (5 s), then 3 × (10 s interval + 10 s provider timeout + 10 s slack).
    expect(retentionMs(s)).toBe(30_000 + 5000 + 3 * 30_000);
  });

  it('keeps keepOldForMs when it is later than the analysis can end', () => {
    const s = strategy({
      keepOldForMs: 3_600_000,
      postPromotionAnalysis: { provider: 'errorRate', intervalMs: 1000, count: 1, failureCondition },
    });
    expect(retentionMs(s)).toBe(3_600_000);
  });
});
