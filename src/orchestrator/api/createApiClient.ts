import { CutoverError, isCutoverError, isErrorCode } from '../../errors';
import type { Transport } from '../../ports/transport';
import { decode, encode, parseJson } from '../../protocol/decode';
import { PROTOCOL_VERSION } from '../../protocol/messages';
import type { RolloutOutput } from '../../protocol/rollout';
import type { AppRevision, AppRevisionInput } from '../../protocol/spec';
import type { StrategyInput } from '../../protocol/strategy';
import { subjects } from '../../protocol/subjects';
import type { AppStatus, AppSummary, DeleteResult, RolloutView } from '../createOrchestrator';
import type { HistoryEntry } from '../records';
import {
  type ApiOp,
  ApiReply,
  type ApiReplyOf,
  type ApiRequest,
  type ApiRequestInput,
  RolloutEventMessage,
} from './messages';

/** Options of {@link createApiClient}. */
export interface ApiClientOptions {
  lattice: string;
  /** Bound of each request (default 10,000 ms). */
  timeoutMs?: number;
}

/** Options of {@link ApiClient.watch}. */
export interface RolloutWatchOptions {
  /** How often the rollout is also polled, so a dropped event never strands the watcher (default 1,000 ms). */
  pollMs?: number;
  /**
   * Told when the orchestrator stops answering (NATS reconnecting, the orchestrator restarting), with the
   * error, and again with null once it answers: the watch itself goes on either way.
   */
  onUnreachable?: (error: CutoverError | null) => void;
}

/** A live watch of one rollout. */
export interface RolloutWatch {
  /** Resolves with the output once the rollout is final (never rejects; `stop()` leaves it pending). */
  readonly done: Promise<RolloutOutput>;
  stop(): void;
}

/** The orchestrator API over a transport: the Orchestrator's operations, answered by a remote orchestrator. */
export interface ApiClient {
  readonly lattice: string;
  deploy(manifest: string | AppRevisionInput, options?: { strategy?: StrategyInput }): Promise<RolloutView>;
  pause(app: string): Promise<RolloutView>;
  resume(app: string): Promise<RolloutView>;
  promote(app: string, options?: { full?: boolean }): Promise<RolloutView>;
  abort(app: string, reason?: string): Promise<RolloutView>;
  retry(app: string, options?: { strategy?: StrategyInput }): Promise<RolloutView>;
  undo(app: string, toRevision?: string): Promise<RolloutView>;
  status(app: string): Promise<AppStatus>;
  history(app: string): Promise<HistoryEntry[]>;
  /** One rollout by id, with its output once final. */
  rollout(id: string): Promise<{ rollout: RolloutView; output: RolloutOutput | null }>;
  /** Every app of the lattice with its phase and versions. */
  list(): Promise<AppSummary[]>;
  /** Undeploys an app from every host and forgets it (refused while a rollout of it runs). */
  delete(app: string): Promise<DeleteResult>;
  /** A stored revision of an app (its stable one without `version`), images as pinned. */
  revision(app: string, version?: string): Promise<AppRevision>;
  /** Calls `fn` on every change of a rollout (events plus polling) until it is final. */
  watch(id: string, fn: (view: RolloutView) => void, options?: RolloutWatchOptions): RolloutWatch;
}

type ReplyFor<T extends ApiRequest['type']> = ApiReplyOf<T>;

/**
 * A client of `serveOrchestratorApi`: requests on `cutover.api.v1alpha1.{lattice}.{op}`; a coded `error`
 * reply is thrown as the CutoverError it names.
 * @example
 * const api = createApiClient(transport, { lattice: 'default' });
 * const rollout = await api.deploy(manifestText);
 * const output = await api.watch(rollout.id, (v) => console.log(v.state)).done;
 */
