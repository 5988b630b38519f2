// The one place where a rollout's decide → persist → send happens. Decide: the machine (its snapshot names
// the batch) or an effect's level-triggered reading of inventories. Persist: before every send (and every
// re-send of a request that timed out) the run's current snapshot is made durable with compare-and-set on its
// record (`RunContext.durable`); a write that fails sends nothing. Send: `sendControl`, the only function of the
// rollout effects that calls `client.control`, checks before each attempt that the step was not stopped
// (a superseded or aborted rollout's signal is aborted: nothing more leaves) and that the app's lease is live
// beyond its safety margin (`sendToken`, which waits through a renewal and throws `lease.stale` once another
// orchestrator took the app), and counts the request as in flight until it settles, so a superseding rollout
// plans only after it. This file must not plan, judge hosts or write records other than through planning/ and
// batches.ts; nothing else under effects/ may call `client.control`.
import type { BatchApplied, BatchInput } from '../../../machines/rollout/types';
import { CutoverError, isCutoverError } from '../../errors';
import type { AppRevision, ComponentSpec } from '../../protocol/spec';
import { type BatchRecord, type ModeRecord, keys, packBatch } from '../records';
import { type ControlOp, type HostSend, specOf } from '../reconcile';
import { startBackground } from './analysis';
import { appliedAt, loadBatch, loadMode, loadSteps, noteLost } from './batches';
import { type EffectContext, type RunContext, stamp, withRetry } from './context';
import { replanAtBatch } from './planning';

/** What every send of one effect step is made under: the app and the step's signal (aborted once it stopped). */
export interface SendScope {
  readonly effects: EffectContext;
  readonly run: RunContext;
  readonly app: string;
  readonly signal: AbortSignal;
}

/** Opens the scope of one effect step's sends to `app`. */
export async function openScope(
  effects: EffectContext,
  run: RunContext,
  app: string,
  signal: AbortSignal,
): Promise<SendScope> {
  return { effects, run, app, signal };
}

/** The error a stopped step's send ends with: nothing was sent. */
const stopped = (hostId: string) =>
  new CutoverError('aborted', `not sent to "${hostId}": the rollout step was stopped (superseded, aborted or closed)`, {
    hostId,
  });

/**
 * Send: the one call through which a control message of the rollout reaches a host. Before each attempt:
 * not stopped, intent durable, lease live; the token it gets is the one the message carries.
 */
export function sendControl(scope: SendScope, hostId: string, op: ControlOp): Promise<void> {
  const { effects, run, app, signal } = scope;
  const before = async (): Promise<number> => {
    if (signal.aborted) throw stopped(hostId);
    await run.durable(signal);
    const token = await effects.sendToken(app, signal);
    if (signal.aborted) throw stopped(hostId);
    return token;
  };
  // While a tracer records, an apply carries the batch span's context: the host's apply span joins the trace.
  const traceparent = op.type === 'component.apply' ? effects.notifier?.traceparent(app) : undefined;
  const sent = traceparent === undefined || op.type !== 'component.apply' ? op : { ...op, traceparent };
  return effects.inflight.track(app, effects.client.control(hostId, app, before, sent));
}

/** The scope's sends as `reconcileThrough` takes them. */
export const hostSend =
  (scope: SendScope): HostSend =>
  (hostId, op) =>
    sendControl(scope, hostId, op);

/**
 * How a host took its part of a batch: `accepted` (every message), `unanswered` (a message went unanswered
 * after the host accepted one, or timed out: it may have landed, so verification decides with onHostLost), or
 * `absent` (nothing accepted, and nobody listens on the host's subjects: it is gone before it was applied to).
 */
export type PartSent = 'accepted' | 'unanswered' | 'absent';

/**
 * Sends one host its part of a batch. No inventory read first: an apply of the hash a host serves (or has in
 * flight) is answered at once and redoes nothing, so a verified host is never re-applied on resume. A host
 * that does not answer is left to verification (onHostLost), unless nothing reached it at all (`absent`).
 */
