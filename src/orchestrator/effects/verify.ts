// Verification: whether every host of a batch reached what it was sent (serving the hash, healthy for
// minReadyMs, within the error budget, or a verified standby), judged from the reports hosts already send
// and from inventories, level-triggered (every host re-read at least every period); a live host that shows
// no trace of its apply is sent its part again, through send.ts. And whether a rollback reached the stable
// revision. Owns the verdicts and the applyDeadlineMs timeout; it must not plan, write plan records, or call
// the client's `control` itself (every send goes through send.ts).
import { combine, verdict } from '../../../machines/rollout/plan';
import { namedHosts } from '../../../machines/rollout/conditions';
import type { BatchGate, BatchInput, Condition, StepInput, VerifyResult } from '../../../machines/rollout/types';
import type { HostInventory } from '../../protocol/inventory';
import { applyDeadlineOf } from '../../protocol/strategies';
import type { Strategy } from '../../protocol/strategy';
import type { AppRevision } from '../../protocol/spec';
import type { BatchRecord, ModeRecord } from '../records';
import { appWorkloads } from '../latticeClient';
import { reconcileThrough } from '../reconcile';
import { startBackground } from './analysis';
import { appliedAt, loadBatch, loadGate, loadMode, loadSteps, noteLost } from './batches';
import { type EffectContext, type RunContext, never, withRetry } from './context';
import { type SendScope, hostSend, openScope, sendBatchPart } from './send';

function gateRule(strategy: Strategy): { minReadyMs: number; maxErrorRate: number } {
  // The health gate applies to every strategy; a canary or blue-green without maxErrorRate has no error budget.
  return { minReadyMs: strategy.minReadyMs, maxErrorRate: strategy.maxErrorRate ?? 1 };
}

type Workload = HostInventory['components'][number] | undefined;

function workload(inv: HostInventory, kind: string, id: string): Workload {
  return inv.components.find((c) => c.id === id && c.kind === kind);
}

/** Where a host's unverified workloads stand, for a reason people read: `"api" downloading`. */
function describePending(inv: HostInventory, refs: ReadonlyArray<{ kind: string; id: string; hash: string }>): string {
  return refs
    .map((r) => {
      const w = workload(inv, r.kind, r.id);
      if (!w) return `"${r.id}" not present`;
      if (w.servingHash === r.hash) return `"${r.id}" ${w.status}`;
      return `"${r.id}" ${w.pending?.hash === r.hash ? (w.pending.phase ?? w.status) : `serving ${w.servingHash === undefined ? 'nothing' : 'another version'}`}`;
    })
    .join(', ');
}

/** True when a live host shows no sign of the apply it was sent: not serving it, not working on it, no outcome. */
function unapplied(
  w: HostInventory['components'][number] | undefined,
  hash: string,
  mode: ModeRecord | undefined,
): boolean {
  if (mode?.mode === 'promote') return w?.status === 'standby' && w.pending?.hash === hash;
  return w === undefined || (w.servingHash !== hash && w.pending?.hash !== hash && w.lastApply?.hash !== hash);
}

/** A `HostLost` condition naming `hosts` (`what` says when they were lost). */
export function hostLost(hosts: readonly string[], at: number, what: string): Condition {
  return {
    type: 'HostLost',
    status: true,
    reason: 'hostLost',
    message: `${hosts.length === 1 ? 'host' : 'hosts'} ${namedHosts(hosts)} stopped answering ${what}`,
    since: at,
    hosts: [...hosts],
  };
}

/** Transport flushes before a batch's first verification round, while host reports keep arriving. */
const SETTLE_ROUNDS = 8;

