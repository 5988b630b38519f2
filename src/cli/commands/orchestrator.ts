// `cutover orchestrator`: rollouts on NATS (state in JetStream KV), serving the API subjects. Image tags are
// pinned to the digest of their wasm layer at plan time (what hosts verify), through the same registry
// settings a host takes, so a rollback is exact; an image it cannot reach is deployed by tag, with a warning.
import { randomBytes } from 'node:crypto';
import type { InspectionEvent } from 'xstate';
import { isCutoverError, toCutoverError } from '../../errors';
import { serveOrchestratorApi } from '../../orchestrator/api/serveOrchestratorApi';
import { type OrchestratorOptions, createOrchestrator } from '../../orchestrator/createOrchestrator';
import { parseJson } from '../../protocol/decode';
import { subjects } from '../../protocol/subjects';
import { defineCommand, wholeNumber } from '../args';
import {
  CONNECTION_OPTIONS,
  connectNats,
  connectionOf,
  debug,
  debugEnabled,
  replicasFlag,
  untilStopped,
} from '../natsConnect';
import { REGISTRY_OPTIONS, type RegistrySettings, registryOf, runtimeOptionsOf } from '../registry';
import { LOG_OPTIONS, createLogger, logFormatOf, logNotifications } from '../telemetry/log';
import { METRICS_OPTIONS, NOTIFY_OPTIONS, startCliTelemetry } from '../telemetry/options';

/** Longest pinning one image may take before it is deployed by tag. */
const PIN_TIMEOUT_MS = 10_000;

/**
 * Resolves an OCI image reference to the digest of its wasm layer (what a host checks the fetched bytes
 * against); undefined for `file://` and other non-registry references, built-in providers, and when the registry cannot be
 * reached (then `warn` says so and the image is deployed by tag).
 */
export async function createImageResolver(
  registry: RegistrySettings,
  warn: (line: string) => void,
): Promise<(ref: string) => Promise<string | undefined>> {
  const [{ createWasmRuntime, parseImageRef }, { isHttpServerImage }] = await Promise.all([
    import('cutover/adapters/wasm'),
    import('cutover/adapters/providers'),
  ]);
  const runtime = createWasmRuntime(runtimeOptionsOf(registry));
  return async (ref) => {
    // A built-in provider is served by the host itself: there is no artifact to pin.
    if (isHttpServerImage(ref)) return undefined;
    let kind: string;
    try {
      kind = parseImageRef(ref).kind;
    } catch {
      return undefined;
    }
    if (kind !== 'oci') return undefined;
    try {
      return (await runtime.fetch(ref, { signal: AbortSignal.timeout(PIN_TIMEOUT_MS) })).digest;
    } catch (error) {
      const e = toCutoverError(error, 'fetch.failed');
      warn(`cannot pin "${ref}" to a digest (${e.code}: ${e.message}); deploying it by tag`);
      return undefined;
    }
  };
}

