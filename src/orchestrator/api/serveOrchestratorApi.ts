import { CutoverError, toCutoverError } from '../../errors';
import type { Transport, TransportSubscription } from '../../ports/transport';
import { decode, encode } from '../../protocol/decode';
import { PROTOCOL_VERSION } from '../../protocol/messages';
import type { AppRevisionInput } from '../../protocol/spec';
import type { StrategyInput } from '../../protocol/strategy';
import { subjects } from '../../protocol/subjects';
import type { Orchestrator, RolloutView } from '../createOrchestrator';
import { ApiRequest, type ApiReply } from './messages';

/** Options of {@link serveOrchestratorApi}. */
export interface OrchestratorApiOptions {
  lattice: string;
  /** Queue group of the API subscription, so one orchestrator answers each request (default `cutover-api`). */
  queue?: string;
  /** Longest `api.rollout` waits for a finished rollout's output to be recorded (default 2,000 ms). */
  outputWaitMs?: number;
}

/** A served API; `close()` (or `await using`) unsubscribes. */
export interface OrchestratorApi extends AsyncDisposable {
  readonly subject: string;
  close(): Promise<void>;
}

/**
 * Answers the orchestrator API on `cutover.api.v1alpha1.{lattice}.{op}`: every request is validated
 * (`message.invalid` with issues), every failure is a coded `error` reply. Rollout snapshots and outcomes
 * are published by the orchestrator itself on `cutover.evt.v1alpha1.{lattice}.rollout.{id}`.
 * @example
 * await using api = serveOrchestratorApi(orchestrator, transport, { lattice: 'default' });
 */
export function serveOrchestratorApi(
  orchestrator: Orchestrator,
  transport: Transport,
  options: OrchestratorApiOptions,
): OrchestratorApi {
  const { lattice } = options;
  const outputWaitMs = options.outputWaitMs ?? 2_000;
  const subject = subjects.apiAll(lattice);
  const prefix = subject.slice(0, -1);
  const version = PROTOCOL_VERSION;
  const viewOf = (view: RolloutView) => ({ ...view, conditions: [...view.conditions] });

  const handle = async (request: ApiRequest): Promise<ApiReply> => {
    switch (request.type) {
      case 'api.deploy': {
        const manifest = request.manifest as string | AppRevisionInput;
        const strategy = request.strategy as StrategyInput | undefined;
        const rollout = await orchestrator.deploy(manifest, strategy === undefined ? {} : { strategy });
        return { type: 'api.deploy.reply', version, rollout: viewOf(rollout.snapshot()) };
      }
      case 'api.status':
        return { type: 'api.status.reply', version, status: await orchestrator.status(request.app) };
      case 'api.history':
        return { type: 'api.history.reply', version, entries: await orchestrator.history(request.app) };
      case 'api.pause':
        return { type: 'api.pause.reply', version, rollout: viewOf(await orchestrator.pause(request.app)) };
      case 'api.resume':
        return { type: 'api.resume.reply', version, rollout: viewOf(await orchestrator.resume(request.app)) };
      case 'api.promote':
        return {
          type: 'api.promote.reply',
          version,
          rollout: viewOf(await orchestrator.promote(request.app, { full: request.full })),
        };
      case 'api.abort':
        return {
          type: 'api.abort.reply',
          version,
          rollout: viewOf(await orchestrator.abort(request.app, request.reason)),
        };
      case 'api.retry': {
        const strategy = request.strategy as StrategyInput | undefined;
        const rollout = await orchestrator.retry(request.app, strategy === undefined ? {} : { strategy });
        return { type: 'api.retry.reply', version, rollout: viewOf(rollout.snapshot()) };
      }
      case 'api.undo': {
        const rollout = await orchestrator.undo(request.app, request.toRevision);
        return { type: 'api.undo.reply', version, rollout: viewOf(rollout.snapshot()) };
      }
      case 'api.rollout': {
        const rollout = orchestrator.rollout(request.id);
        if (rollout === undefined)
          throw new CutoverError('rollout.notFound', `rollout "${request.id}" is not driven by this orchestrator`);
        const view = rollout.snapshot();
        // The output lands a moment after the final state (history is recorded first): wait for it, bounded.
        const output = view.done ? await within(rollout.done, outputWaitMs) : null;
        return { type: 'api.rollout.reply', version, rollout: viewOf(view), output: output ?? null };
      }
    }
  };

  const errorReply = (error: unknown): ApiReply => {
    const e = toCutoverError(error);
    return {
      type: 'error',
      version,
      code: e.code,
      message: e.message,
      retryable: e.retryable,
      ...(e.issues === undefined ? {} : { issues: [...e.issues] }),
    };
  };

  const sub: TransportSubscription = transport.subscribe(
    subject,
    async (msg) => {
      try {
        const op = msg.subject.slice(prefix.length);
        const request = decode(msg.data, ApiRequest);
        if (request.type !== `api.${op}`) {
          throw new CutoverError('message.invalid', `request "${request.type}" sent to "${msg.subject}"`, {
            issues: [{ path: 'type', message: `expected "api.${op}"` }],
            subject: msg.subject,
          });
        }
        return encode(await handle(request));
      } catch (error) {
        return encode(errorReply(error));
      }
    },
    { queue: options.queue ?? 'cutover-api' },
  );

  const close = async () => sub.unsubscribe();
  return { subject, close, [Symbol.asyncDispose]: close };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