/** The `verifyBatch` effect: passes once every host of the batch is verified, fails on a host's failure or timeout. */
export async function verifyBatch(
  o: EffectContext,
  run: RunContext,
  input: BatchInput,
  signal: AbortSignal,
): Promise<VerifyResult> {
  const record = await withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal);
  const strategy = input.strategy;
  const rule = gateRule(strategy);
  const mode = await withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal);
  const standby = mode?.mode === 'standby';
  const remaining = new Map(record.hosts.map((h) => [h.hostId, h.apply]));
  const lostHosts = new Set<string>();
  // Progress is per host: each one verified pushes the deadline; the machine ignores a count it has seen.
  const verifiedHosts = () => record.hosts.length - remaining.size;
  const tell = () =>
    run.progress?.({
      at: o.clock.now(),
      verified: verifiedHosts() - lostHosts.size,
      unverified: { hosts: [...remaining.keys()].slice(0, 8), count: remaining.size },
    });
  const deadline =
    (await withRetry(() => appliedAt(o.store, input.rolloutId, input.batch, o.clock.now()), o.clock, signal)) +
    applyDeadlineOf(strategy);
  const lastSeen = new Map<string, string>();
  // Level-triggered: every host is re-read at least every `period`; in between, only hosts that reported.
  const period = rule.minReadyMs > 0 ? Math.min(o.pollMs, rule.minReadyMs) : o.pollMs;
  const checked = new Map<string, number>();
  let lastFull = Number.NEGATIVE_INFINITY;
  let resend: Promise<[AppRevision, SendScope]> | undefined;
  const resendContext = () =>
    Promise.all([
      withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal),
      openScope(o, run, input.app, signal),
    ]);
  const verifying = async (): Promise<VerifyResult> => {
    // Reports already on their way tell most hosts' outcome; let them land before the first round asks.
    await o.client.settleReports(SETTLE_ROUNDS);
    tell();
    while (!signal.aborted) {
      const before = remaining.size;
      const round = o.client.generation;
      const now = o.clock.now();
      const full = now - lastFull >= period;
      if (full) lastFull = now;
      const targets = [...remaining].filter(
        ([hostId]) => full || o.client.reportedAfter(hostId, checked.get(hostId) ?? -1),
      );
      const found: { failure: { code: string; reason: string } | null; lost: string | null } = {
        failure: null,
        lost: null,
      };
      const judge = (refs: BatchRecord['hosts'][number]['apply'], find: (kind: string, id: string) => Workload) =>
        combine(
          refs.map((r) => {
            const w = find(r.kind, r.id);
            // A verified standby: linked and instantiated beside the serving version, waiting for promote.
            if (standby && w?.status === 'standby' && w.pending?.hash === r.hash) return { status: 'passed' as const };
            return verdict(w, r.hash, rule, now);
          }),
        );
      await Promise.all(
        targets.map(async ([hostId, refs]) => {
          const previous = checked.get(hostId) ?? -1;
          checked.set(hostId, round);
          // A report the host sent since its last check and after it accepted its apply is as good as its
          // inventory for a decided workload (serving the hash, or failed): no need to ask the host again.
          const reported = o.client.reportedWorkloads(hostId, previous, refs);
          if (reported !== undefined) {
            const v = judge(refs, (kind, id) => reported.get(`${kind}:${id}`));
            if (v.status === 'failed') {
              found.failure ??= { code: v.code, reason: `host "${hostId}": ${v.reason}` };
              return;
            }
            if (v.status === 'passed') {
              remaining.delete(hostId);
              o.client.untrack(hostId);
              return;
            }
          }
          const inv = await o.client.inventory(hostId);
          if (!inv) {
            found.lost ??= hostId;
            lostHosts.add(hostId);
            o.client.forget(hostId);
            if (strategy.onHostLost === 'skip') remaining.delete(hostId);
            return;
          }
          const v = judge(refs, (kind, id) => workload(inv, kind, id));
          if (v.status === 'failed') found.failure ??= { code: v.code, reason: `host "${hostId}": ${v.reason}` };
          else if (v.status === 'passed') {
            remaining.delete(hostId);
            o.client.untrack(hostId);
          } else {
            lastSeen.set(hostId, describePending(inv, refs));
            // Level-triggered: an apply lost on its way (NATS delivers at most once, e.g. across a server
            // restart) leaves a live host without a trace of it; send that host its part again.
            if (full && refs.some((r) => unapplied(workload(inv, r.kind, r.id), r.hash, mode))) {
              const [target, scope] = await (resend ??= resendContext());
              await sendBatchPart(scope, input, { hostId, apply: refs }, target, mode);
            }
          }
        }),
      );
      const late = now >= deadline ? [...remaining.keys()][0] : undefined;
      if (found.failure === null && late !== undefined) {
        found.failure = {
          code: 'timeout',
          reason: `host "${late}": not verified within applyDeadlineMs ${applyDeadlineOf(strategy)} of its apply (${lastSeen.get(late) ?? 'no inventory'})`,
        };
      }
      const f = found.failure;
      const lost = found.lost;
      if (f !== null) {
        return {
          status: 'failed',
          at: o.clock.now(),
          code: f.code,
          reason: f.reason,
          ...(f.code === 'timeout'
            ? {
                conditions: [
                  {
                    type: 'ApplyDeadlineExceeded',
                    status: true,
                    reason: 'timeout',
                    message: f.reason,
                    since: o.clock.now(),
                    hosts: [...remaining.keys()].slice(0, 8),
                  },
                ],
              }
            : {}),
        };
      }
      if (lost !== null) {
        if (strategy.onHostLost === 'rollback') {
          return {
            status: 'failed',
            at: o.clock.now(),
            code: 'host.lost',
            reason: `host "${lost}" was lost`,
            conditions: [hostLost([lost], o.clock.now(), 'after its apply')],
          };
        }
      }
      if (remaining.size < before) tell();
      if (remaining.size === 0) {
        await startBackground(o, input, 'verified', signal);
        // Hosts gone before their batch (the plan left them out) or during it (onHostLost: skip) are named; a
        // skipped host is kept in the steps record, so it stays named until a re-plan finds it again. Once none
        // is gone (they answered a re-plan's ping and were planned again), HostLost clears.
        if (lostHosts.size > 0) await noteLost(o, input.rolloutId, [...lostHosts], signal);
        const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
        const gone = steps?.lost ?? [];
        const conditions = gone.length > 0 ? [hostLost(gone, o.clock.now(), 'during the rollout')] : [];
        const cleared = gone.length > 0 ? [] : ['HostLost'];
        if (steps?.placementOnly === true) {
          // A placement change runs no analysis and no canary step; a rolling strategy's pauses still hold.
          const pause = strategy.type === 'rolling' ? strategy.pauseAfterBatch : false;
          return { status: 'passed', at: o.clock.now(), conditions, cleared, gate: { pause, analysis: false } };
        }
        if (strategy.type === 'rolling') return { status: 'passed', at: o.clock.now(), conditions, cleared };
        const g = await loadGate(o.store, input.rolloutId, input.batch);
        const gate: BatchGate = { pause: g.pause, analysis: g.analyses.length > 0 };
        return { status: 'passed', at: o.clock.now(), conditions, cleared, gate };
      }
      await o.client.changed(period, signal, round);
    }
    return never(signal);
  };
  try {
    return await verifying();
  } finally {
    for (const h of record.hosts) o.client.untrack(h.hostId);
  }
}

