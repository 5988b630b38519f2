import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlanReport, runPlan } from '../../src/cli/commands/plan';
import { CORPUS_DIR } from '../fixtures/manifests';

const OUTDATED = join(CORPUS_DIR, 'wadm__tests__fixtures__manifests__outdatedapp.yaml');
const UPGRADED = join(CORPUS_DIR, 'wadm__tests__fixtures__manifests__upgradedapp.yaml');
const HELLO = join(CORPUS_DIR, 'wasmCloud__examples__rust__components__http-hello-world__wadm.yaml');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function plan(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runPlan(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

async function planJson(...args: string[]): Promise<PlanReport & { ok: true }> {
  const r = await plan(...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as PlanReport & { ok: true };
}

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cutover-plan-'));
  await writeFile(
    file('canary.yaml'),
    [
      'type: canary',
      'hostOrder: { label: zone, values: [canary] }',
      'steps:',
      '  - setHosts: 1',
      '  - pause: { durationMs: 60000 }',
      '  - setHosts: "50%"',
      '  - analysis: { provider: errorRate, count: 3, intervalMs: 10000, failureCondition: { max: 0.01 } }',
      '',
    ].join('\n'),
  );
  await writeFile(
    file('hosts.json'),
    JSON.stringify([
      { id: 'a1', labels: { zone: 'main' } },
      { id: 'a2', labels: { zone: 'main' } },
      { id: 'a3', labels: { zone: 'main' } },
      { id: 'b1', labels: { zone: 'canary' } },
      { id: 'b2', labels: { zone: 'main' } },
      { id: 'b3', labels: { zone: 'main' } },
    ]),
  );
  await writeFile(file('bad-strategy.json'), JSON.stringify({ type: 'rolling', maxParallel: 'lots' }));
  await writeFile(file('blue-green.json'), JSON.stringify({ type: 'blueGreen', keepOldForMs: 60000 }));
  await writeFile(file('blue-green-fallback.json'), JSON.stringify({ type: 'blueGreen', onConflict: 'rolling' }));
  await writeFile(
    file('rolling-two.json'),
    JSON.stringify({ type: 'rolling', maxParallel: '40%', maxUnavailable: '40%' }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cutover plan', () => {
  it('plans a first deploy on five default hosts and says so', async () => {
    const r = await plan(HELLO);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('5 default hosts h1..h5');
    expect(r.stdout).toContain('first deploy');
    expect(r.stdout).toMatch(/h1: install /);
    expect(r.stdout).toContain('none checked: no current revision');
    expect(r.stdout).toContain('timeline (');
  });

  it('shows upgrades, installs and removals of outdatedapp -> upgradedapp with --current', async () => {
    const report = await planJson(UPGRADED, '--current', OUTDATED);
    expect(report.firstDeploy).toBe(false);
    expect(report.fromVersion).not.toBeNull();
    expect(report.fromVersion).not.toBe(report.toVersion);
    const all = report.hosts.flatMap((h) => [
      ...h.install.map((id) => `+${id}`),
      ...h.upgrade.map((id) => `^${id}`),
      ...h.remove.map((id) => `-${id}`),
    ]);
    // upgradedapp adds echo-messaging, bumps dog-fetcher and the http-server, drops kvcounter and redis.
    expect(all).toContain('+updateapp-echo_messaging');
    expect(all).toContain('^updateapp-dog_fetcher');
    expect(all).toContain('^http_server');
    expect(all).toContain('-updateapp-kvcounter');
    expect(all).toContain('-keyvalue_redis');
    expect(all.some((w) => w.startsWith('-') && w.includes('dog_fetcher'))).toBe(false);
    expect(report.conflicts).toEqual([]);
  });

  it('splits a rolling plan into batches by maxParallel and maxUnavailable and draws them on the timeline', async () => {
    const report = await planJson(UPGRADED, '--current', OUTDATED, '--strategy', file('rolling-two.json'));
    // 40% of 5 hosts: maxParallel rounds up to 2, maxUnavailable rounds down to 2.
    expect(report.steps).toEqual([
      { kind: 'batch', hosts: ['h1', 'h2'] },
      { kind: 'batch', hosts: ['h3', 'h4'] },
      { kind: 'batch', hosts: ['h5'] },
    ]);
    const text = (await plan(UPGRADED, '--current', OUTDATED, '--strategy', file('rolling-two.json'))).stdout;
    expect(text).toContain('  step   h1 h2 h3 h4 h5');
    expect(text).toContain('  1      ## ## .. .. ..');
    expect(text).toContain('  2      == == ## ## ..');
    expect(text).toContain('  3      == == == == ##');
  });

  it('resolves canary percentages against the hosts file, canary zone first', async () => {
    const report = await planJson(
      UPGRADED,
      '--current',
      OUTDATED,
      '--strategy',
      file('canary.yaml'),
      '--hosts',
      file('hosts.json'),
    );
    expect(report.defaultHosts).toBe(false);
    expect(report.strategy).toBe('canary');
    expect(report.steps).toEqual([
      { kind: 'batch', hosts: ['b1'], target: 1 },
      { kind: 'pause', durationMs: 60000 },
      // 50% of 6 hosts is 3: two more after the canary host.
      { kind: 'batch', hosts: ['a1', 'a2'], target: 3 },
      { kind: 'analysis', provider: 'errorRate', count: 3, intervalMs: 10000 },
      { kind: 'batch', hosts: ['a3', 'b2', 'b3'], target: 6 },
    ]);
    const text = (
      await plan(UPGRADED, '--current', OUTDATED, '--strategy', file('canary.yaml'), '--hosts', file('hosts.json'))
    ).stdout;
    expect(text).toContain('b1 [zone=canary]');
    expect(text).toContain('2. pause 1m');
    expect(text).toContain('~ pause 1m');
    expect(text).toContain('? analysis errorRate x3 every 10s');
  });

  it('prints a canary in the order it runs: background analysis, pause, then the analysis after it', async () => {
    await writeFile(
      file('canary-background.json'),
      JSON.stringify({
        type: 'canary',
        hostOrder: { label: 'zone', values: ['canary'] },
        maxUnavailable: 2,
        steps: [
          { setHosts: 1 },
          { pause: { durationMs: 60000 } },
          { analysis: { provider: 'errorRate', count: 2, intervalMs: 5000, failureCondition: { max: 0.01 } } },
          { setHosts: '100%' },
        ],
        backgroundAnalysis: {
          provider: 'latencyP99',
          intervalMs: 30000,
          startingStep: 1,
          failureCondition: { max: 50 },
        },
      }),
    );
    const args = ['--current', OUTDATED, '--strategy', file('canary-background.json'), '--hosts', file('hosts.json')];
    const report = await planJson(UPGRADED, ...args);
    expect(report.steps).toEqual([
      { kind: 'batch', hosts: ['b1'], target: 1 },
      // startingStep 1 is the pause: background analysis starts once the canary host is verified.
      { kind: 'backgroundAnalysis', provider: 'latencyP99', intervalMs: 30000 },
      { kind: 'pause', durationMs: 60000 },
      { kind: 'analysis', provider: 'errorRate', count: 2, intervalMs: 5000 },
      // maxUnavailable 2: the other five hosts move two at a time.
      { kind: 'batch', hosts: ['a1', 'a2'], target: 3 },
      { kind: 'batch', hosts: ['a3', 'b2'], target: 5 },
      { kind: 'batch', hosts: ['b3'], target: 6 },
    ]);
    const text = (await plan(UPGRADED, ...args)).stdout;
    expect(text).toContain('2. background analysis latencyP99 every 30s until the end');
  });

  it('skips canary steps on a first deploy but keeps the hosts', async () => {
    const report = await planJson(UPGRADED, '--strategy', file('canary.yaml'), '--hosts', file('hosts.json'));
    expect(report.firstDeploy).toBe(true);
    expect(report.steps).toEqual([{ kind: 'batch', hosts: ['b1', 'a1', 'a2', 'a3', 'b2', 'b3'], target: 6 }]);
  });

  it('refuses a bad strategy file with strategy.invalid naming the field', async () => {
    const r = await plan(UPGRADED, '--strategy', file('bad-strategy.json'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('strategy.invalid');
    expect(r.stderr).toContain('maxParallel');
  });

  it('refuses a blue-green plan whose http-server keeps its address, naming address, versions and hosts', async () => {
    const r = await plan(UPGRADED, '--current', OUTDATED, '--strategy', file('blue-green.json'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('plan.conflict');
    expect(r.stderr).toContain('address 0.0.0.0:8081');
    expect(r.stderr).toContain('http_server/wasi:http/dog');
    const json = JSON.parse(
      (await plan(UPGRADED, '--current', OUTDATED, '--strategy', file('blue-green.json'), '--json')).stdout,
    );
    const report = await planJson(UPGRADED, '--current', OUTDATED);
    expect(json).toMatchObject({ ok: false, code: 'plan.conflict' });
    expect(json.message).toContain(`"${report.fromVersion}"`);
    expect(json.message).toContain(`"${report.toVersion}"`);
    expect(json.message).toContain('"h1", "h2", "h3", "h4", "h5"');
  });

  it('falls back to rolling with onConflict rolling and reports the avoided conflict', async () => {
    const report = await planJson(UPGRADED, '--current', OUTDATED, '--strategy', file('blue-green-fallback.json'));
    expect(report.fallback).toContain('address 0.0.0.0:8081');
    expect(report.conflicts.map((c) => c.resource)).toEqual(['address 0.0.0.0:8081']);
    expect(report.steps.every((s) => s.kind === 'batch')).toBe(true);
  });

  it('plans a blue-green standby with preview hosts and a promotion when nothing contends', async () => {
    const v1 = join(CORPUS_DIR, 'wasmCloud__crates__wash__tests__fixtures__wadm__component-only.wadm.yaml');
    const v2 = file('component-only-v2.yaml');
    await writeFile(
      v2,
      (await readFile(v1, 'utf8')).replace('http-hello-world-rust:0.1.0', 'http-hello-world-rust:0.2.0'),
    );
    await writeFile(
      file('blue-green-preview.json'),
      JSON.stringify({ type: 'blueGreen', previewHosts: 1, autoPromote: false }),
    );
    const report = await planJson(v2, '--current', v1, '--strategy', file('blue-green-preview.json'));
    expect(report.steps).toEqual([
      { kind: 'standby', hosts: ['h1'], previewHosts: ['h1'] },
      { kind: 'pause' },
      { kind: 'promote', keepOldForMs: 30000, auto: false },
    ]);
    const text = (await plan(v2, '--current', v1, '--strategy', file('blue-green-preview.json'))).stdout;
    expect(text).toContain('1. standby h1 (preview on h1)');
    expect(text).toContain('2. pause until resume or promote');
    expect(text).toContain('3. promote every standby at once (after rollout.promote), keep old 30s');
    expect(text).toContain('  1      ss .. .. .. ..');
    // The same revision again: nothing to apply, so no standby and no promotion.
    expect((await planJson(v1, '--current', v1, '--strategy', file('blue-green.json'))).steps).toEqual([]);
  });

  it('installs a first blue-green deploy in plain batches (nothing to stand beside)', async () => {
    const report = await planJson(UPGRADED, '--strategy', file('blue-green.json'));
    expect(report.firstDeploy).toBe(true);
    expect(report.steps).toEqual([{ kind: 'batch', hosts: ['h1', 'h2', 'h3', 'h4', 'h5'] }]);
  });

  it('exits 2 on usage errors', async () => {
    expect((await plan()).code).toBe(2);
    expect((await plan(HELLO, '--strategy')).code).toBe(2);
    expect((await plan(HELLO, '--bogus')).code).toBe(2);
    expect((await plan(HELLO, HELLO)).code).toBe(2);
    const missing = await plan(join(dir, 'absent.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('absent.yaml');
  });

  it('runs as a real child process through the cutover dispatcher', async () => {
    const exec = promisify(execFile);
    const ok = await exec(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'plan', UPGRADED, '--current', OUTDATED],
      {
        cwd: join(__dirname, '../..'),
      },
    );
    expect(ok.stdout).toContain('plan for app updateapp');
    expect(ok.stdout).toContain('timeline (');
    const refused = await exec(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'plan',
        UPGRADED,
        '--current',
        OUTDATED,
        '--strategy',
        file('blue-green.json'),
      ],
      { cwd: join(__dirname, '../..') },
    ).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain('plan.conflict');
  });
});
