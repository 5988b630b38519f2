import type { BlueGreenStrategy } from '../../src/protocol/strategies';
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
