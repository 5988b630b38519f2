import { randomBytes } from 'node:crypto';
import type { InspectionEvent } from 'xstate';
import { toCutoverError } from '../../errors';
import { serveOrchestratorApi } from '../../orchestrator/api/serveOrchestratorApi';
import { type Orchestrator, type OrchestratorOptions, createOrchestrator } from '../../orchestrator/createOrchestrator';
import { createLeases } from '../../orchestrator/lease';
import { RolloutRecord } from '../../orchestrator/records';
import type { StateStore } from '../../ports/store';
import { parseJson } from '../../protocol/decode';
import { subjects } from '../../protocol/subjects';
import {
  NATS_FLAGS,
  connectNats,
  debug,
  debugEnabled,
  integer,
  parseFlags,
  required,
  untilStopped,
} from '../natsConnect';

const USAGE = `usage: cutover orchestrator --nats URL --lattice L [options]
  --lease-ttl-ms N           lease time-to-live per app (default 15000)
  --heartbeat-ms N           verification poll and scaler period (default 1000)
  --request-timeout-ms N     bound of each request to a host (default 5000)
  --holder NAME              this orchestrator's lease holder name (default: random)
  --user U --password P      NATS credentials
environment:
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
        user: values.user,
        password: values.password,
      };
    },
  );
  if (flags === undefined) return 2;
  const link = await connectNats({
    url: flags.url,
    name: `cutover orchestrator ${flags.holder ?? ''}`.trim(),
    trace: debugEnabled(),
    ...(flags.user === undefined ? {} : { user: flags.user }),
    ...(flags.password === undefined ? {} : { password: flags.password }),
  });
  const store = link.store(flags.lattice);
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
    ...(debugEnabled() ? { inspect: traceRollouts } : {}),
  };
  let orchestrator = await createOrchestrator(options);
  let api = serveOrchestratorApi(orchestrator, link.transport, { lattice: flags.lattice });
  // Standby duty: createOrchestrator resumes unfinished rollouts only when it starts, so rollouts left by an
  // orchestrator that died (its lease expired or was released) are picked up by starting ours again.
  let stopping = false;
  const tried = new Set<string>();
  let takeover: Promise<void> = Promise.resolve();
  const watchStranded = async () => {
    // Each rollout is taken over once: one that cannot be restored must not restart us forever.
    const ids = (await stranded(orchestrator, store, holder)).filter((id) => !tried.has(id));
    if (ids.length === 0 || stopping) return;
    for (const id of ids) tried.add(id);
    process.stdout.write(`orchestrator taking over ${ids.join(', ')}\n`);
    await api.close();
    await orchestrator.close();
    orchestrator = await createOrchestrator(options);
    api = serveOrchestratorApi(orchestrator, link.transport, { lattice: flags.lattice });
  };
  const timer = setInterval(
    () => {
      takeover = takeover.then(watchStranded).catch((e: unknown) => {
        process.stderr.write(`cutover orchestrator: ${toCutoverError(e).code}: ${toCutoverError(e).message}\n`);
      });
    },
    Math.max(100, Math.floor(flags.leaseTtlMs / 2)),
  );
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
  stopping = true;
  clearInterval(timer);
  await takeover;
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

/** Active rollouts in the store that no live holder drives: not ours, and their app's lease is expired or released. */
async function stranded(orchestrator: Orchestrator, store: StateStore, holder: string): Promise<string[]> {
  const leases = createLeases(store, { holder, ttlMs: 1 });
  const out: string[] = [];
  for (const key of await store.keys('cutover', 'rollout.')) {
    const entry = await store.get('cutover', key);
    const record = entry === null ? undefined : RolloutRecord.safeParse(entry.value);
    if (record?.success !== true || record.data.snapshot.status !== 'active') continue;
    if (orchestrator.rollout(record.data.id) !== undefined) continue;
    const lease = await leases.current(record.data.app);
    if (lease === null || lease.expiresAt <= Date.now()) out.push(record.data.id);
  }
  return out;
}
