// `cutover host`: a host agent on NATS with the wasm runtime and the built-in providers. A provider image it
// does not know is refused, unless `--provider-standin` maps it to the in-memory stand-in (which records links
// and serves nothing); the host then says so in its inventory (label `cutover/provider-standins`).
import type { InspectionEvent } from 'xstate';
import { createHost } from '../../host/createHost';
import type { LinkSpec } from '../../protocol/spec';
import { type Values, defineCommand, required, wholeNumber } from '../args';
import {
  CONNECTION_OPTIONS,
  connectNats,
  connectionOf,
  debug,
  debugEnabled,
  pairs,
  untilStopped,
} from '../natsConnect';
import { REGISTRY_OPTIONS, registryOf, runtimeOptionsOf } from '../registry';
import { LOG_OPTIONS, createLogger, logFormatOf } from '../telemetry/log';
import { METRICS_OPTIONS, startCliTelemetry } from '../telemetry/options';

/** The host label listing the provider images served by the memory stand-in. */
export const STANDIN_LABEL = 'cutover/provider-standins';

const OPTIONS = {
  id: { type: 'string', value: 'H', help: 'host id (unique on the lattice)' },
  labels: { type: 'string', multiple: true, value: 'k=v,...', help: 'host labels for placement' },
  'provider-standin': {
    type: 'string',
    multiple: true,
    value: 'IMAGE',
    help: 'serve provider IMAGE (with or without tag; * for any) by the in-memory stand-in instead of refusing it',
  },
  'bind-map': {
    type: 'string',
    multiple: true,
    value: 'FROM=TO',
    help: 'rewrite a link address (e.g. 0.0.0.0:8080=127.0.0.1:0)',
  },
  'heartbeat-ms': { type: 'string', value: 'N', help: 'heartbeat interval (default 30000; 0 = off)' },
  'refuse-link': {
    type: 'string',
    multiple: true,
    value: 'NAME',
    help: "demo/test aid: this host's stand-in provider refuses links named NAME",
  },
  ...REGISTRY_OPTIONS,
  ...METRICS_OPTIONS,
  ...LOG_OPTIONS,
  ...CONNECTION_OPTIONS,
} as const;

/** Whether provider `imageRef` is one of the `--provider-standin` images. */
export function isStandin(imageRef: string, standins: readonly string[]): boolean {
  const ref = imageRef.replace(/^oci:\/\//, '');
  const bare = ref.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^:/]+$/, '');
  return standins.some((s) => s === '*' || s === ref || s === bare);
}

function settingsOf(values: Values<typeof OPTIONS>) {
  return {
    ...connectionOf(values),
    hostId: required(command.spec, values, 'id'),
    labels: pairs(values.labels, 'labels'),
    registry: registryOf(values),
    standins: values['provider-standin'] ?? [],
    bindMap: pairs(values['bind-map'], 'bind-map'),
    heartbeatMs: wholeNumber(values['heartbeat-ms'], 'heartbeat-ms', 30_000),
    refuse: new Set(values['refuse-link'] ?? []),
  };
}

export const command = defineCommand(
  {
    name: 'host',
    summary: 'run a host agent on NATS (wasm runtime, built-in providers)',
    description:
      'Runs components (file://, OCI registries) and the built-in providers (http-server). Any other provider\n' +
      'image is refused unless --provider-standin maps it to the in-memory stand-in.',
    options: OPTIONS,
    notes: 'environment:\n  CUTOVER_DEBUG=1  trace the commands each workload handles and NATS reconnects on stderr',
  },
  async ({ values }) => {
    const flags = settingsOf(values);
    const [{ createWasmRuntime }, providers] = await Promise.all([
      import('cutover/adapters/wasm'),
      import('cutover/adapters/providers'),
    ]);
    // Before the host exists, so its instruments are made on the SDK's meter provider.
    const log = createLogger(logFormatOf(values['log-format']), {
      component: 'host',
      lattice: flags.lattice,
      host: flags.hostId,
    });
    const telemetry = await startCliTelemetry({ metrics: values.metrics });
    if (telemetry.metrics !== undefined)
      log.info(`metrics at ${telemetry.metrics.url}`, { metrics: telemetry.metrics.url });
    const link = await connectNats({
      url: flags.url,
      name: `cutover host ${flags.hostId}`,
      trace: debugEnabled(),
      ...flags.auth,
    });
    const httpServer = providers.createHttpServerProvider();
    const refuse = (l: LinkSpec, op: 'put' | 'delete') =>
      op === 'put' && flags.refuse.has(l.name) ? `refused by this host (--refuse-link ${l.name})` : undefined;
    const standin = providers.createMemoryProvider(flags.refuse.size > 0 ? { refuse } : {});
    const labels =
      flags.standins.length > 0 ? { ...flags.labels, [STANDIN_LABEL]: flags.standins.join(',') } : flags.labels;
    const host = await createHost({
      hostId: flags.hostId,
      lattice: flags.lattice,
      labels,
      transport: link.transport,
      runtime: createWasmRuntime(runtimeOptionsOf(flags.registry)),
      providers: {
        resolve: (imageRef) => {
          if (providers.isHttpServerImage(imageRef)) return httpServer;
          if (isStandin(imageRef, flags.standins)) return standin;
          log.warn(
            `cutover host: refusing provider "${imageRef}": not a built-in provider (serve it by the in-memory stand-in with --provider-standin ${imageRef.replace(/:[^:/]+$/, '')})`,
            { image: imageRef },
          );
          return undefined;
        },
      },
      heartbeatMs: flags.heartbeatMs,
      bindMap: flags.bindMap,
      ...(debugEnabled() ? { inspect: traceCommands } : {}),
    });
    log.info(
      `host ${flags.hostId} ready${flags.standins.length > 0 ? ` (in-memory stand-in for providers ${flags.standins.join(', ')})` : ''}`,
    );
    const why = await untilStopped(link.closed);
    await host.stop();
    await link.close();
    await telemetry.close();
    log.info(`host ${flags.hostId} stopped (${why})`);
    return why === 'closed' ? 1 : 0;
  },
);

export const run = command.run;
export const spec = command.spec;

/** CUTOVER_DEBUG: every command and report a component actor handles, by workload id. */
function traceCommands(event: InspectionEvent): void {
  if (event.type !== '@xstate.event' || event.actorRef.sessionId !== event.rootId) return;
  const type = event.event.type;
  if (!/^(component|provider)\./.test(type)) return;
  const id = (event.event as { spec?: { id?: unknown } }).spec?.id;
  if (typeof id === 'string') workloads.set(event.rootId, id);
  debug(`${workloads.get(event.rootId) ?? event.rootId} ${type}`);
}
const workloads = new Map<string, string>();
