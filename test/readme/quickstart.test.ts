// The README's NATS quickstart, command by command, as a person types them in a clone of the repository:
// each line runs in its own `bash -c` from the repository root (so `npx cutover` is the built bin), lines
// ending in `&` stay in the background. Only addresses change: the NATS URL is a real nats-server this file
// starts on a free port (the README's `nats-server -js &`), and the two HTTP ports are free ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureModule } from 'cutover/adapters/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { freePort } from '../helpers/registry';
import { BUILD_TIMEOUT_MS, ROOT, ensureBuilt, run } from './builtPackage';
import { readmeBlocks, shellCommands } from './readmeBlocks';

const quickstart = () => {
  const block = readmeBlocks().find((b) => b.section === 'Across machines: NATS' && b.lang === 'sh');
  if (!block) throw new Error('README.md has no sh block under "Across machines: NATS"');
  return shellCommands(block.code);
};

/** A background command of the quickstart, killed (with its process group) in afterAll. */
interface Background {
  command: string;
  child: ChildProcess;
  output(): string;
}

describe('README NATS quickstart', () => {
  let server: NatsServerHandle;
  const background: Background[] = [];
  const ports = { h1: 0, h2: 0 };
  /** What the commands printed, in order, for a failure message. */
  const transcript: string[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    server = await startNatsServer();
    ports.h1 = await freePort();
    ports.h2 = await freePort();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(
      background.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            // The whole group: bash and the `npx`/node process it started.
            if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
          }),
      ),
    );
    await server?.[Symbol.asyncDispose]();
  }, 30_000);

  /** The command with this machine's addresses in place of the README's. */
  const local = (command: string) =>
    command
      .replaceAll('nats://127.0.0.1:4222', server.url)
      .replaceAll('127.0.0.1:8081', `127.0.0.1:${ports.h1}`)
      .replaceAll('127.0.0.1:8082', `127.0.0.1:${ports.h2}`);

  const startBackground = (command: string): Background => {
    const child = spawn('bash', ['-c', command], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
    const started = { command, child, output: () => text };
    background.push(started);
    return started;
  };

  const waitForLine = async (bg: Background, pattern: RegExp, timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(bg.output())) {
      if (bg.child.exitCode !== null) throw new Error(`"${bg.command}" exited:\n${bg.output()}`);
      if (Date.now() > until) throw new Error(`"${bg.command}" did not print ${pattern}:\n${bg.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('ships the example wasm built from the fixtures, and manifests that point at it', () => {
    for (const v of ['v1', 'v2'] as const) {
      expect(new Uint8Array(readFileSync(join(ROOT, 'examples/hello', `${v}.wasm`)))).toEqual(fixtureModule(v));
      expect(readFileSync(join(ROOT, 'examples/hello', `hello.${v}.wadm.yaml`), 'utf8')).toContain(
        `image: file://./examples/hello/${v}.wasm`,
      );
    }
  });

  it('deploys the hello app on two hosts, canaries v2 on one, and undo brings v1 back everywhere', async () => {
    const commands = quickstart();
    expect(commands[0]).toEqual({ command: 'nats-server -js', background: true, comment: '' });
    for (const { command: typed, background: inBackground, comment } of commands.slice(1)) {
      const command = local(typed);
      if (inBackground) {
        // orchestrator and hosts print "… ready" once they serve.
        await waitForLine(startBackground(command), /\bready\b/, 60_000);
        transcript.push(`$ ${typed} &`);
        continue;
      }
      const untilPaused = comment.startsWith('again until it says paused');
      const deadline = Date.now() + 60_000;
      for (;;) {
        const result = await run('bash', ['-c', command], ROOT, 120_000);
        transcript.push(`$ ${typed}\n${result.output}`);
        const context = `${transcript.join('\n')}\n--- background ---\n${background.map((b) => b.output()).join('\n')}`;
        expect(result.code, context).toBe(0);
        if (command.startsWith('curl')) {
          // The comment says what the reply is: `v1:hi`, `v2:hi`.
          expect(result.stdout, context).toBe(comment.split(' ')[0]);
        }
        if (!untilPaused || /paused/.test(result.stdout)) break;
        expect(Date.now() < deadline, `the canary never paused:\n${context}`).toBe(true);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // The story the commands told: v1 completed, the canary paused on h1 (v2), undo rolled it back.
    const log = transcript.join('\n');
    expect(log).toMatch(/rollout \S+ completed/);
    expect(log).toMatch(/paused/);
    // The `get` output the README shows is what `get` printed here, apart from ids and times.
    const shown = readmeBlocks().find((b) => b.section === 'Across machines: NATS' && b.lang === '');
    const steady = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => line.replace(/\br[a-z0-9]{14}\b/g, 'ID').replace(/\d\d:\d\d:\d\d/g, 'T'));
    const printed = steady(log);
    for (const line of steady(shown?.code ?? '').slice(0, 4)) expect(printed, log).toContain(line);
    console.log(transcript.join('\n'));
  }, 300_000);
});