export function createApiClient(transport: Transport, options: ApiClientOptions): ApiClient {
  const { lattice } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;

  const call = async <T extends ApiRequest['type']>(request: ApiRequestInput & { type: T }): Promise<ReplyFor<T>> => {
    const op = request.type.slice('api.'.length) as ApiOp;
    const data = await transport.request(subjects.api(lattice, op), encode({ version: PROTOCOL_VERSION, ...request }), {
      timeoutMs,
    });
    const reply = decode(parseJson(data, 'api reply'), ApiReply);
    if (reply.type === 'error') {
      const code = isErrorCode(reply.code) ? reply.code : 'invoke.failed';
      throw new CutoverError(code, reply.message, {
        retryable: reply.retryable,
        ...(reply.issues === undefined ? {} : { issues: reply.issues }),
      });
    }
    if (reply.type !== `${request.type}.reply`) {
      throw new CutoverError('message.invalid', `reply "${reply.type}" to "${request.type}"`);
    }
    return reply as ReplyFor<T>;
  };

  const rollout = async (id: string) => {
    const reply = await call({ type: 'api.rollout', id });
    return { rollout: reply.rollout, output: reply.output };
  };

  const watch = (id: string, fn: (view: RolloutView) => void, watchOptions: RolloutWatchOptions = {}): RolloutWatch => {
    const pollMs = watchOptions.pollMs ?? 1_000;
    let stopped = false;
    let lastKey = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let resolveDone!: (o: RolloutOutput) => void;
    const done = new Promise<RolloutOutput>((r) => {
      resolveDone = r;
    });
    const finish = (output: RolloutOutput) => {
      if (stopped) return;
      stop();
      resolveDone(output);
    };
    const seen = (view: RolloutView) => {
      const key = `${view.state}|${view.paused}|${view.batch}/${view.batches}|${view.conditions.map((c) => `${c.type}:${c.status}`).join(',')}|${view.done}`;
      if (key === lastKey || stopped) return;
      lastKey = key;
      fn(view);
    };
    const sub = transport.subscribe(subjects.rolloutEvents(lattice, id), (msg) => {
      const parsed = RolloutEventMessage.safeParse(safeJson(msg.data));
      if (!parsed.success) return;
      if (parsed.data.type === 'rollout.snapshot') seen(parsed.data.rollout);
      else finish(parsed.data.output);
    });
    let unreachable = false;
    const poll = async () => {
      try {
        const current = await rollout(id);
        if (unreachable) {
          unreachable = false;
          watchOptions.onUnreachable?.(null);
        }
        seen(current.rollout);
        if (current.output !== null) finish(current.output);
      } catch (error) {
        // Transient (a reconnecting server, a restarting orchestrator): the next poll tries again.
        if (!isCutoverError(error)) throw error;
        if (!unreachable && error.retryable) {
          unreachable = true;
          watchOptions.onUnreachable?.(error);
        }
      }
      if (!stopped) timer = setTimeout(() => void poll(), pollMs);
    };
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      sub.unsubscribe();
    };
    void poll();
    return { done, stop };
  };

  return {
    lattice,
    deploy: async (manifest, o = {}) =>
      (await call({ type: 'api.deploy', manifest, ...strategyOf(o.strategy) })).rollout,
    pause: async (app) => (await call({ type: 'api.pause', app })).rollout,
    resume: async (app) => (await call({ type: 'api.resume', app })).rollout,
    promote: async (app, o = {}) => (await call({ type: 'api.promote', app, full: o.full === true })).rollout,
    abort: async (app, reason) =>
      (await call({ type: 'api.abort', app, ...(reason === undefined ? {} : { reason }) })).rollout,
    retry: async (app, o = {}) => (await call({ type: 'api.retry', app, ...strategyOf(o.strategy) })).rollout,
    undo: async (app, toRevision) =>
      (await call({ type: 'api.undo', app, ...(toRevision === undefined ? {} : { toRevision }) })).rollout,
    status: async (app) => (await call({ type: 'api.status', app })).status,
    history: async (app) => (await call({ type: 'api.history', app })).entries,
    list: async () => (await call({ type: 'api.list' })).apps,
    revision: async (app, version) =>
      (await call({ type: 'api.revision', app, ...(version === undefined ? {} : { revision: version }) })).revision,
    delete: async (app) => {
      const { sent, records } = await call({ type: 'api.delete', app });
      return { app, sent, records };
    },
    rollout,
    watch,
  };
}

function strategyOf(strategy: StrategyInput | undefined): { strategy?: Record<string, unknown> } {
  return strategy === undefined ? {} : { strategy: { ...strategy } };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return parseJson(data);
  } catch {
    return undefined;
  }
}
