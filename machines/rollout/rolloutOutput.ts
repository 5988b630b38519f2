import type { RolloutContext, RolloutOutput } from './types';

/** What a finished rollout reports, from its context (the machine's output, and a stored record's). */
export function rolloutOutput(context: RolloutContext): RolloutOutput {
  return {
    rolloutId: context.rolloutId,
    app: context.app,
    outcome: context.outcome ?? 'failed',
    reason: context.reason ?? context.outcome ?? 'failed',
    code: context.code,
    targetVersion: context.targetVersion,
    stableVersion: context.stableVersion,
    supersededBy: context.supersededBy,
  };
}
