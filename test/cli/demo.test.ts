import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/commands/demo';
import { pauseFigures } from '../../src/cli/demo/pauseFigures';
import { createProgress } from '../../src/cli/demo/progress';
import { runDemo } from '../../src/cli/demo/runDemo';
import type { DemoJson } from '../../src/cli/demo/summary';
import { Gate } from '../../src/host/gate';
import type { RolloutView } from '../../src/orchestrator/createOrchestrator';

/** Collects what a command writes. */
function capture(isTTY = false) {
  let text = '';
  return {
    isTTY,
    write(chunk: string) {
      text += chunk;
      return true;
    },
    get text() {
      return text;
    },
  };
}

describe('cutover demo', () => {
  it('completes v2, rolls back v3 and loses no invocation under load', async () => {
    const notes: string[] = [];
    const result = await runDemo({
      hosts: 3,
      rate: 400,
      settleMs: 150,
      observer: { note: (t) => notes.push(t), rollout: () => {}, host: () => {}, load: () => {} },
    });

    expect(result.rollouts.map((r) => [r.from, r.to, r.outcome])).toEqual([
      ['v1', 'v2', 'completed'],
      ['v2', 'v3', 'rolledBack'],
    ]);
    expect(result.rollouts[1]?.reason).toContain('address in use');
    expect(result.rollouts[1]?.reason).toContain(result.blockedHost);
    // 3 hosts → batches of 2: the blocked host opens the second batch, the first batch ran v3 and came back.
    expect(result.blockedHost).toBe('host-3');
    expect(result.rolledBackHosts).toEqual(['host-1', 'host-2']);
    expect(result.hosts).toEqual([
      { id: 'host-1', version: 'v2' },
      { id: 'host-2', version: 'v2' },
      { id: 'host-3', version: 'v2' },
    ]);
    const t = result.invocations;
    expect(t.dropped).toBe(0);
    expect(t.served).toBeGreaterThan(0);
    expect(t.failures['wrong.reply'] ?? 0).toBe(0);
    expect(t.sent).toBe(t.served + t.failed + t.dropped);
    expect(t.servedBy.v1).toBeGreaterThan(0);
    expect(t.servedBy.v2).toBeGreaterThan(0);
    expect(result.pauseMs.count).toBeGreaterThan(0);
    expect(result.pauseMs.max).toBeGreaterThanOrEqual(result.pauseMs.p99);
    expect(result.pauseMs.p99).toBeGreaterThanOrEqual(result.pauseMs.p50);
    expect(result.ok).toBe(true);
    expect(notes.some((n) => n.includes('rollout v2 → v3'))).toBe(true);
  });

  it.each([
    // strategy, states v1 → v2 passes through, hosts that ran v3 before the rollback (of 4; host-3 blocked)
    // 1 host, then 50% (host-2), then the rest at once: host-4 runs v3 while host-3 fails.
    ['canary', ['progressing.analyzing', 'progressing.stepPause'], ['host-1', 'host-2', 'host-4']],
    // The standbys' changed link is swapped at the switch, where host-3 fails: the others switch straight back.
    ['blue-green', ['progressing.analyzing'], ['host-1', 'host-2', 'host-4']],
  ] as const)('runs the %s strategy: completes v2, rolls back v3, loses nothing', async (strategy, states, ranV3) => {
    const seen = new Set<string>();
    const result = await runDemo({
      strategy,
      hosts: 4,
      rate: 400,
      settleMs: 150,
      observer: {
        note: () => {},
        rollout: (label, view) => {
          if (label.to === 'v2') seen.add(view.state);
        },
        host: () => {},
        load: () => {},
      },
    });
    expect(result.strategy).toBe(strategy);
    expect(result.rollouts.map((r) => r.outcome)).toEqual(['completed', 'rolledBack']);
    expect(result.blockedHost).toBe('host-3');
    expect(result.rollouts[1]?.reason).toContain('host-3');
    for (const state of states) expect(seen).toContain(state);
    expect(result.rolledBackHosts).toEqual(ranV3);
    expect(result.hosts.every((h) => h.version === 'v2')).toBe(true);
    expect(result.invocations.dropped).toBe(0);
    expect(result.invocations.failures['wrong.reply'] ?? 0).toBe(0);
    expect(result.ok).toBe(true);
  });

  it('prints exactly one JSON object with --json and exits 0', async () => {
    const stdout = capture();
    const stderr = capture();
    const code = await run(['--hosts', '3', '--rate', '300', '--json'], {
      stdout,
      stderr,
      signal: new AbortController().signal,
    });

    expect(stderr.text).toBe('');
    expect(code).toBe(0);
    expect(stdout.text.trim().split('\n')).toHaveLength(1);
    const json = JSON.parse(stdout.text) as DemoJson;
    expect(Object.keys(json).sort()).toEqual(['hosts', 'invocations', 'pauseMs', 'rollouts']);
    expect(json.rollouts.map((r) => r.outcome)).toEqual(['completed', 'rolledBack']);
    for (const r of json.rollouts) {
      expect(Object.keys(r).sort()).toEqual(['durationMs', 'from', 'outcome', 'reason', 'to']);
      expect(r.durationMs).toBeGreaterThan(0);
    }
    expect(Object.keys(json.invocations).sort()).toEqual(['dropped', 'failed', 'sent', 'served']);
    expect(json.invocations.dropped).toBe(0);
    expect(json.invocations.served).toBeGreaterThan(0);
    expect(Object.keys(json.pauseMs).sort()).toEqual(['max', 'p50', 'p99']);
    expect(json.hosts.map((h) => h.version)).toEqual(['v2', 'v2', 'v2']);
  });

  it('serves real HTTP through a front door until stopped with --serve', async () => {
    const stop = new AbortController();
    let address: string | undefined;
    let reply: string | undefined;
    const result = await runDemo({
      hosts: 2,
      rate: 200,
      serve: 0,
      settleMs: 300,
      minReadyMs: 100,
      signal: stop.signal,
      observer: {
        note: (text) => {
          address ??= /http:\/\/(127\.0\.0\.1:\d+)\//.exec(text)?.[1];
          if (!text.startsWith('still serving')) return;
          void fetch(`http://${address}/`, { method: 'POST', body: 'hello' })
            .then((r) => r.text())
            .then((text) => {
              reply = text;
            })
            .finally(() => stop.abort());
        },
        rollout: () => {},
        host: () => {},
        load: () => {},
      },
    });

    expect(reply).toBe('v2:hello');
    expect(result.ok).toBe(true);
    expect(result.http?.served).toBeGreaterThan(0);
    expect(result.http?.dropped).toBe(0);
    expect(result.http?.failures['wrong.reply'] ?? 0).toBe(0);
  });

  it('refuses bad flags with usage and exit 2', async () => {
    const stdout = capture();
    const stderr = capture();
    expect(await run(['--hosts', '1'], { stdout, stderr })).toBe(2);
    expect(stderr.text).toContain('--hosts must be a whole number from 2 to 100');
    const stderr2 = capture();
    expect(await run(['--rate', 'fast'], { stdout, stderr: stderr2 })).toBe(2);
    expect(stderr2.text).toContain('--rate needs a number');
    expect(stderr2.text).toContain('usage: cutover demo');
  });
});

