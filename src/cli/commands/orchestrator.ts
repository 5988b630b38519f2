import { randomBytes } from 'node:crypto';
import type { InspectionEvent } from 'xstate';
import { toCutoverError } from '../../errors';
import { serveOrchestratorApi } from '../../orchestrator/api/serveOrchestratorApi';
import { type OrchestratorOptions, createOrchestrator } from '../../orchestrator/createOrchestrator';
import { parseJson } from '../../protocol/decode';
import { subjects } from '../../protocol/subjects';
import {
  CREDENTIAL_USAGE,
  NATS_FLAGS,
  connectNats,
  credentialFlags,
  debug,
  debugEnabled,
  integer,
  parseFlags,
  replicasFlag,
  required,
  untilStopped,
} from '../natsConnect';

const USAGE = `usage: cutover orchestrator --nats URL[,URL...] --lattice L [options]
  --replicas N               JetStream replicas of the KV buckets it creates (default 1; 3 on a 3-node cluster)
  --lease-ttl-ms N           lease time-to-live per app (default 15000)
  --heartbeat-ms N           verification poll and scaler period (default 1000)
  --request-timeout-ms N     bound of each request to a host (default 5000)
  --holder NAME              this orchestrator's lease holder name (default: random)
${CREDENTIAL_USAGE}environment:
  CUTOVER_DEBUG=1            trace rollout states, effects and NATS reconnects on stderr
`;

/** `cutover orchestrator`: rollouts on NATS (state in JetStream KV), serving the API subjects. */
export async function run(args: string[]): Promise<number> {
  const flags = parseFlags(
    'orchestrator',
    args,
    {
      ...NATS_FLAGS,
      'lease-ttl-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      holder: { type: 'string' },
      replicas: { type: 'string' },
    },
    USAGE,
    ({ values, positionals }) => {
      if (positionals.length > 0) throw new TypeError(`unexpected argument "${positionals[0]}"`);
      return {
        url: required(values, 'nats'),
        lattice: required(values, 'lattice'),
        leaseTtlMs: integer(values['lease-ttl-ms'], 'lease-ttl-ms', 15_000),
        heartbeatMs: integer(values['heartbeat-ms'], 'heartbeat-ms', 1_000),
        requestTimeoutMs: integer(values['request-timeout-ms'], 'request-timeout-ms', 5_000),
        holder: values.holder,
        replicas: replicasFlag(values.replicas),
        credentials: credentialFlags(values),
      };
    },
  );
  if (flags === undefined) return 2;
  const link = await connectNats({
    url: flags.url,
    name: `cutover orchestrator ${flags.holder ?? ''}`.trim(),
    trace: debugEnabled(),
    ...flags.credentials,
  });
  const store = link.store(flags.lattice, { replicas: flags.replicas });
  const holder = flags.holder ?? `orchestrator-${randomBytes(4).toString('hex')}`;
  const options: OrchestratorOptions = {
    lattice: flags.lattice,
    transport: link.transport,
    store,
    heartbeatMs: flags.heartbeatMs,
    leaseTtlMs: flags.leaseTtlMs,
    requestTimeoutMs: flags.requestTimeoutMs,
    holder,
    onProblem: (e) => process.stderr.write(`cutover orchestrator: ${e.code}: ${e.message}\n`),
    // Rollouts found unfinished at start, or left by an orchestrator that died (its lease expired).
    onResume: (id) => process.stdout.write(`orchestrator taking over ${id}\n`),
    ...(debugEnabled() ? { inspect: traceRollouts } : {}),
  };
  const orchestrator = await createOrchestrator(options);
  const api = serveOrchestratorApi(orchestrator, link.transport, { lattice: flags.lattice });
  // One log line per outcome, so an operator (or a test) can follow along without a client.
  const events = link.transport.subscribe(subjects.allRolloutEvents(flags.lattice), (msg) => {
    try {
      const event = parseJson(msg.data) as {
        type?: string;
        output?: { rolloutId?: string; app?: string; outcome?: string; reason?: string };
      };
      if (event.type === 'rollout.outcome' && event.output) {
        const o = event.output;
        process.stdout.write(`rollout ${o.rolloutId} ${o.app} ${o.outcome}${o.reason ? `: ${o.reason}` : ''}\n`);
      }
    } catch (error) {
      process.stderr.write(`cutover orchestrator: ${toCutoverError(error).message}\n`);
    }
  });
  process.stdout.write(`orchestrator ready (lattice ${flags.lattice}, ${orchestrator.problems.length} problems)\n`);
  const why = await untilStopped(link.closed);
  events.unsubscribe();
  await api.close();
  await orchestrator.close();
  await link.close();
  process.stdout.write(`orchestrator stopped (${why})\n`);
  return why === 'closed' ? 1 : 0;
}

/** CUTOVER_DEBUG: each rollout's state changes, and the effects it invoked as they settle. */
function traceRollouts(event: InspectionEvent): void {
  if (event.rootId !== event.actorRef.sessionId) return;
  const seen = traced.get(event.rootId) ?? { id: event.rootId, state: '' };
  traced.set(event.rootId, seen);
  if (event.type === '@xstate.snapshot') {
    const snap = event.snapshot as { value?: unknown; status?: string; context?: { rolloutId?: unknown } };
    if (typeof snap.context?.rolloutId === 'string') seen.id = snap.context.rolloutId;
    const state = JSON.stringify(snap.value);
    if (seen.state === state) return;
    seen.state = state;
    debug(`rollout ${seen.id} ${state} ${snap.status ?? ''}`);
  } else if (event.type === '@xstate.event') {
    const type = event.event.type;
    if (!type.startsWith('xstate.done.actor') && !type.startsWith('xstate.error.actor')) return;
    const error = (event.event as { error?: unknown }).error;
    debug(`rollout ${seen.id} ${type}${error === undefined ? '' : ` ${String(error)}`}`);
  }
}
const traced = new Map<string, { id: string; state: string }>();