export const command = defineCommand(
  {
    name: 'orchestrator',
    summary: 'run the orchestrator on NATS and serve its API',
    options: {
      replicas: {
        type: 'string',
        value: 'N',
        help: 'JetStream replicas of the KV buckets it creates (default 1; 3 on a 3-node cluster)',
      },
      'lease-ttl-ms': { type: 'string', value: 'N', help: 'lease time-to-live per app (default 15000)' },
      'heartbeat-ms': { type: 'string', value: 'N', help: 'verification poll and scaler period (default 1000)' },
      'request-timeout-ms': { type: 'string', value: 'N', help: 'bound of each request to a host (default 5000)' },
      holder: { type: 'string', value: 'NAME', help: "this orchestrator's lease holder name (default: random)" },
      'no-pin': { type: 'boolean', help: 'deploy image tags as given instead of pinning them to digests' },
      ...REGISTRY_OPTIONS,
      ...METRICS_OPTIONS,
      ...NOTIFY_OPTIONS,
      ...LOG_OPTIONS,
      ...CONNECTION_OPTIONS,
    },
    notes: 'environment:\n  CUTOVER_DEBUG=1  trace rollout states, effects and NATS reconnects on stderr',
  },
  async ({ values }) => {
    const connection = connectionOf(values);
    const flags = {
      leaseTtlMs: wholeNumber(values['lease-ttl-ms'], 'lease-ttl-ms', 15_000),
      heartbeatMs: wholeNumber(values['heartbeat-ms'], 'heartbeat-ms', 1_000),
      requestTimeoutMs: wholeNumber(values['request-timeout-ms'], 'request-timeout-ms', 5_000),
      holder: values.holder,
      replicas: replicasFlag(values.replicas),
      registry: registryOf(values),
      pin: values['no-pin'] !== true,
    };
    const log = createLogger(logFormatOf(values['log-format']), {
      component: 'orchestrator',
      lattice: connection.lattice,
    });
    const telemetry = await startCliTelemetry({ metrics: values.metrics, notifyWebhook: values['notify-webhook'] });
    if (telemetry.metrics !== undefined)
      log.info(`metrics at ${telemetry.metrics.url}`, { metrics: telemetry.metrics.url });
    const link = await connectNats({
      url: connection.url,
      name: `cutover orchestrator ${flags.holder ?? ''}`.trim(),
      trace: debugEnabled(),
      ...connection.auth,
    });
    const lattice = connection.lattice;
    const store = link.store(lattice, { replicas: flags.replicas });
    const holder = flags.holder ?? `orchestrator-${randomBytes(4).toString('hex')}`;
    const logEvents = logNotifications(log);
    const warn = (line: string) => log.warn(`cutover orchestrator: ${line}`, { holder });
    const options: OrchestratorOptions = {
      lattice,
      transport: link.transport,
      store,
      heartbeatMs: flags.heartbeatMs,
      leaseTtlMs: flags.leaseTtlMs,
      requestTimeoutMs: flags.requestTimeoutMs,
      holder,
      ...(flags.pin ? { resolveImage: await createImageResolver(flags.registry, warn) } : {}),
      onProblem: (e) => warn(`${e.code}: ${e.message}`),
      // Rollouts found unfinished at start, or left by an orchestrator that died (its lease expired).
      onResume: (id, app) => log.info(`orchestrator taking over ${id}`, { rollout: id, app, holder }),
      ...(debugEnabled() ? { inspect: traceRollouts } : {}),
      notify: (event) => {
        telemetry.notify?.(event);
        logEvents(event);
      },
    };
    const orchestrator = await createOrchestrator(options);
    const api = serveOrchestratorApi(orchestrator, link.transport, { lattice });
    // One log line per outcome, so an operator (or a test) can follow along without a client.
    const events = link.transport.subscribe(subjects.allRolloutEvents(lattice), (msg) => {
      try {
        const event = parseJson(msg.data) as {
          type?: string;
          output?: { rolloutId?: string; app?: string; outcome?: string; reason?: string };
        };
        if (event.type === 'rollout.outcome' && event.output) {
          const o = event.output;
          log.info(`rollout ${o.rolloutId} ${o.app} ${o.outcome}${o.reason ? `: ${o.reason}` : ''}`, {
            rollout: o.rolloutId,
            app: o.app,
            outcome: o.outcome,
            reason: o.reason,
          });
        }
      } catch (error) {
        if (!isCutoverError(error)) throw error;
        warn(error.message);
      }
    });
    log.info(`orchestrator ready (lattice ${lattice}, ${orchestrator.problems.length} problems)`, { holder });
    const why = await untilStopped(link.closed);
    events.unsubscribe();
    await api.close();
    await orchestrator.close();
    await link.close();
    await telemetry.close();
    log.info(`orchestrator stopped (${why})`, { holder });
    return why === 'closed' ? 1 : 0;
  },
);

export const run = command.run;
export const spec = command.spec;

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