function view(state: string, outcome: RolloutView['outcome'] = null): RolloutView {
  return {
    id: 'r1',
    app: 'hello',
    kind: 'deploy',
    parent: null,
    state,
    done: outcome !== null,
    outcome,
    reason: outcome === 'rolledBack' ? 'address in use' : null,
    code: null,
    targetVersion: 'v3',
    stableVersion: 'v2',
    batch: 1,
    batches: 3,
    paused: false,
    conditions: [],
    progressDeadlineAt: null,
    strategy: 'rolling',
    versions: { target: { version: 'v3', hashes: null }, stable: { version: 'v2', hashes: null }, previous: null },
    step: null,
    pause: null,
    held: null,
    promotion: { pending: false, requested: 'no' },
    analyses: [],
    plannedBatches: [],
    verification: { verified: 0, unverified: [], unverifiedCount: 0 },
    startedAt: null,
    finishedAt: null,
  };
}

describe('demo progress', () => {
  it('writes plain timestamped lines without escape codes when not on a terminal', () => {
    const out = capture(false);
    const progress = createProgress(out);
    progress.note('lattice up');
    progress.rollout({ from: 'v2', to: 'v3' }, view('progressing.applying'));
    progress.host({ id: 'host-1', state: 'running', version: 'v2', batch: 1 });
    progress.host({ id: 'host-1', state: 'upgrading (cuttingOver)', version: 'v2', batch: 1 });
    progress.host({ id: 'host-1', state: 'running', version: 'v3', batch: 1 });
    progress.rollout({ from: 'v2', to: 'v3' }, view('rolledBack', 'rolledBack'));
    progress.stop();

    expect(out.text).not.toContain('\x1b[');
    const lines = out.text.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/rollout v2 → v3: progressing\.applying \(batch 2\/3\)$/);
    expect(lines[2]).toMatch(/host-1 serves v2$/);
    expect(lines[3]).toMatch(/host-1 serves v3 \(was v2, batch 1\)$/);
    expect(lines[4]).toMatch(/rollout v2 → v3: rolledBack \(address in use\)$/);
  });

  it('redraws one block in place on a terminal', () => {
    const out = capture(true);
    const progress = createProgress(out);
    progress.host({ id: 'host-1', state: 'running', version: 'v1', batch: null });
    progress.note('first');
    progress.note('second');
    progress.stop();

    // Each note clears the block drawn before it (cursor up N lines, erase), prints, and draws again.
    expect(out.text).toContain('\x1b[2F\x1b[J');
    expect(out.text.indexOf('first')).toBeLessThan(out.text.indexOf('second'));
    expect(out.text).toContain('host-1');
  });
});

describe('demo pause figures', () => {
  it('merges the pause histograms of several gates into p50, p99 and an exact max', async () => {
    let now = 0;
    const gates = [new Gate({ componentId: 'a', now: () => now }), new Gate({ componentId: 'b', now: () => now })];
    const pauseFor = async (gate: Gate, ms: number) => {
      await gate.pause();
      now += ms;
      gate.resume();
    };
    for (const ms of [1, 2, 3, 4]) await pauseFor(gates[0] as Gate, ms);
    for (const ms of [5, 40]) await pauseFor(gates[1] as Gate, ms);

    const figures = pauseFigures(gates);
    expect(figures.count).toBe(6);
    expect(figures.max).toBe(40);
    // Bucket bounds are within ~25% above the sample: the 3rd of 6 pauses is 3 ms.
    expect(figures.p50).toBeGreaterThanOrEqual(3);
    expect(figures.p50).toBeLessThan(3.75);
    expect(figures.p99).toBe(40);
    expect(pauseFigures([])).toEqual({ count: 0, p50: 0, p99: 0, max: 0 });
  });
});
