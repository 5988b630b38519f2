// `cutover auth render` end to end: the rendered config runs a real nats-server, and real `cutover host` and
// `cutover orchestrator` processes connect with the rendered credentials files (`--creds`), each with its own
// inbox prefix, and serve: a client with its credentials gets coded API answers and host inventories.
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClient, encode, subjects } from 'cutover';
import { createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { killAll, runCli, startCli } from './cliProcess';

const lattice = 'rendered';
/** A rendered credentials file. */
interface Creds {
  user: string;
  password: string;
  inboxPrefix: string;
}
let server: NatsServerHandle | undefined;
afterAll(async () => {
  await killAll();
  await server?.[Symbol.asyncDispose]();
});

describe('cutover auth render', () => {
  it('prints a server config and per-role credentials with no allow_responses', async () => {
    const run = await runCli(['auth', 'render', '--lattice', lattice, '--hosts', 'h1,h2']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('authorization {');
    expect(run.stdout).not.toContain('allow_responses');
    expect(run.stdout).toMatch(/^host host-h1 \S{20,} _INBOX\.host\.h1$/m);
    expect(run.stdout).toMatch(/^client cli \S{20,} _INBOX\.client\.cli$/m);
  });

  it('writes files that real host and orchestrator processes connect with, each confined to its role', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cutover-auth-'));
    const run = await runCli(['auth', 'render', '--lattice', lattice, '--hosts', 'h1', '--out', dir]);
    expect(run.code).toBe(0);
    server = await startNatsServer({ config: await readFile(join(dir, 'auth.conf'), 'utf8') });
    const nats = ['--nats', server.url, '--lattice', lattice];
    const host = startCli('h1', [
      'host',
      ...nats,
      '--id',
      'h1',
      '--heartbeat-ms',
      '0',
      '--creds',
      join(dir, 'host-h1.creds'),
    ]);
    const orchestrator = startCli('orchestrator', [
      'orchestrator',
      ...nats,
      '--creds',
      join(dir, 'orchestrator.creds'),
    ]);
    await host.waitFor(/^host h1 ready/, 30_000);
    await orchestrator.waitFor(/^orchestrator ready/, 30_000);

    const cli = JSON.parse(await readFile(join(dir, 'cli.creds'), 'utf8')) as Creds;
    const nc = await server.connect({ user: cli.user, pass: cli.password, inboxPrefix: cli.inboxPrefix });
    const client = createNatsTransport(nc, { inboxPrefix: cli.inboxPrefix });
    const api = createApiClient(client, { lattice, timeoutMs: 10_000 });
    expect(await api.status('nothing-here')).toMatchObject({ app: 'nothing-here', phase: 'unknown' });
    await expect(api.status('a.b')).rejects.toMatchObject({ code: 'message.invalid' });
    // A client may not ask hosts directly; the orchestrator's credentials may, and the host answers into its inbox.
    await expect(
      client.request(subjects.inventory(lattice, 'h1'), encode({ type: 'host.inventory' }), { timeoutMs: 1_000 }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^transport\./) });
    const orch = JSON.parse(await readFile(join(dir, 'orchestrator.creds'), 'utf8')) as Creds;
    const onc = await server.connect({ user: orch.user, pass: orch.password, inboxPrefix: orch.inboxPrefix });
    const replies = await createNatsTransport(onc, { inboxPrefix: orch.inboxPrefix }).requestMany(
      subjects.hostsPing(lattice),
      encode({ type: 'host.inventory' }),
      { maxWaitMs: 5_000, expected: 1 },
    );
    expect(JSON.parse(new TextDecoder().decode(replies[0]))).toMatchObject({
      type: 'host.inventory.reply',
      inventory: { hostId: 'h1' },
    });
  }, 90_000);
});
