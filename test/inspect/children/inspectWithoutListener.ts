// Child process for createInspector.test.ts: inspects a short actor run while nobody listens at the
// URL given as argv[2] (or at a port that was just closed), never calls stop(), and must exit by itself.
import { type AddressInfo, createServer } from 'node:net';
import { createActor, setup, toPromise } from 'xstate';
import { createInspector } from '../../../src/inspect/createInspector';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const url = process.argv[2] ?? `ws://127.0.0.1:${await closedPort()}`;
const inspector = createInspector({ url });
const machine = setup({}).createMachine({
  id: 'unwatched',
  initial: 'idle',
  states: {
    idle: { on: { go: 'waiting' } },
    waiting: { after: { 50: 'done' } },
    done: { type: 'final' },
  },
});
const actor = createActor(machine, { inspect: inspector.inspect });
actor.start();
for (let i = 0; i < 20; i++) actor.send({ type: 'noise' });
actor.send({ type: 'go' });
await toPromise(actor);
process.stdout.write('finished\n');
