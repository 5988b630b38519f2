/**
 * The host agent, wired from its parts. `createHost` builds each part with the state and the other parts it
 * calls, and holds no behaviour of its own beyond the order of `stop`. Each part is one file (see its header):
 *   slots.ts               one workload's actor, gate and instances (prepared ones too)
 *   effects/component.ts   what a component does in each machine effect
 *   effects/provider.ts    what a provider does in each machine effect (link moves under paused gates)
 *   effects/machine.ts     the component machine bound to those effects, once per process
 *   links.ts               provider link calls, their timeouts, links parked until their provider serves
 *   cutover.ts             the gate-closed run of a component cut-over
 *   invoke.ts              local calls through the gate or to a standby; rpc and preview subscriptions
 *   control.ts             control subjects: decode, fence, dispatch, replies; `host.apply`
 *   fencing.ts             the lease token held per app: the one token check
 *   reports.ts             outcomes, component.changed, inventory, heartbeats
 *   context.ts, types.ts   what every part reads; the public types
 */
import { observeHost } from '../observability/telemetry';
import { CutoverError } from '../errors';
import { systemClock } from '../ports/clock';
import type { ProviderContext } from '../ports/provider';
import type { HostContext } from './context';
import { Control } from './control';
import { Cutover } from './cutover';
import { componentEffects } from './effects/component';
import type { Effects } from './effects/machine';
import { providerEffects } from './effects/provider';
import { Fencing } from './fencing';
import { Invocations } from './invoke';
import { Links } from './links';
import { Reports, startHeartbeats } from './reports';
import { Slots } from './slots';
import type { Host, HostOptions } from './types';

export type { Host, HostOptions, HostOutcome, InvokeOptions } from './types';

/**
 * Starts a host agent: one component actor per component or provider, an invocation gate per component,
 * the control subjects of docs/wire.md on `transport`, reports and heartbeats on the host event subject.
 * @example
 * await using host = await createHost({ hostId: 'h1', lattice: 'default', transport, runtime })
 * await host.apply(componentSpec)
 * const reply = await host.invoke('api', 'handle', new TextEncoder().encode('hi'))
 */
export async function createHost(options: HostOptions): Promise<Host> {
  const { hostId, lattice, transport, runtime } = options;
  const ctx: HostContext = {
    hostId,
    lattice,
    transport,
    runtime,
    clock: options.clock ?? systemClock,
    options,
    stopped: false,
  };
  const fencing = new Fencing(hostId);
  // The hooks run only once a slot exists (after this function returned), when every part below is built.
  const slots: Slots = new Slots(ctx, {
    // Built on the first provider slot: most hosts run no provider, and a table is ~1 KB per host.
    effects: (kind) =>
      kind === 'component'
        ? forComponents
        : (forProviders ??= providerEffects({ ctx, slots, links, reports, providerContext })),
    emitted: (slot, e) => reports.emitted(slot, e),
    snapshot: (slot, snap) => {
      // While this slot holds its gate closed the report waits for the reopening (`changed` is called right
      // after resume), so building and encoding the inventory never lengthens the pause.
      if (!slot.pauseHeld) reports.changed(slot);
      invocations.followPreview(slot, snap);
    },
  });
  const reports = new Reports(ctx, slots, fencing);
  const links = new Links(ctx, slots);
  // Calls from the transport and from providers enter through the public `host.invoke`, like local ones.
  const invocations = new Invocations(ctx, slots, (componentId, operation, payload, invokeOptions) =>
    host.invoke(componentId, operation, payload, invokeOptions),
  );
  const cutover = new Cutover(ctx, slots, links, reports);
  const providerContext: ProviderContext = {
    hostId,
    lattice,
    invoke: (componentId, operation, payload) => host.invoke(componentId, operation, payload),
    mapAddress: links.mapAddress,
  };
  const forComponents = componentEffects({ ctx, slots, links, cutover, invocations });
  let forProviders: Effects | undefined;
  const control = new Control(ctx, slots, fencing, reports);
  control.listen();
  const stopHeartbeats = startHeartbeats(ctx, reports);
  // Gate figures as OpenTelemetry observables: read only when an SDK's reader collects.
  const stopObserving = observeHost(() => reports.inventory());

  const stop = async () => {
    if (ctx.stopped) return;
    ctx.stopped = true;
    stopHeartbeats();
    stopObserving();
    // Reports still waiting for the end of the tick go out while the transport is open.
    reports.flush();
    // Close every gate BEFORE leaving the invocation subjects: a call the transport already delivered to this
    // host is then refused with a coded `host.lost` reply (the caller retries elsewhere) instead of vanishing
    // with the subscription. The flush lets everything delivered so far reach the closed gates first.
    // Draining (where the transport can) also answers what the server routed here before it saw us leave.
    const lost = new CutoverError('host.lost', `host "${hostId}" is stopping`, { hostId });
    const draining = [...slots.values()].map((slot) => slot.gate?.close(lost));
    await transport.flush().catch(() => undefined);
    control.close();
    await invocations.leave();
    await transport.flush().catch(() => undefined);
    await Promise.all(draining);
    await slots.dispose();
  };

  const host: Host = {
    hostId,
    lattice,
    invoke: (componentId, operation, payload, invokeOptions) =>
      invocations.invoke(componentId, operation, payload, invokeOptions),
    inventory: () => reports.inventory(),
    apply: (input) => control.apply(input),
    gate: (componentId) => slots.component(componentId)?.gate,
    provider: (providerId) => slots.servingProvider(providerId),
    async settled() {
      while (slots.busy()) await new Promise((r) => setTimeout(r, 1));
      await reports.drained();
    },
    onReport: (listener) => reports.listen(listener),
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return host;
}
