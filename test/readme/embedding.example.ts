// The README's "Embedding" example: the lines between the markers are the README's block, verbatim
// (test/readme/readme.test.ts checks that), and the test runs this file as its own process with tsx against
// the built package, as a user would: `npx tsx rollout.ts` in a project with "type": "module".
// example:start
import { createHost, createOrchestrator } from 'cutover';
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';

const bus = createMemoryBus();
const [text, utf8] = [new TextEncoder(), new TextDecoder()];
const runtime = createMemoryRuntime(); // stands in for cutover/adapters/wasm: same port, no wasm needed
runtime.publish('mem://greeter:1', {
  version: '1',
  operations: { greet: (p) => text.encode(`v1 ${utf8.decode(p)}`) },
});
runtime.publish('mem://greeter:2', {
  version: '2',
  operations: { greet: (p) => text.encode(`v2 ${utf8.decode(p)}`) },
});

// `await using` closes both at the end of the script (tsx compiles it for Node 20).
await using host = await createHost({ hostId: 'host-1', lattice: 'default', transport: bus.connect(), runtime });
await using orchestrator = await createOrchestrator({
  lattice: 'default',
  transport: bus.connect(),
  store: createMemoryStore(),
});

// A wadm (OAM) application manifest; an AppRevision object works too.
const manifest = (image: string) => `
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: shop }
spec:
  components:
    - name: greeter
      type: component
      properties: { image: '${image}', id: greeter }
      traits: [{ type: daemonscaler, properties: { instances: 1 } }]
`;
await (await orchestrator.deploy(manifest('mem://greeter:1'))).done;
const rollout = await orchestrator.deploy(manifest('mem://greeter:2'), {
  strategy: { type: 'rolling', maxParallel: 1 },
});
rollout.subscribe((view) => console.log(view.state)); // preparing.suspendingScalers, progressing.applying, …
console.log(await rollout.done); // { outcome: 'completed', … } — or 'rolledBack' with the reason
console.log(utf8.decode(await host.invoke('greeter', 'greet', text.encode('hi')))); // v2 hi
// example:end
