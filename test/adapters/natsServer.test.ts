import { existsSync } from 'node:fs';
import { createNatsStore } from 'cutover/adapters/nats';
import { isCutoverError } from 'cutover';
import { describe, expect, it } from 'vitest';
import { NATS_INSTALL_HINT, startNatsServer } from '../helpers/natsServer';

describe('startNatsServer', () => {
  it('fails with the exact install command when the binary is missing', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toThrow(NATS_INSTALL_HINT);
    expect(NATS_INSTALL_HINT).toBe('apt-get update && apt-get install -y nats-server');
  });

  it('requires the configured users when given users', async () => {
    await using server = await startNatsServer({
      jetstream: false,
      users: [{ user: 'orchestrator', password: 's3cret' }],
    });
    const nc = await server.connect({ user: 'orchestrator', pass: 's3cret' });
    expect(nc.isClosed()).toBe(false);
    await expect(server.connect({ reconnect: false })).rejects.toThrow(/authorization/i);
  });

  it('restarts on the same port with the same JetStream store, and removes its files on dispose', async () => {
    let dir: string;
    {
      await using server = await startNatsServer();
      dir = server.dir;
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
      const nc = await server.connect({ reconnectTimeWait: 50, maxReconnectAttempts: -1 });
      const store = createNatsStore(nc, { lattice: 'restart', timeoutMs: 1_000 });
      const revision = await store.put('cutover', 'kept', { n: 1 });
      const { port, pid } = server;
      await server.restart();
      expect(server.port).toBe(port);
      expect(server.pid).not.toBe(pid);
      expect(server.running).toBe(true);
      // JetStream recovers its streams after the restart; until then calls fail as retryable.
      let entry: Awaited<ReturnType<typeof store.get>> | undefined;
      while (entry === undefined) {
        try {
          entry = await store.get('cutover', 'kept');
        } catch (err) {
          if (!isCutoverError(err) || !err.retryable) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      expect(entry).toEqual({ key: 'kept', value: { n: 1 }, revision });
    }
    expect(existsSync(dir)).toBe(false);
  });
});
