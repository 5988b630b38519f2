import { type BlueGreenStrategy, applyDeadlineOf } from '../../src/protocol/strategies';
import { CutoverError } from '../../src/errors';
import { resolveHostCount } from './canary';
import { type HostInfo, planBatches } from './plan';

/** A blue-green switch as batches: standbys (preview hosts first), then one promotion of them all. */
export interface BlueGreenSchedule {
  /** Standby batches of at most maxParallel hosts: the preview hosts', then the rest's. */
  standby: string[][];
  /** Hosts whose standby takes preview traffic (and is analysed) before the rest stand by. */
  previewHosts: string[];
  /** Index in `standby` of the preview hosts' last batch: pre-promotion analysis and the promote wait follow it. */
  lastPreview: number;
  /** Every host, promoted at once after the last standby batch. */
  promote: string[];
}

/**
 * Plans a blue-green switch of `candidates`: `previewHosts` (first in hostOrder; 0 or all means every
 * host) stand by first, are analysed and wait to be promoted, then the rest stand by and all switch at once.
 * @example
 * blueGreenSchedule(BlueGreenStrategy.parse({ type: 'blueGreen', previewHosts: 1 }), ['h1', 'h2'], hosts).standby // [['h1'], ['h2']]
 */
export function blueGreenSchedule(
  strategy: Pick<BlueGreenStrategy, 'previewHosts' | 'hostOrder' | 'maxParallel'>,
  candidates: readonly string[],
  hosts: readonly HostInfo[],
): BlueGreenSchedule {
  const limits = { hostOrder: strategy.hostOrder, maxParallel: strategy.maxParallel };
  const ordered = planBatches(candidates, hosts, { hostOrder: strategy.hostOrder }).flat();
  const p = resolveHostCount(strategy.previewHosts, ordered.length, 'down');
  const previewHosts = p === 0 ? ordered : ordered.slice(0, p);
  const first = planBatches(previewHosts, hosts, limits);
  return {
    standby: [...first, ...planBatches(ordered.slice(previewHosts.length), hosts, limits)],
    previewHosts,
    lastPreview: first.length - 1,
    promote: ordered,
  };
}

/** Time one measurement may take beyond its interval: the provider's timeout (10 s unless set) and a host ping. */
const MEASUREMENT_SLACK_MS = 10_000;

/**
 * How long a promote asks a host to retain the old instance: `keepOldForMs`, or until the post-promotion
 * analysis can have ended (the promoted hosts' verification, then every measurement with its provider's
 * timeout), whichever is later; so a failed post-promotion analysis switches back without a download.
 * @example
 * retentionMs(BlueGreenStrategy.parse({ type: 'blueGreen', keepOldForMs: 1000 })) // 1000
 */
export function retentionMs(
  strategy: Pick<
    BlueGreenStrategy,
    'keepOldForMs' | 'postPromotionAnalysis' | 'applyDeadlineMs' | 'progressDeadlineMs'
  >,
): number {
  const a = strategy.postPromotionAnalysis;
  if (a === undefined) return strategy.keepOldForMs;
  const measure = (a.webhook?.timeoutMs ?? a.timeoutMs ?? 10_000) + MEASUREMENT_SLACK_MS;
  const analysis = applyDeadlineOf(strategy) + a.initialDelayMs + a.count * (a.intervalMs + measure);
  return Math.max(strategy.keepOldForMs, analysis);
}

/**
 * Refuses `previewHosts` above the `total` hosts the app is placed on (known at plan time): `strategy.invalid`
 * naming the field. A placement of no hosts previews nothing and is never refused.
 * @example
 * checkPreviewHosts(BlueGreenStrategy.parse({ type: 'blueGreen', previewHosts: 5 }), 3) // throws
 */
export function checkPreviewHosts(strategy: Pick<BlueGreenStrategy, 'previewHosts'>, total: number): void {
  const p = strategy.previewHosts;
  if (total > 0 && typeof p === 'number' && p > total) {
    throw new CutoverError(
      'strategy.invalid',
      `previewHosts: ${p} is more than the ${total} ${total === 1 ? 'host' : 'hosts'} the app is placed on`,
    );
  }
}
