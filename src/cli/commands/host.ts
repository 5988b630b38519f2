import type { InspectionEvent } from 'xstate';
import { createHost } from '../../host/createHost';
import type { LinkSpec } from '../../protocol/spec';
import {
  CREDENTIAL_USAGE,
  NATS_FLAGS,
  connectNats,
  credentialFlags,
  debug,
  debugEnabled,
  integer,
  pairs,
  parseFlags,
  required,
  untilStopped,
} from '../natsConnect';

const USAGE = `usage: cutover host --nats URL[,URL...] --lattice L --id H [options]
  --labels k=v,...              host labels for placement
  --registry-mirror FROM=TO     fetch images of registry FROM from TO (http unless https://); repeatable
  --bind-map FROM=TO            rewrite a link address (e.g. 0.0.0.0:8080=127.0.0.1:0); repeatable
  --heartbeat-ms N              heartbeat interval (default 30000; 0 = off)
${CREDENTIAL_USAGE}  --refuse-link NAME            demo/test aid: this host's memory provider refuses links named NAME; repeatable
environment:
  CUTOVER_DEBUG=1               trace the commands each workload handles and NATS reconnects on stderr
`;

/** `cutover host`: a host agent on NATS with the wasm runtime and the built-in providers. */
export async function run(args: string[]): Promise<number> {
  const flags = parseFlags(
    'host',
    args,
    {
      ...NATS_FLAGS,
      id: { type: 'string' },
      labels: { type: 'string', multiple: true },
      'registry-mirror': { type: 'string', multiple: true },
      'bind-map': { type: 'string', multiple: true },
      'heartbeat-ms': { type: 'string' },
      'refuse-link': { type: 'string', multiple: true },
    },
    USAGE,
    ({ values, positionals }) => {
      if (positionals.length > 0) throw new TypeError(`unexpected argument "${positionals[0]}"`);
      return {
        url: required(values, 'nats'),
        lattice: required(values, 'lattice'),
        hostId: required(values, 'id'),
        labels: pairs(values.labels, 'labels'),
        mirrors: pairs(values['registry-mirror'], 'registry-mirror'),
        bindMap: pairs(values['bind-map'], 'bind-map'),
        heartbeatMs: integer(values['heartbeat-ms'], 'heartbeat-ms', 30_000),
        refuse: new Set(values['refuse-link'] ?? []),
        credentials: credentialFlags(values),
      };
    },
  );
  if (flags === undefined) return 2;
  const [{ createWasmRuntime }, providers] = await Promise.all([
    import('cutover/adapters/wasm'),
    import('cutover/adapters/providers'),
  ]);
  const link = await connectNats({
    url: flags.url,
    name: `cutover host ${flags.hostId}`,
    trace: debugEnabled(),
    ...flags.credentials,
  });
  const httpServer = providers.createHttpServerProvider();
  const refuse = (l: LinkSpec, op: 'put' | 'delete') =>
    op === 'put' && flags.refuse.has(l.name) ? `refused by this host (--refuse-link ${l.name})` : undefined;
  const host = await createHost({
    hostId: flags.hostId,
    lattice: flags.lattice,
    labels: flags.labels,
    transport: link.transport,
    runtime: createWasmRuntime({ mirrors: flags.mirrors }),
    // Unknown provider images fall back to the memory provider, which records links (DESIGN §4).
    providers: { resolve: (imageRef) => (providers.isHttpServerImage(imageRef) ? httpServer : undefined) },
    defaultProvider: providers.createMemoryProvider(flags.refuse.size > 0 ? { refuse } : {}),
    heartbeatMs: flags.heartbeatMs,
    bindMap: flags.bindMap,
    ...(debugEnabled() ? { inspect: traceCommands } : {}),
  });
  process.stdout.write(`host ${flags.hostId} ready\n`);
  const why = await untilStopped(link.closed);
  await host.stop();
  await link.close();
  process.stdout.write(`host ${flags.hostId} stopped (${why})\n`);
  return why === 'closed' ? 1 : 0;
}

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