/** The `verifyRollback` effect: reconciles toward the stable revision until every host is clean or one failed. */
export async function verifyRollback(
  o: EffectContext,
  run: RunContext,
  input: StepInput,
  signal: AbortSignal,
): Promise<VerifyResult> {
  const stable = input.stableVersion === null ? null : await o.loadRevision(input.app, input.stableVersion, false);
  const scope = await openScope(o, run, input.app, signal);
  // Hosts of the app seen during the rollback, and those lost earlier (the rollback's first ping found them
  // gone): one that does not answer a ping is named in HostLost.
  const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
  const before = new Set(steps?.lost ?? []);
  const dropped = new Set<string>();
  while (!signal.aborted) {
    const round = o.client.generation;
    const inventories = await o.client.ping();
    const answering = new Set(inventories.map((i) => i.hostId));
    for (const h of before) if (!answering.has(h)) dropped.add(h);
    for (const inv of inventories) if (appWorkloads(inv, input.app).length > 0) before.add(inv.hostId);
    const r = await reconcileThrough(o.client, input.app, stable, hostSend(scope), { send: true, inventories });
    for (const h of r.lost) dropped.add(h);
    const lost = [...dropped].filter((h) => !answering.has(h) || r.lost.includes(h)).sort();
    const conditions = lost.length > 0 ? [hostLost(lost, o.clock.now(), 'during the rollback')] : [];
    if (r.failed) {
      return {
        status: 'failed',
        at: o.clock.now(),
        code: r.failed.code,
        reason: `host "${r.failed.hostId}": ${r.failed.reason}`,
        conditions,
      };
    }
    if (r.clean) return { status: 'passed', at: o.clock.now(), conditions };
    await o.client.changed(o.pollMs, signal, round);
  }
  return never(signal);
}
