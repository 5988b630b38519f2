// The CLI's contract with people and scripts, as real `cutover` processes (no lattice needed): help on every
// command, did-you-mean, usage errors as one line with exit 2, no stack for a bad input file, `--version`,
// quiet when the reader of its output goes away, and Ctrl-C on the demo exits 130.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CommandSpec, helpText } from '../../src/cli/args';
import { type CommandModule, commands } from '../../src/cli/commands';
import { CLI_COMMAND, CLI_ROOT, runCli, startCli } from '../e2e/cliProcess';
import { corpusText } from '../fixtures/manifests';

const NAMES = Object.keys(commands);
const STACK = /\n\s+at .+\(|node:internal|YAMLParseError/;

/** Runs a command in this process, capturing what it writes to stdout. */
async function captured(fn: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await fn(), stdout };
  } finally {
    process.stdout.write = write;
  }
}

describe('cutover CLI usage', () => {
  it('answers --help and -h on every command and subcommand with its usage and exit 0', async () => {
    type Documented = CommandModule & {
      spec: CommandSpec;
      subcommands?: Record<string, CommandModule & { spec: CommandSpec }>;
    };
    for (const name of NAMES) {
      const mod = (await commands[name]?.load()) as Documented;
      for (const flag of ['--help', '-h']) {
        const out = await captured(() => mod.run([flag]));
        expect(out.code, `${name} ${flag}`).toBe(0);
        expect(out.stdout, `${name} ${flag}`).toMatch(new RegExp(`^usage: cutover ${name}`));
        for (const [sub, command] of Object.entries(mod.subcommands ?? {})) {
          const subOut = await captured(() => command.run([flag]));
          expect(subOut.code, `${name} ${sub} ${flag}`).toBe(0);
          expect(subOut.stdout).toBe(helpText(command.spec));
        }
      }
    }
    // The same through the real `cutover` process (main's dispatch is the same for every command).
    const runs = await Promise.all([
      runCli(['get', '--help']),
      runCli(['set', 'image', '-h']),
      runCli(['deploy', '-h']),
      runCli(['--help']),
    ]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(runs[0]?.stdout).toContain('--watch');
    expect(runs[1]?.stdout).toMatch(/^usage: cutover set image APP COMPONENT IMAGE/);
    expect(runs[2]?.stdout).toContain('--timeout DUR');
    for (const name of NAMES) expect(runs[3]?.stdout).toContain(`  ${name} `);
  }, 120_000);

  it('suggests the near command or option for a typo, in one line, with exit 2', async () => {
    const [command, option, sub, none] = await Promise.all([
      runCli(['staus', 'shop']),
      runCli(['deploy', 'app.yaml', '--wiat']),
      runCli(['set', 'imag', 'shop', 'api', 'x']),
      runCli([]),
    ]);
    expect(command.code).toBe(2);
    expect(command.stderr).toBe('cutover: unknown command "staus" (did you mean "status"?) (see: cutover --help)\n');
    expect(option.code).toBe(2);
    expect(option.stderr.split('\n')[0]).toBe('cutover deploy: unknown option "--wiat" (did you mean --wait?)');
    expect(sub.code).toBe(2);
    expect(sub.stderr.split('\n')[0]).toBe('cutover set: unknown subcommand "imag" (did you mean "image"?)');
    expect(none.code).toBe(2);
    for (const run of [command, option, sub, none]) expect(run.stderr).not.toMatch(STACK);
  }, 60_000);

  it('refuses missing arguments and bad values as usage errors naming them, never with node’s parser message', async () => {
    const [missing, value, duration, extra] = await Promise.all([
      runCli(['status']),
      runCli(['host', '--id']),
      runCli(['deploy', 'x.yaml', '--wait', '--timeout', 'soon']),
      runCli(['list', 'extra']),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^cutover status: missing APP\nusage: cutover status APP/);
    expect(value.code).toBe(2);
    expect(value.stderr).toMatch(/^cutover host: --id needs a value\n/);
    expect(duration.code).toBe(2);
    expect(duration.stderr).toMatch(/^cutover deploy: --timeout "soon" is not a duration/);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^cutover list: unexpected argument "extra"/);
    for (const run of [missing, value, duration, extra]) {
      expect(run.stderr).not.toMatch(/ERR_PARSE_ARGS|TypeError/);
      expect(run.stderr).not.toMatch(STACK);
    }
  }, 60_000);

  it('prints the same clear message for a bad strategy file in deploy as plan does, with no stack', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cutover-cli-'));
    const manifest = join(dir, 'app.yaml');
    const strategy = join(dir, 'bad.json');
    await writeFile(manifest, corpusText('wadm__tests__fixtures__manifests__outdatedapp.yaml'));
    await writeFile(strategy, '{ "type": "rolling", ');
    const [plan, deploy, missing] = await Promise.all([
      runCli(['plan', manifest, '--strategy', strategy]),
      runCli(['deploy', manifest, '--strategy', strategy, '--nats', 'nats://127.0.0.1:1']),
      runCli(['deploy', manifest, '--strategy', join(dir, 'absent.json'), '--nats', 'nats://127.0.0.1:1']),
    ]);
    const message = (stderr: string) => stderr.replace(/^cutover( plan)?: /, '').split('\n')[0];
    expect(plan.code).toBe(2);
    expect(deploy.code).toBe(2);
    expect(message(deploy.stderr)).toBe(message(plan.stderr));
    expect(message(deploy.stderr)).toMatch(/^strategy\.invalid: ".*bad\.json" is not JSON or YAML: /);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read strategy ".*absent\.json"/);
    for (const run of [plan, deploy, missing]) expect(run.stderr).not.toMatch(STACK);
  }, 60_000);

  it('prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    expect(run).toEqual({ code: 0, stdout: `cutover ${pkg.version}\n`, stderr: '' });
  }, 30_000);

  it('ends quietly when the reader of its output goes away (| head -1)', async () => {
    const piped = await shell(`${CLI_COMMAND} diagram rollout | head -1; ${CLI_COMMAND} --help | head -1`);
    expect(piped.stdout).toBe('stateDiagram-v2\nusage: cutover <command> [options]\n');
    expect(piped.stderr).toBe('');
    // A reader that is gone before the first write: every write fails with EPIPE.
    const closed = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'diagram', 'component'], {
        cwd: CLI_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
      });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    expect(closed.stderr).not.toMatch(/EPIPE|Error/);
    expect(closed.code).toBe(0);
  }, 60_000);

  it('exits 130 on Ctrl-C during the demo, leaving whole lines', async () => {
    const demo = startCli('demo', ['demo', '--hosts', '2', '--rate', '50']);
    await demo.waitFor(/install|rollout/, 90_000);
    const exit = await demo.kill('SIGINT');
    expect(exit.code, demo.output()).toBe(130);
    expect(demo.output()).toContain('cutover demo: interrupted');
    expect(demo.output()).not.toMatch(STACK);
    expect(demo.output().endsWith('\n')).toBe(true);
  }, 120_000);
});

function shell(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd: CLI_ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
