import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKET_NAMES, buckets } from 'cutover';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { describeStoreContract } from './storeContract';
import { describeTransportContract } from './transportContract';

// One real server for the file; the contract suites run unchanged against it.
let server: NatsServerHandle;
let admin: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  admin = await server.connect();
});
afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
});

describeTransportContract('nats', async () => {
  const [ncA, ncB] = await Promise.all([server.connect(), server.connect()]);
  const a = createNatsTransport(ncA);
  const b = createNatsTransport(ncB);
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([ncA.close(), ncB.close()]);
    },
  };
});

let lattices = 0;
describeStoreContract('nats', async () => {
  // A fresh lattice per test is a fresh set of buckets; dispose deletes their streams.
  const lattice = `contract${++lattices}`;
  const nc = await server.connect();
  const store = createNatsStore(nc, { lattice });
  return {
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await nc.close();
      const jsm = await jetstreamManager(admin);
      for (const bucket of BUCKET_NAMES) {
        await jsm.streams.delete(`KV_${buckets[bucket](lattice)}`).catch(() => false);
      }
    },
  };
});
