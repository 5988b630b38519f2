// A process that embeds cutover, for test/orchestrator/processLifetime.test.ts (run with tsx as its own
// process). It never closes the host or the orchestrator on purpose: what ends the process is the event loop
// running dry, so the test sees whether a rollout in flight keeps it alive and an idle cutover does not.
//   rollout  deploy v1, then a rollout to v2 that pauses 1.5 s on a real clock between its batches
//   idle     deploy v1, then do nothing
//   stopped  a rollout held by a manual pause, then the orchestrator closed without awaiting `done`
import { createHost, createOrchestrator } from 'cutover';
import { createMemoryBus, createMemoryRuntime, createMemoryStore } from 'cutover/adapters/memory';

const mode = process.argv[2];
const bus = createMemoryBus();
const runtime = createMemoryRuntime();
for (const v of ['1', '2']) runtime.publish(`mem://app:${v}`, { version: v, operations: { op: (p) => p } });
for (const hostId of ['h1', 'h2']) await createHost({ hostId, lattice: 'l', transport: bus.connect(), runtime });
const orchestrator = await createOrchestrator({ lattice: 'l', transport: bus.connect(), store: createMemoryStore() });
const revision = (v: string) => `
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: app, annotations: { version: v${v} } }
spec:
  components:
    - name: c
      type: component
      properties: { image: 'mem://app:${v}', id: c }
      traits: [{ type: daemonscaler, properties: { instances: 1 } }]
`;
console.log('v1', (await (await orchestrator.deploy(revision('1'))).done).outcome);

if (mode === 'rollout') {
  const rollout = await orchestrator.deploy(revision('2'), {
    strategy: { type: 'rolling', maxParallel: 1, pauseAfterBatch: { durationMs: 1500 } },
  });
  // Nothing but the rollout's own (unref'd) timers is pending while it pauses between batches.
  rollout.done.then((output) => console.log('v2', output.outcome));
} else if (mode === 'stopped') {
  const rollout = await orchestrator.deploy(revision('2'), { strategy: { type: 'canary', steps: [{ pause: {} }] } });
  rollout.done.then((output) => console.log('done settled', output.outcome));
  // Held at the step pause (no duration: it waits for a person's promote).
  const held = (state: string) => state === 'progressing.stepPause';
  await new Promise<void>((resolve) => {
    if (held(rollout.snapshot().state)) resolve();
    rollout.subscribe((view) => held(view.state) && resolve());
  });
  await orchestrator.close();
  console.log('closed with the rollout', rollout.snapshot().state);
} else if (mode === 'idle') {
  console.log('idle');
} else {
  throw new Error(`unknown mode "${mode}"`);
}
