import { execFile } from 'node:child_process';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createActor, setup, toPromise } from 'xstate';
import { describe, expect, it } from 'vitest';
import { isCutoverError } from '../../src/errors';
import { createInspector } from '../../src/inspect/createInspector';
import { inspectFromFlag } from '../../src/inspect/inspectFromFlag';
import { startRecordingServer } from './wsServer';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const child = fileURLToPath(new URL('./children/inspectWithoutListener.ts', import.meta.url));

/** Runs the child; a child that has not exited by itself after `limitMs` is killed and reported. */
function runChild(
  args: string[],
  limitMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', child, ...args],
      { cwd: repoRoot, timeout: limitMs },
      (error, stdout, stderr) => {
        const killed = error !== null && 'killed' in error && error.killed === true;
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr, killed });
      },
    );
  });
}

const doorway = setup({}).createMachine({
  id: 'inspected',
  initial: 'closed',
  states: { closed: { on: { 'door.open': 'open' } }, open: { on: { 'door.close': 'gone' } }, gone: { type: 'final' } },
});

type Msg = {
  type?: string;
  event?: { type?: string };
  snapshot?: { value?: unknown };
  name?: string;
  definition?: string;
};
const msg = (m: unknown): Msg => (typeof m === 'object' && m !== null ? (m as Msg) : {});

describe('createInspector', () => {
  it('lets a process exit by itself when nobody listens, with at most one hint on stderr', async () => {
    const run = await runChild([]);
    expect(run.killed, `the child did not exit by itself; stderr:\n${run.stderr}`).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('finished\n');
    const hints = run.stderr.split('\n').filter((l) => l.includes('no inspector at'));
    expect(hints.length).toBeLessThanOrEqual(1);
    expect(run.stderr.trim().split('\n').filter(Boolean).length).toBe(hints.length);
  });

  it('lets a process exit by itself while its websocket handshake never completes', async () => {
    // A loopback listener that accepts TCP but never answers the upgrade: the connection stays pending.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const run = await runChild([`ws://127.0.0.1:${port}`]);
      expect(run.killed, `the child did not exit by itself; stderr:\n${run.stderr}`).toBe(false);
      expect(run.code).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("streams the actor's registration, events and snapshots to a listening inspector", async () => {
    await using server = await startRecordingServer();
    const inspector = createInspector({ url: server.url, onUnavailable: (m) => expect.fail(m) });
    const actor = createActor(doorway, { inspect: inspector.inspect });
    actor.start();
    actor.send({ type: 'door.open' });
    actor.send({ type: 'door.close' });
    await toPromise(actor);

    const registered = msg(await server.waitFor((m) => msg(m).type === '@xstate.actor' && msg(m).name === 'inspected'));
    expect(JSON.parse(registered.definition ?? '{}')).toMatchObject({ id: 'inspected' });
    await server.waitFor((m) => msg(m).type === '@xstate.event' && msg(m).event?.type === 'door.open');
    await server.waitFor((m) => msg(m).type === '@xstate.snapshot' && msg(m).snapshot?.value === 'open');
    await server.waitFor((m) => msg(m).type === '@xstate.snapshot' && msg(m).snapshot?.value === 'gone');
    const types = server.messages.map((m) => msg(m).type);
    expect(types.indexOf('@xstate.actor')).toBeLessThan(types.indexOf('@xstate.snapshot'));

    inspector.stop();
    await server.clientClosed;
  });

  it('sends nothing after stop', async () => {
    await using server = await startRecordingServer();
    const inspector = createInspector({ url: server.url });
    const first = createActor(doorway, { inspect: inspector.inspect });
    first.start();
    await server.waitFor((m) => msg(m).type === '@xstate.snapshot');
    inspector.stop();
    await server.clientClosed;
    const count = server.messages.length;
    const second = createActor(doorway, { inspect: inspector.inspect });
    second.start();
    second.send({ type: 'door.open' });
    expect(server.messages.length).toBe(count);
  });

  it('does nothing when disabled', async () => {
    const inspector = createInspector({ enabled: false, url: 'not a url' });
    const actor = createActor(doorway, { inspect: inspector.inspect });
    actor.start();
    actor.send({ type: 'door.open' });
    expect(actor.getSnapshot().value).toBe('open');
    inspector.stop();
  });

  it('refuses an address that is not ws:// or wss://', () => {
    for (const url of ['http://localhost:8080', 'localhost:8080', '']) {
      try {
        createInspector({ url });
        expect.fail(`accepted "${url}"`);
      } catch (e) {
        expect(isCutoverError(e) && e.code).toBe('config.invalid');
        expect((e as Error).message).toContain(`"${url}"`);
      }
    }
  });
});

describe('inspectFromFlag', () => {
  it('gives no inspector without the flag or with false', () => {
    expect(inspectFromFlag(undefined)).toBeUndefined();
    expect(inspectFromFlag(false)).toBeUndefined();
    expect(inspectFromFlag('false')).toBeUndefined();
  });

  it('gives an inspector for a bare flag and for a ws:// url', async () => {
    for (const value of [true, '', 'true']) {
      const inspector = inspectFromFlag(value);
      expect(inspector?.inspect).toBeTypeOf('function');
      inspector?.stop();
    }
    await using server = await startRecordingServer();
    const inspector = inspectFromFlag(server.url);
    if (inspector === undefined) return expect.fail('no inspector for a url');
    const actor = createActor(doorway, { inspect: inspector.inspect });
    actor.start();
    await server.waitFor((m) => msg(m).type === '@xstate.actor');
    inspector.stop();
  });

  it('refuses a url of another scheme', () => {
    expect(() => inspectFromFlag('http://localhost:8080')).toThrow(/must start with ws:\/\/ or wss:\/\//);
  });
});
