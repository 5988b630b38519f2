// The README's "Your own host" example: the lines between the markers are the README's block, verbatim
// (test/readme/readme.test.ts checks that), and the test runs this file as its own process with tsx against
// the built package.
// example:start
import { ComponentSpec, specHash } from 'cutover';
import { componentMachine } from 'cutover/machines';
import { createActor, fromPromise } from 'xstate';

const instances = new Map<string, string>(); // spec hash → what your runtime instantiated
const actor = createActor(
  componentMachine.provide({
    actors: {
      admit: fromPromise(async () => {}), // refuse here when the host has no room
      fetch: fromPromise(async ({ input }) => {
        console.log('fetching', input.target?.spec.imageRef); // download, check the digest
      }),
      validate: fromPromise(async () => {}), // compile + test-instantiate
      putLinks: fromPromise(async () => ({ at: Date.now(), swaps: 0 })), // links only the new version needs
      pauseGate: fromPromise(async () => {}), // stop dispatching calls, keep buffering them
      swapLink: fromPromise(async () => {}), // move one link from the old instance to the new one
      instantiate: fromPromise(async ({ input }) => {
        instances.set(input.target?.hash ?? '', input.target?.spec.imageRef ?? '');
      }),
      resumeGate: fromPromise(async () => {}), // dispatch the buffered calls, now to the new instance
      restoreLinks: fromPromise(async () => {}), // a failed cut-over puts the old links back
      disposeInstance: fromPromise(async ({ input }) => {
        for (const hash of instances.keys()) if (hash !== input.keep) instances.delete(hash);
      }),
      stop: fromPromise(async () => {}),
      deadline: fromPromise<void, { at: number }>(
        ({ input, signal }) =>
          new Promise((resolve) => {
            const timer = setTimeout(resolve, input.at - Date.now());
            signal.addEventListener('abort', () => clearTimeout(timer));
          }),
      ),
    },
  }),
  { input: { id: 'api' } },
).start();
actor.on('component.applied', (e) => console.log('serving', e.hash, instances.get(e.hash)));
const spec = ComponentSpec.parse({ id: 'api', app: 'shop', imageRef: 'file:///srv/api-v1.wasm' });
actor.send({ type: 'component.apply', spec, hash: specHash(spec), at: Date.now() });
// example:end
