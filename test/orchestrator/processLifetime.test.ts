// A process that embeds cutover lives exactly as long as its work: a rollout in flight keeps it alive until
// `done` settles (the rollout's own timers are unref'd), an idle host and orchestrator never do. Each case is
// its own process (tsx on processLifetime.script.ts), since vitest's worker would keep any process alive.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../readme/builtPackage';

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** A process still running after this is reported as hanging (SIGKILL); none of these needs a tenth of it. */
const HANG_MS = 60_000;

const script = (mode: string) => run(TSX, ['test/orchestrator/processLifetime.script.ts', mode], ROOT, HANG_MS);

describe('process lifetime of an embedded cutover', () => {
  it('stays alive through a rollout that waits on its timers, prints its outcome, and then exits 0', async () => {
    const result = await script('rollout');
    expect(result.signal, `killed as hanging:\n${result.output}`).toBeNull();
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toBe('v1 completed\nv2 completed\n');
  });

  it('exits by itself with an idle host and orchestrator that were never closed', async () => {
    const result = await script('idle');
    expect(result.signal, `an idle cutover kept the process alive:\n${result.output}`).toBeNull();
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toBe('v1 completed\nidle\n');
  });

  it('lets the process go once the orchestrator is closed under a held rollout whose done never settles', async () => {
    const result = await script('stopped');
    expect(result.signal, `a stopped rollout kept the process alive:\n${result.output}`).toBeNull();
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toBe('v1 completed\nclosed with the rollout progressing.stepPause\n');
  });
});
