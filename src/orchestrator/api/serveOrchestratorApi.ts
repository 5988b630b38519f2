import { CutoverError, isCutoverError } from '../../errors';
import type { Transport, TransportSubscription } from '../../ports/transport';
import { decode, encode } from '../../protocol/decode';
import { API_LIMITS, checkJsonLimits, errorReplyOf } from '../../protocol/limits';
import { parseManifest } from '../../protocol/manifest';
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
  /** How long a request forwarded to the orchestrator that drives its app may take (default 30,000 ms). */
  forwardTimeoutMs?: number;
}

/** A served API; `close()` (or `await using`) unsubscribes. */
export interface OrchestratorApi extends AsyncDisposable {
  readonly subject: string;
  close(): Promise<void>;
}

/**
 * Answers the orchestrator API on `cutover.api.v1alpha1.{lattice}.{op}`: every request is validated
 * (`message.invalid` with issues), every failure is a coded `error` reply. With several orchestrators in
 * one queue group, a request about an app another one drives (holds its lease) is forwarded to that one's
 * own subject, `cutover.api.v1alpha1.{lattice}.{op}.{holder}`, and its reply relayed. Rollout snapshots and outcomes
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
  const viewOf = (view: RolloutView) => ({ ...view, conditions: view.conditions.map((c) => ({ ...c })) });
  const forwardTimeoutMs = options.forwardTimeoutMs ?? 30_000;

  /** The orchestrator a request belongs to, when it is another one; undefined to answer here. */
  const ownerOf = async (request: ApiRequest): Promise<string | undefined> => {
    let owner: string | null;
    if (request.type === 'api.list') return undefined;
    if (request.type === 'api.rollout') owner = await orchestrator.owner({ rolloutId: request.id });
    else if (request.type === 'api.deploy') {
      const app = appOfManifest(request.manifest);
      if (app === undefined) return undefined;
      owner = await orchestrator.owner({ app });
    } else owner = await orchestrator.owner({ app: request.app });
    return owner !== null && owner !== orchestrator.holder ? owner : undefined;
  };

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
      case 'api.list':
        return { type: 'api.list.reply', version, apps: await orchestrator.list() };
      case 'api.revision':
        return {
          type: 'api.revision.reply',
          version,
          revision: await orchestrator.revision(request.app, request.revision),
        };
      case 'api.delete':
        return { type: 'api.delete.reply', version, ...(await orchestrator.delete(request.app)) };
      case 'api.rollout': {
        const rollout = orchestrator.rollout(request.id);
        if (rollout === undefined) {
          // Driven by nobody now (finished before a restart, or waiting to be taken over): as last stored.
          const stored = await orchestrator.lookup(request.id);
          if (stored === undefined)
            throw new CutoverError('rollout.notFound', `rollout "${request.id}" does not exist`);
          return { type: 'api.rollout.reply', version, rollout: viewOf(stored.rollout), output: stored.output };
        }
        const view = rollout.snapshot();
        // The output lands a moment after the final state (history is recorded first): wait for it, bounded.
        const output = view.done ? await within(rollout.done, outputWaitMs) : null;
        return { type: 'api.rollout.reply', version, rollout: viewOf(view), output: output ?? null };
      }
    }
  };

  const answer = async (op: string, data: Uint8Array, subjectSeen: string, direct: boolean): Promise<Uint8Array> => {
    try {
      // Bounded before it is parsed; a deploy's manifest text is parsed once, here, and handed on as a revision.
      checkJsonLimits(data, API_LIMITS, 'api request');
      const decoded = decode(data, ApiRequest);
      if (decoded.type !== `api.${op}`) {
        throw new CutoverError('message.invalid', `request "${decoded.type}" sent to "${subjectSeen}"`, {
          issues: [{ path: 'type', message: `expected "api.${op}"` }],
          subject: subjectSeen,
        });
      }
      const request = parsedOnce(decoded);
      // A forwarded request is answered where it lands, so two orchestrators never pass it back and forth.
      const owner = direct ? undefined : await ownerOf(request);
      if (owner !== undefined) {
        try {
          return await transport.request(subjects.apiDirect(lattice, owner, op), data, { timeoutMs: forwardTimeoutMs });
        } catch (e) {
          // The owner is gone (its lease not yet expired): answer here, which refuses with a coded error.
          if (!isCutoverError(e) || (e.code !== 'transport.noResponders' && e.code !== 'transport.timeout')) throw e;
        }
      }
      return encode(await handle(request));
    } catch (error) {
      return encode(errorReplyOf(error));
    }
  };

  const sub: TransportSubscription = transport.subscribe(
    subject,
    (msg) => answer(msg.subject.slice(prefix.length), msg.data, msg.subject, false),
    { queue: options.queue ?? 'cutover-api' },
  );
  const directSubject = subjects.apiDirectAll(lattice, orchestrator.holder);
  const directPrefix = directSubject.slice(0, directSubject.indexOf('*'));
  const direct: TransportSubscription = transport.subscribe(directSubject, (msg) =>
    answer(msg.subject.slice(directPrefix.length).split('.')[0] ?? '', msg.data, msg.subject, true),
  );

  const close = async () => {
    await sub.unsubscribe();
    await direct.unsubscribe();
  };
  return { subject, close, [Symbol.asyncDispose]: close };
}

/** A deploy request with its manifest text parsed (once: `manifest.invalid` or `message.tooLarge` here). */
function parsedOnce(request: ApiRequest): ApiRequest {
  if (request.type !== 'api.deploy' || typeof request.manifest !== 'string') return request;
  return { ...request, manifest: parseManifest(request.manifest).revision };
}

/** The app a deploy request names, without validating the rest (deploy itself validates). */
function appOfManifest(manifest: unknown): string | undefined {
  const app = (manifest as { app?: unknown } | null)?.app;
  return typeof app === 'string' ? app : undefined;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