export async function sendBatchPart(
  scope: SendScope,
  input: BatchInput,
  h: BatchRecord['hosts'][number],
  target: AppRevision,
  mode: ModeRecord | undefined,
): Promise<PartSent> {
  const refs = [...h.apply].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'provider' ? -1 : 1));
  let accepted = 0;
  for (const ref of refs) {
    const spec = specOf(target, ref.kind, ref.id);
    if (!spec) throw new CutoverError('plan.invalid', `"${ref.id}" is not in revision "${input.targetVersion}"`);
    try {
      if (mode?.mode === 'promote') {
        if (ref.kind !== 'component') continue;
        await sendControl(scope, h.hostId, {
          type: 'component.promote',
          componentId: ref.id,
          keepOldForMs: mode.keepOldForMs,
        })
          // Nothing to promote (installed fresh, or promoted before a restart): verification decides.
          .catch((e: unknown) => {
            if (!isCutoverError(e) || e.code !== 'rollout.invalidCommand') throw e;
          });
        accepted++;
        continue;
      }
      await sendControl(
        scope,
        h.hostId,
        ref.kind === 'component'
          ? {
              type: 'component.apply',
              spec: spec as ComponentSpec,
              ...(mode?.mode === 'standby' ? { mode: 'standby' as const } : {}),
            }
          : { type: 'provider.apply', spec },
      );
      accepted++;
    } catch (e) {
      if (isCutoverError(e) && e.code === 'transport.noResponders' && accepted === 0) return 'absent';
      // Lost after (or while) it took something: verification applies onHostLost.
      if (isCutoverError(e) && (e.code === 'transport.noResponders' || e.code === 'transport.timeout'))
        return 'unanswered';
      throw e;
    }
  }
  return 'accepted';
}

/**
 * Of the hosts nothing reached, those still gone after one inventory request (which waits out a reconnect
 * grace). They are forgotten by the client, so the next rolling batch re-plans (and finds them when they answer).
 */
async function confirmGone(o: EffectContext, absent: readonly string[]): Promise<string[]> {
  const answers = await Promise.all(absent.map(async (h) => ((await o.client.inventory(h)) === null ? h : null)));
  const gone = answers.filter((h): h is string => h !== null);
  for (const h of gone) {
    o.client.forget(h);
    o.client.untrack(h);
  }
  return gone;
}

/**
 * The `applyBatch` effect: persist the snapshot naming the batch, re-plan if the batch begins a step, record
 * when it was first applied, then send every host of the batch its part.
 */
export async function applyBatch(
  o: EffectContext,
  run: RunContext,
  input: BatchInput,
  signal: AbortSignal,
): Promise<BatchApplied> {
  // The snapshot naming this batch is durable before anything else (every send checks again).
  await run.durable(signal);
  const batches = await replanAtBatch(o, input, signal);
  await startBackground(o, input, 'applied', signal);
  await withRetry(() => appliedAt(o.store, input.rolloutId, input.batch, o.clock.now()), o.clock, signal);
  // Store reads retry like writes: a store restart must not turn a healthy rollout into a rollback.
  const [record, target, scope, mode] = await Promise.all([
    withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal),
    withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal),
    openScope(o, run, input.app, signal),
    withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal),
  ]);
  // A promote goes to the hosts that stood by: a host lost before its standby batch has nothing to promote.
  const lost =
    mode?.mode === 'promote'
      ? new Set((await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal))?.lost ?? [])
      : new Set<string>();
  const hosts = record.hosts.filter((h) => !lost.has(h.hostId));
  o.client.track(hosts.map((h) => h.hostId));
  const sent = await Promise.all(hosts.map((h) => sendBatchPart(scope, input, h, target, mode)));
  // Hosts gone before anything reached them are not applied to, and that is no failure: they leave the batch
  // record (verification does not wait for them) and are named in the steps record's `lost`, where they use up
  // maxUnavailable while gone and the next re-plan plans them again once they answer.
  // A promote that reaches nobody is a host lost after its standby was applied: verification (onHostLost).
  const absent = mode?.mode === 'promote' ? [] : hosts.filter((_, i) => sent[i] === 'absent').map((h) => h.hostId);
  const gone = new Set(absent.length > 0 ? await confirmGone(o, absent) : []);
  if (gone.size > 0 || hosts.length < record.hosts.length) {
    const kept = packBatch(hosts.filter((h) => !gone.has(h.hostId)));
    await withRetry(() => o.store.put('cutover', keys.batch(input.rolloutId, input.batch), kept), o.clock, signal);
    if (gone.size > 0) await noteLost(o, input.rolloutId, [...gone], signal);
  }
  return batches === undefined ? stamp(o.clock) : { ...stamp(o.clock), batches };
}
