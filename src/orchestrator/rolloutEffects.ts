// The effects of a rollout, supplied to the machine with provide(). Every effect is idempotent and
// level-triggered from host inventories, so a rollout restored after a crash simply runs them again.
import { fromPromise } from 'xstate';
import type { z } from 'zod';
import { analysisVerdict, nextMeasurementAt } from '../../machines/rollout/analysisVerdict';
import { blueGreenSchedule } from '../../machines/rollout/blueGreen';
import { type CanarySchedule, canarySchedule } from '../../machines/rollout/canary';
import { checkGuardrails, guardrailWorkloads } from '../../machines/rollout/guardrails';
import {
  type CurrentPlacement,
  type HostInfo,
  type Placement,
  combine,
  errorRate,
  needsApply,
  place,
  planBatches,
  verdict,
} from '../../machines/rollout/plan';
import type {
  AnalysisResult,
  BatchApplied,
  BatchGate,
  BatchInput,
  DeadlineInput,
  FinalInput,
  PlanSummary,
  Stamp,
  StepInput,
  VerifyResult,
} from '../../machines/rollout/types';
import { CutoverError, isCutoverError } from '../errors';
import { type Clock, waitUntil } from '../ports/clock';
import type { StateStore } from '../ports/store';
import type { AnalysisProvider } from '../ports/analysis';
import type { HostInventory } from '../protocol/inventory';
import {
  type AnalysisMeasurement,
  type AnalysisSpec,
  type BackgroundAnalysis,
  type BlueGreenStrategy,
  type CanaryStrategy,
  type OnConflict,
  analysisMetric,
} from '../protocol/strategies';
import type { Strategy } from '../protocol/strategy';
import { parseWith } from '../protocol/decode';
import { sha256Hex } from '../protocol/hash';
import type { AppRevision, ComponentSpec } from '../protocol/spec';
import type { RolloutOutcome } from '../protocol/rollout';
import type { LatticeClient } from './latticeClient';
import type { Persister } from './persister';
import { createWebhookProvider, errorRateProvider, latencyP99Provider } from './analysis';
import { observe, reconcile, specOf } from './reconcile';
import {
  AnalysisRunRecord,
  AppliedRecord,
  type AppRecord,
  type BatchRecord,
  type ConfigRecord,
  type DesiredRecord,
  GateRecord,
  ModeRecord,
  type StableRecord,
  StepsRecord,
  StoredBatchRecord,
  keyToken,
  keys,
  packBatch,
  unpackBatch,
} from './records';
import type { ScalerHolds } from './scalers';

/** What effects need from the orchestrator. */
export interface EffectContext {
  store: StateStore;
  client: LatticeClient;
  clock: Clock;
  scalers: ScalerHolds;
  pollMs: number;
  leaseToken(app: string): Promise<number>;
  loadRevision(app: string, version: string, pin: boolean): Promise<AppRevision>;
  recordHistory(
    app: string,
    rolloutId: string,
    outcome: RolloutOutcome | 'inProgress',
    reason: string | null,
  ): Promise<void>;
  publish(rolloutId: string, value: unknown): void;
}

/** What effects need from the one rollout they serve. */
export interface RunContext {
  supersedes: string | null;
  persister: Persister;
}

const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

async function withRetry<T>(fn: () => Promise<T>, clock: Clock, signal: AbortSignal, attempts = 8): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || signal.aborted || !(isCutoverError(e) && e.retryable)) throw e;
      await waitUntil(clock, clock.now() + Math.min(50 * 2 ** i, 5_000), signal);
    }
  }
}

async function loadBatch(store: StateStore, rolloutId: string, batch: number): Promise<BatchRecord> {
  const e = await store.get('cutover', keys.batch(rolloutId, batch));
  if (!e) throw new CutoverError('plan.invalid', `batch ${batch} of rollout "${rolloutId}" is missing`);
  return unpackBatch(parseWith(StoredBatchRecord, e.value, 'plan.invalid', `batch ${batch} of rollout "${rolloutId}"`));
}

async function loadGate(store: StateStore, rolloutId: string, batch: number): Promise<GateRecord> {
  const e = await store.get('cutover', keys.gate(rolloutId, batch));
  if (!e) return { schema: 1, pause: false, analyses: [] };
  return parseWith(GateRecord, e.value, 'plan.invalid', `gate ${batch} of rollout "${rolloutId}"`);
}

async function loadMode(store: StateStore, rolloutId: string, batch: number): Promise<ModeRecord | undefined> {
  const e = await store.get('cutover', keys.mode(rolloutId, batch));
  if (!e) return undefined;
  return parseWith(ModeRecord, e.value, 'plan.invalid', `mode ${batch} of rollout "${rolloutId}"`);
}

async function loadSteps(store: StateStore, rolloutId: string): Promise<StepsRecord | undefined> {
  const e = await store.get('cutover', keys.steps(rolloutId));
  if (!e) return undefined;
  return parseWith(StepsRecord, e.value, 'plan.invalid', `steps of rollout "${rolloutId}"`);
}

/** When batch `batch` was first applied; written by its first apply and never moved. */
async function appliedAt(store: StateStore, rolloutId: string, batch: number, now: number): Promise<number> {
  const key = keys.applied(rolloutId, batch);
  const e = await store.get('cutover', key);
  if (e) return parseWith(AppliedRecord, e.value, 'plan.invalid', `apply time of batch ${batch}`).at;
  const record: AppliedRecord = { schema: 1, at: now };
  await store.put('cutover', key, record);
  return now;
}

async function loadRun(store: StateStore, key: string): Promise<AnalysisRunRecord | undefined> {
  const e = await store.get('cutover', key);
  if (!e) return undefined;
  return parseWith(AnalysisRunRecord, e.value, 'plan.invalid', `analysis run "${key}"`);
}

/** Ids a host diff places (installed, upgraded or kept). */
const placedIds = (
  diff: { install: { id: string }[]; upgrade: { id: string }[]; keep: { id: string }[] } | undefined,
) => [...(diff?.install ?? []), ...(diff?.upgrade ?? []), ...(diff?.keep ?? [])].map((w) => w.id);

/** A digest of a set of host ids, independent of order. */
function hostsDigest(ids: Iterable<string>): string {
  return sha256Hex([...ids].sort().join('\n'));
}

/** Each host's workloads before (what it runs of the stable revision) and after (the target's placement). */
function guardrailHosts(
  target: AppRevision,
  stable: AppRevision | null,
  hosts: readonly HostInfo[],
  current: CurrentPlacement,
  placement: Placement,
) {
  // Hosts running the same workloads share one list (read only): 10,000 hosts are usually a handful of shapes.
  const memo = (revision: AppRevision) => {
    const lists = new Map<string, ReturnType<typeof guardrailWorkloads>>();
    return (ids: string[]) => {
      const key = ids.join('\n');
      let list = lists.get(key);
      if (list === undefined) lists.set(key, (list = guardrailWorkloads(revision, ids)));
      return list;
    };
  };
  const before = stable === null ? undefined : memo(stable);
  const after = memo(target);
  return hosts.map((h) => ({
    hostId: h.hostId,
    from: before === undefined ? [] : before(Object.keys(current[h.hostId] ?? {})),
    to: after(placedIds(placement.hosts[h.hostId])),
  }));
}

/**
 * An in-place upgrade turns added links that contend with old ones into swaps under the gate (on the
 * host); what no ordering resolves (both holders in the new version, or held by a workload that stays)
 * refuses the plan with `plan.conflict` before any host is touched.
 */
function checkInPlace(
  input: StepInput,
  onConflict: OnConflict,
  target: AppRevision,
  hosts: readonly HostInfo[],
  current: CurrentPlacement,
  placement: Placement,
  stable: AppRevision | null,
): void {
  checkGuardrails(
    {
      fromVersion: input.stableVersion ?? input.targetVersion,
      toVersion: input.targetVersion,
      coexistence: 'inPlace',
      hosts: guardrailHosts(target, stable, hosts, current, placement),
    },
    onConflict,
  );
}

function gateRule(strategy: Strategy): { minReadyMs: number; maxErrorRate: number } {
  // A canary's error budget is its analysis; its health gate is the host's verdict alone.
  return strategy.type === 'rolling'
    ? { minReadyMs: strategy.minReadyMs, maxErrorRate: strategy.maxErrorRate }
    : { minReadyMs: 0, maxErrorRate: 1 };
}

const providers: Record<'errorRate' | 'latencyP99', AnalysisProvider> = {
  errorRate: errorRateProvider,
  latencyP99: latencyP99Provider,
};

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

/** Transport flushes before a batch's first verification round, while host reports keep arriving. */
const SETTLE_ROUNDS = 8;

/** The effects of one rollout as plain async functions (input, abort signal) → output. */
export function rolloutEffectFunctions(o: EffectContext, run: RunContext) {
  const stamp = (): Stamp => ({ at: o.clock.now() });

  // `count` measurements `intervalMs` apart, each over the window since the one before, judged by
  // analysisVerdict. The run lives in the store under `key`: its start is an absolute instant and every
  // measurement is kept, so a restarted orchestrator continues the schedule instead of starting over.
  const runAnalysis = async (
    input: StepInput,
    spec: AnalysisSpec | BackgroundAnalysis,
    hashes: string[],
    key: string,
    signal: AbortSignal,
  ): Promise<AnalysisResult> => {
    const provider = spec.provider === 'webhook' ? createWebhookProvider() : providers[spec.provider];
    const name = spec.name ?? analysisMetric(spec);
    const save = (r: AnalysisRunRecord) => withRetry(() => o.store.put('cutover', key, r), o.clock, signal);
    let run = await withRetry(() => loadRun(o.store, key), o.clock, signal);
    if (run === undefined) {
      run = { schema: 1, startedAt: o.clock.now(), measurements: [] };
      await save(run);
    }
    const judged = (measurements: AnalysisMeasurement[]): AnalysisResult | undefined => {
      const v = analysisVerdict(spec, measurements);
      if (v.status === 'failed')
        return { status: 'failed', ...stamp(), reason: `analysis "${name}" failed: ${v.reason}` };
      if (v.status === 'inconclusive')
        return { status: 'inconclusive', ...stamp(), reason: `analysis "${name}" inconclusive: ${v.reason}` };
      if (v.status === 'successful') return { status: 'passed', ...stamp() };
      return undefined;
    };
    let windowStart = o.clock.now();
    let baseline = await o.client.ping();
    for (;;) {
      const decided = judged(run.measurements);
      if (decided) return decided;
      let at = nextMeasurementAt(spec, run.startedAt, run.measurements.length);
      if (at === null) return { status: 'passed', ...stamp() };
      // Due before this window opened (the orchestrator was down): the figures of that window are gone,
      // so this measurement covers a full interval from now.
      if (at <= windowStart) at = windowStart + spec.intervalMs;
      await waitUntil(o.clock, at, signal);
      if (signal.aborted) return never(signal);
      const now = await o.client.ping();
      let m: AnalysisMeasurement;
      try {
        m = await provider.measure({
          app: input.app,
          revision: input.targetVersion,
          hash: hashes[0] ?? '',
          hashes,
          hosts: now,
          baseline,
          metric: analysisMetric(spec),
          spec,
          signal,
        });
      } catch (e) {
        m = { error: e instanceof Error ? e.message : String(e) };
      }
      run = { ...run, measurements: [...run.measurements, m] };
      await save(run);
      baseline = now;
      windowStart = o.clock.now();
    }
  };

  /** Spec hashes of the target revision (what an analysis measures). */
  const targetHashes = async (input: StepInput) => {
    const target = await o.loadRevision(input.app, input.targetVersion, false);
    return [...new Set(Object.values(place(target, [], {}).hashes))];
  };

  /** Starts the canary's background analysis when `batch` reached `when` (once; the run record is the fact). */
  const startBackground = async (input: BatchInput, when: 'applied' | 'verified', signal: AbortSignal) => {
    if (input.strategy.type !== 'canary' || input.strategy.backgroundAnalysis === undefined || input.firstDeploy)
      return;
    const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
    const at = steps?.backgroundStart;
    if (at === undefined || at.when !== when || at.batch !== input.batch) return;
    const key = keys.analysis(input.rolloutId, 'background');
    if (await withRetry(() => loadRun(o.store, key), o.clock, signal)) return;
    const run: AnalysisRunRecord = { schema: 1, startedAt: o.clock.now(), measurements: [] };
    await withRetry(() => o.store.put('cutover', key, run), o.clock, signal);
  };

  /** Canary batches from `fromStep` on against the hosts now, written from batch `firstBatch` on. */
  const writeCanary = async (
    input: StepInput,
    strategy: CanaryStrategy,
    target: AppRevision,
    fromStep: number,
    firstBatch: number,
    previous: StepsRecord | undefined,
    signal: AbortSignal,
  ): Promise<{ batches: string[][]; placement: Placement; schedule: CanarySchedule }> => {
    const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
    const placement = place(target, hosts, current);
    const placed = hosts.filter((h) => placement.hosts[h.hostId] !== undefined);
    checkInPlace(input, strategy.onConflict, target, hosts, current, placement, await stableOf(input));
    const wanted = new Set(Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h])));
    const schedule = canarySchedule(strategy, placed, {
      firstDeploy: input.stableVersion === null,
      done: placed.filter((h) => !wanted.has(h.hostId)).map((h) => h.hostId),
      fromStep,
      firstBatch,
      chunk: (ids) =>
        planBatches(ids, placed, {
          hostOrder: strategy.hostOrder,
          maxParallel: strategy.maxParallel,
          maxUnavailable: strategy.maxUnavailable,
        }),
    });
    if (firstBatch > 0) {
      const seen = new Set(hosts.map((h) => h.hostId));
      const vanished = await vanishedFrom(input.rolloutId, firstBatch, seen, signal);
      schedule.batches = orEmpty(withVanished(schedule.batches, vanished));
    }
    const gateWrites = schedule.batches.map((_, i) => {
      const g = schedule.gates.get(firstBatch + i);
      const gate: GateRecord = { schema: 1, pause: g?.pause ?? false, analyses: g?.analyses ?? [] };
      return o.store.put('cutover', keys.gate(input.rolloutId, firstBatch + i), gate);
    });
    await Promise.all([
      ...gateWrites,
      writeBatches(input.rolloutId, schedule.batches, placement, firstBatch),
      withRetry(() => writeTotal(input.rolloutId, firstBatch + schedule.batches.length), o.clock, signal),
    ]);
    const steps: StepsRecord = {
      schema: 1,
      starts: [...(previous?.starts ?? []).filter((s) => s.batch < firstBatch), ...schedule.starts],
      replanned: [...(previous?.replanned ?? []), ...(fromStep === 0 && firstBatch === 0 ? [] : [firstBatch])],
      ...(schedule.backgroundStart !== undefined
        ? { backgroundStart: schedule.backgroundStart }
        : previous?.backgroundStart !== undefined
          ? { backgroundStart: previous.backgroundStart }
          : {}),
    };
    // Written last: a crash before it re-plans again from the same inventories.
    await o.store.put('cutover', keys.steps(input.rolloutId), steps);
    return { batches: schedule.batches, placement, schedule };
  };

  const writeBatches = (rolloutId: string, batches: string[][], placement: Placement, firstBatch = 0) =>
    Promise.all(
      batches.map((hostIds, i) => {
        const record = packBatch(
          hostIds.map((hostId) => {
            const d = placement.hosts[hostId];
            return { hostId, apply: d ? [...d.install, ...d.upgrade] : [] };
          }),
        );
        return o.store.put('cutover', keys.batch(rolloutId, firstBatch + i), record);
      }),
    );

  // Standby beside active on the preview hosts first (pre-promotion analysis, then the promote pause),
  // standby on the rest, then one batch that promotes every standby at once (post-promotion analysis).
  const planBlueGreen = async (
    input: StepInput,
    strategy: BlueGreenStrategy,
    target: AppRevision,
    stable: AppRevision | null,
    hosts: HostInfo[],
    current: CurrentPlacement,
    placement: Placement,
    candidates: string[],
  ): Promise<string[][]> => {
    const limits = { hostOrder: strategy.hostOrder, maxParallel: strategy.maxParallel };
    if (input.stableVersion === null || stable === null) {
      // A first deploy has nothing to stand beside.
      checkInPlace(input, 'fail', target, hosts, current, placement, null);
      return planBatches(candidates, hosts, limits);
    }
    const decision = checkGuardrails(
      {
        fromVersion: input.stableVersion,
        toVersion: input.targetVersion,
        coexistence: 'standby',
        hosts: guardrailHosts(target, stable, hosts, current, placement),
      },
      strategy.onConflict,
    );
    // A conflict with onConflict "rolling" upgrades in place.
    if (decision.strategy !== 'asPlanned') return planBatches(candidates, hosts, limits);
    const { standby, lastPreview, promote } = blueGreenSchedule(strategy, candidates, hosts);
    if (promote.length === 0) return [];
    const promoteAt = standby.length;
    const pause = !strategy.autoPromote
      ? {}
      : strategy.autoPromoteAfterMs === undefined
        ? (false as const)
        : { durationMs: strategy.autoPromoteAfterMs };
    const records: Array<Promise<unknown>> = [];
    for (let i = 0; i <= promoteAt; i++) {
      const mode: ModeRecord = {
        schema: 1,
        mode: i < promoteAt ? 'standby' : 'promote',
        keepOldForMs: strategy.keepOldForMs,
      };
      const analyses =
        i === lastPreview && strategy.prePromotionAnalysis !== undefined
          ? [strategy.prePromotionAnalysis]
          : i === promoteAt && strategy.postPromotionAnalysis !== undefined
            ? [strategy.postPromotionAnalysis]
            : [];
      const gate: GateRecord = { schema: 1, pause: i === lastPreview ? pause : false, analyses };
      records.push(o.store.put('cutover', keys.mode(input.rolloutId, i), mode));
      records.push(o.store.put('cutover', keys.gate(input.rolloutId, i), gate));
    }
    await Promise.all(records);
    return [...standby, promote];
  };

  // A rolling batch is a step: the rest of the rollout is re-planned against the hosts there are when
  // it begins (maxParallel and maxUnavailable follow the host count, hosts that became unavailable go
  // first, hosts that joined are included). Once per batch: the marker makes a resumed apply reuse it.
  const replanRolling = async (
    input: BatchInput,
    strategy: Extract<Strategy, { type: 'rolling' }>,
    signal: AbortSignal,
  ): Promise<number | undefined> => {
    const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
    // Re-planned before a restart: the machine's count may predate it, the stored total does not.
    if (steps?.replanned.includes(input.batch)) return storedTotal(input.rolloutId, signal);
    // The host set as the orchestrator knows it (pings, and heartbeats: a host sends one when it starts).
    // Unchanged since the last plan: that plan stands, and a 10,000-host rollout is not re-pinged per batch.
    if (steps?.hostsDigest === hostsDigest(o.client.known.keys())) return undefined;
    const target = await withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal);
    const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
    const placement = place(target, hosts, current);
    const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
    const vanished = await vanishedFrom(input.rolloutId, input.batch, new Set(hosts.map((h) => h.hostId)), signal);
    const batches = orEmpty(withVanished(planBatches(candidates, hosts, strategy), vanished));
    await writeBatches(input.rolloutId, batches, placement, input.batch);
    await withRetry(() => writeTotal(input.rolloutId, input.batch + batches.length), o.clock, signal);
    const record: StepsRecord = {
      schema: 1,
      starts: [],
      replanned: [...(steps?.replanned ?? []), input.batch].slice(-64),
      hostsDigest: hostsDigest(hosts.map((h) => h.hostId)),
    };
    await withRetry(() => o.store.put('cutover', keys.steps(input.rolloutId), record), o.clock, signal);
    return input.batch + batches.length;
  };

  // Hosts the plan so far still meant to move from `batch` on but that no longer answer: a re-plan keeps
  // them at the front of its first batch, so verification applies onHostLost to them as to any lost host.
  const vanishedFrom = async (rolloutId: string, batch: number, seen: ReadonlySet<string>, signal: AbortSignal) => {
    const total = await storedTotal(rolloutId, signal);
    if (total === undefined) return [];
    const out: string[] = [];
    for (let b = batch; b < total; b++) {
      const record = await withRetry(() => loadBatch(o.store, rolloutId, b), o.clock, signal);
      for (const h of record.hosts) if (!seen.has(h.hostId)) out.push(h.hostId);
    }
    return out;
  };
  const withVanished = (batches: string[][], vanished: string[]) =>
    vanished.length === 0 ? batches : [[...vanished, ...(batches[0] ?? [])], ...batches.slice(1)];
  const writeTotal = (rolloutId: string, batches: number) =>
    o.store.put('cutover', keys.plan(rolloutId), { schema: 1, batches });
  const storedTotal = async (rolloutId: string, signal: AbortSignal): Promise<number | undefined> => {
    const plan = await withRetry(() => o.store.get('cutover', keys.plan(rolloutId)), o.clock, signal);
    const total = (plan?.value as { batches?: unknown } | undefined)?.batches;
    return typeof total === 'number' ? total : undefined;
  };
  // A re-plan that finds nothing left keeps its first batch, empty: it ends the rollout.
  const orEmpty = (batches: string[][]) => (batches.length > 0 ? batches : [[]]);

  const stableOf = (input: StepInput) =>
    input.stableVersion === null ? Promise.resolve(null) : o.loadRevision(input.app, input.stableVersion, false);

  /**
   * Sends one host its part of a batch. No inventory read first: an apply of the hash a host serves (or has in
   * flight) is answered at once and redoes nothing, so a verified host is never re-applied on resume. A host
   * that does not answer is left to verification (onHostLost).
   */
  const sendToHost = async (
    input: BatchInput,
    h: BatchRecord['hosts'][number],
    target: AppRevision,
    token: number,
    mode: ModeRecord | undefined,
  ): Promise<void> => {
    const refs = [...h.apply].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'provider' ? -1 : 1));
    for (const ref of refs) {
      const spec = specOf(target, ref.kind, ref.id);
      if (!spec) throw new CutoverError('plan.invalid', `"${ref.id}" is not in revision "${input.targetVersion}"`);
      try {
        if (mode?.mode === 'promote') {
          if (ref.kind !== 'component') continue;
          await o.client
            .control(h.hostId, input.app, token, {
              type: 'component.promote',
              componentId: ref.id,
              keepOldForMs: mode.keepOldForMs,
            })
            // Nothing to promote (installed fresh, or promoted before a restart): verification decides.
            .catch((e: unknown) => {
              if (!isCutoverError(e) || e.code !== 'rollout.invalidCommand') throw e;
            });
          continue;
        }
        await o.client.control(
          h.hostId,
          input.app,
          token,
          ref.kind === 'component'
            ? {
                type: 'component.apply',
                spec: spec as ComponentSpec,
                ...(mode?.mode === 'standby' ? { mode: 'standby' as const } : {}),
              }
            : { type: 'provider.apply', spec },
        );
      } catch (e) {
        // Lost: verification applies onHostLost.
        if (isCutoverError(e) && (e.code === 'transport.noResponders' || e.code === 'transport.timeout')) return;
        throw e;
      }
    }
  };

  return {
    suspendScalers: async (input: StepInput, signal: AbortSignal): Promise<Stamp> => {
      await withRetry(() => o.scalers.suspend(input.app, input.rolloutId, run.supersedes), o.clock, signal);
      return stamp();
    },

    markUpgrading: async (input: StepInput, signal: AbortSignal): Promise<Stamp> => {
      const record: AppRecord = {
        schema: 1,
        app: input.app,
        phase: 'upgrading',
        rolloutId: input.rolloutId,
        targetVersion: input.targetVersion,
        stableVersion: input.stableVersion,
        at: o.clock.now(),
      };
      await withRetry(() => o.store.put('cutover', keys.app(input.app), record), o.clock, signal);
      await o.recordHistory(input.app, input.rolloutId, 'inProgress', null);
      return stamp();
    },

    planRollout: async (input: StepInput, signal: AbortSignal): Promise<PlanSummary> => {
      const target = await o.loadRevision(input.app, input.targetVersion, true);
      let batches: string[][];
      if (input.strategy.type === 'canary') {
        // Only the first step's hosts are final here; each later step is re-planned when it begins.
        batches = (await writeCanary(input, input.strategy, target, 0, 0, undefined, signal)).batches;
      } else {
        const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
        const placement = place(target, hosts, current);
        const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
        const stable = await stableOf(input);
        if (input.strategy.type === 'blueGreen') {
          batches = await planBlueGreen(input, input.strategy, target, stable, hosts, current, placement, candidates);
        } else {
          checkInPlace(input, 'fail', target, hosts, current, placement, stable);
          batches = planBatches(candidates, hosts, input.strategy);
          const steps: StepsRecord = {
            schema: 1,
            starts: [],
            replanned: [],
            hostsDigest: hostsDigest(hosts.map((h) => h.hostId)),
          };
          await o.store.put('cutover', keys.steps(input.rolloutId), steps);
        }
        await Promise.all([
          writeBatches(input.rolloutId, batches, placement),
          writeTotal(input.rolloutId, batches.length),
        ]);
      }
      return { ...stamp(), batches: batches.length, firstDeploy: input.stableVersion === null };
    },

    applyBatch: async (input: BatchInput, signal: AbortSignal): Promise<BatchApplied> => {
      // The snapshot naming this batch is durable before any host hears of it.
      await run.persister.flush();
      // A canary step's hosts are resolved when the step begins, against the hosts there are then.
      let batches: number | undefined;
      if (input.strategy.type === 'canary' && !input.firstDeploy && input.batch > 0) {
        const strategy = input.strategy;
        const steps = await withRetry(() => loadSteps(o.store, input.rolloutId), o.clock, signal);
        const begins = steps?.starts.find((x) => x.batch === input.batch);
        if (begins !== undefined && steps?.replanned.includes(input.batch)) {
          batches = await storedTotal(input.rolloutId, signal);
        } else if (begins !== undefined) {
          const target = await withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal);
          const r = await writeCanary(input, strategy, target, begins.step, input.batch, steps, signal);
          batches = input.batch + r.batches.length;
        }
      } else if (input.strategy.type === 'rolling' && input.batch > 0) {
        batches = await replanRolling(input, input.strategy, signal);
      }
      await startBackground(input, 'applied', signal);
      await withRetry(() => appliedAt(o.store, input.rolloutId, input.batch, o.clock.now()), o.clock, signal);
      // Store reads retry like writes: a store restart must not turn a healthy rollout into a rollback.
      const [record, target, token, mode] = await Promise.all([
        withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal),
        withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal),
        o.leaseToken(input.app),
        withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal),
      ]);
      o.client.track(record.hosts.map((h) => h.hostId));
      await Promise.all(record.hosts.map((h) => sendToHost(input, h, target, token, mode)));
      return batches === undefined ? stamp() : { ...stamp(), batches };
    },

    verifyBatch: async (input: BatchInput, signal: AbortSignal): Promise<VerifyResult> => {
      const record = await withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal);
      const strategy = input.strategy;
      const rule = gateRule(strategy);
      const mode = await withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal);
      const standby = mode?.mode === 'standby';
      const remaining = new Map(record.hosts.map((h) => [h.hostId, h.apply]));
      const conditions: string[] = [];
      const deadline =
        (await withRetry(() => appliedAt(o.store, input.rolloutId, input.batch, o.clock.now()), o.clock, signal)) +
        strategy.applyDeadlineMs;
      const lastSeen = new Map<string, string>();
      // Level-triggered: every host is re-read at least every `period`; in between, only hosts that reported.
      const period = rule.minReadyMs > 0 ? Math.min(o.pollMs, rule.minReadyMs) : o.pollMs;
      const checked = new Map<string, number>();
      let lastFull = Number.NEGATIVE_INFINITY;
      let resend: Promise<[AppRevision, number]> | undefined;
      const resendContext = () =>
        Promise.all([
          withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal),
          o.leaseToken(input.app),
        ]);
      const verifying = async (): Promise<VerifyResult> => {
        // Reports already on their way tell most hosts' outcome; let them land before the first round asks.
        await o.client.settleReports(SETTLE_ROUNDS);
        while (!signal.aborted) {
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
                if (standby && w?.status === 'standby' && w.pending?.hash === r.hash)
                  return { status: 'passed' as const };
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
                  const [target, token] = await (resend ??= resendContext());
                  await sendToHost(input, { hostId, apply: refs }, target, token, mode);
                }
              }
            }),
          );
          const late = now >= deadline ? [...remaining.keys()][0] : undefined;
          if (found.failure === null && late !== undefined) {
            found.failure = {
              code: 'timeout',
              reason: `host "${late}": not verified within applyDeadlineMs ${strategy.applyDeadlineMs} of its apply (${lastSeen.get(late) ?? 'no inventory'})`,
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
              ...(f.code === 'timeout' ? { conditions: ['ApplyDeadlineExceeded'] } : {}),
            };
          }
          if (lost !== null) {
            if (strategy.onHostLost === 'rollback') {
              return {
                status: 'failed',
                at: o.clock.now(),
                code: 'host.lost',
                reason: `host "${lost}" was lost`,
                conditions: ['HostLost'],
              };
            }
            if (!conditions.includes('HostLost')) conditions.push('HostLost');
          }
          if (remaining.size === 0) {
            await startBackground(input, 'verified', signal);
            if (strategy.type === 'rolling') return { status: 'passed', at: o.clock.now(), conditions };
            const g = await loadGate(o.store, input.rolloutId, input.batch);
            const gate: BatchGate = { pause: g.pause, analysis: g.analyses.length > 0 };
            return { status: 'passed', at: o.clock.now(), conditions, gate };
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
    },

    analyze: async (input: BatchInput, signal: AbortSignal): Promise<AnalysisResult> => {
      if (input.strategy.type !== 'rolling') {
        const gate = await withRetry(() => loadGate(o.store, input.rolloutId, input.batch), o.clock, signal);
        const hashes = await targetHashes(input);
        for (const [i, spec] of gate.analyses.entries()) {
          const r = await runAnalysis(
            input,
            spec,
            hashes,
            keys.analysis(input.rolloutId, `b${input.batch}.a${i}`),
            signal,
          );
          if (r.status !== 'passed') return r;
        }
        return { status: 'passed', ...stamp(), gate: { pause: gate.pause, analysis: false } };
      }
      const analysis = input.strategy.type === 'rolling' ? input.strategy.analysis : undefined;
      if (!analysis) return { status: 'passed', ...stamp() };
      const target = await o.loadRevision(input.app, input.targetVersion, false);
      const hashes = new Set(Object.values(place(target, [], {}).hashes));
      const counters = (await o.client.ping()).flatMap((inv) =>
        inv.components
          .filter((c) => c.app === input.app && c.servingHash !== undefined && hashes.has(c.servingHash))
          .map((c) => (c.servingHash === undefined ? undefined : c.gate?.byHash[c.servingHash])),
      );
      const r = errorRate(counters, analysis.minSamples);
      if (r === null)
        return { status: 'inconclusive', ...stamp(), reason: `fewer than ${analysis.minSamples} answered invocations` };
      if (r.rate > analysis.maxErrorRate) {
        return {
          status: 'failed',
          ...stamp(),
          reason: `error rate ${r.rate.toFixed(3)} over ${analysis.maxErrorRate} (${r.errors}/${r.answered})`,
        };
      }
      return { status: 'passed', ...stamp() };
    },

    backgroundAnalysis: async (input: BatchInput, signal: AbortSignal): Promise<AnalysisResult> => {
      const strategy = input.strategy;
      if (strategy.type !== 'canary' || strategy.backgroundAnalysis === undefined || input.firstDeploy) {
        return never(signal);
      }
      const spec = strategy.backgroundAnalysis;
      const key = keys.analysis(input.rolloutId, 'background');
      // Started by the batch the plan names (a durable record), so a restart neither loses nor repeats it.
      while ((await withRetry(() => loadRun(o.store, key), o.clock, signal)) === undefined) {
        await waitUntil(o.clock, o.clock.now() + o.pollMs, signal);
        if (signal.aborted) return never(signal);
      }
      const r = await runAnalysis(input, spec, await targetHashes(input), key, signal);
      // Passed (its count taken): nothing more to say while the steps go on.
      return r.status === 'passed'
        ? never(signal)
        : { ...r, reason: r.reason.replace(/^analysis/, 'background analysis') };
    },

    complete: async (input: FinalInput, signal: AbortSignal): Promise<Stamp> => {
      const target = await o.loadRevision(input.app, input.targetVersion, false);
      const at = o.clock.now();
      const desired = {
        schema: 1 as const,
        app: input.app,
        version: target.version,
        components: target.components.map((c) => c.spec),
        providers: target.providers.map((p) => p.spec),
        links: target.links,
        at,
      } satisfies z.input<typeof DesiredRecord>;
      await withRetry(() => o.store.put('latticedata', keys.desired(input.app), desired), o.clock, signal);
      const wanted = new Set<string>();
      for (const w of [...target.components, ...target.providers]) {
        const key = keys.config(input.app, w.spec.id);
        wanted.add(key);
        const value: z.input<typeof ConfigRecord> = { schema: 1, app: input.app, id: w.spec.id, config: w.spec.config };
        await withRetry(() => o.store.put('configdata', key, value), o.clock, signal);
      }
      for (const key of await o.store.keys('configdata', `app.${keyToken(input.app)}.`)) {
        if (!wanted.has(key)) await o.store.delete('configdata', key);
      }
      const stable: StableRecord = { schema: 1, version: target.version, rolloutId: input.rolloutId, at };
      await withRetry(() => o.store.put('cutover', keys.stable(input.app), stable), o.clock, signal);
      // Remove what the revision dropped; bounded, the scaler finishes anything a lost host still runs.
      const token = await o.leaseToken(input.app);
      for (let round = 0; round < 50 && !signal.aborted; round++) {
        const since = o.client.generation;
        const r = await reconcile(o.client, input.app, target, token, { send: true });
        if (Object.values(r.placement.hosts).every((d) => d.remove.length === 0)) break;
        await o.client.changed(o.pollMs, signal, since);
      }
      return stamp();
    },

    rollback: async (input: StepInput, _signal: AbortSignal): Promise<Stamp> => {
      const stable = input.stableVersion === null ? null : await o.loadRevision(input.app, input.stableVersion, false);
      await reconcile(o.client, input.app, stable, await o.leaseToken(input.app), { send: true });
      return stamp();
    },

    verifyRollback: async (input: StepInput, signal: AbortSignal): Promise<VerifyResult> => {
      const stable = input.stableVersion === null ? null : await o.loadRevision(input.app, input.stableVersion, false);
      const token = await o.leaseToken(input.app);
      while (!signal.aborted) {
        const round = o.client.generation;
        const r = await reconcile(o.client, input.app, stable, token, { send: true });
        const conditions = r.lost.length > 0 ? ['HostLost'] : [];
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
    },

    resumeScalers: async (input: FinalInput, signal: AbortSignal): Promise<Stamp> => {
      await withRetry(() => o.scalers.resume(input.app, input.rolloutId), o.clock, signal, 20);
      const phase =
        input.outcome === 'completed' ? 'deployed' : input.outcome === 'superseded' ? 'upgrading' : input.outcome;
      const stableVersion = input.outcome === 'completed' ? input.targetVersion : input.stableVersion;
      const record: AppRecord = {
        schema: 1,
        app: input.app,
        phase,
        rolloutId: input.rolloutId,
        targetVersion: input.targetVersion,
        stableVersion,
        at: o.clock.now(),
      };
      await withRetry(() => o.store.put('cutover', keys.app(input.app), record), o.clock, signal, 20);
      return stamp();
    },

    deadline: async (input: DeadlineInput, signal: AbortSignal): Promise<Stamp> => {
      if (!Number.isFinite(input.at)) return never(signal);
      await waitUntil(o.clock, input.at, signal);
      if (signal.aborted) return never(signal);
      return { at: input.at };
    },
  };
}

/** The actor implementations for one rollout, for `rolloutMachine.provide({ actors })`. */
export function rolloutEffects(o: EffectContext, run: RunContext) {
  const f = rolloutEffectFunctions(o, run);
  return {
    suspendScalers: fromPromise<Stamp, StepInput>(({ input, signal }) => f.suspendScalers(input, signal)),
    markUpgrading: fromPromise<Stamp, StepInput>(({ input, signal }) => f.markUpgrading(input, signal)),
    planRollout: fromPromise<PlanSummary, StepInput>(({ input, signal }) => f.planRollout(input, signal)),
    applyBatch: fromPromise<BatchApplied, BatchInput>(({ input, signal }) => f.applyBatch(input, signal)),
    verifyBatch: fromPromise<VerifyResult, BatchInput>(({ input, signal }) => f.verifyBatch(input, signal)),
    analyze: fromPromise<AnalysisResult, BatchInput>(({ input, signal }) => f.analyze(input, signal)),
    backgroundAnalysis: fromPromise<AnalysisResult, BatchInput>(({ input, signal }) =>
      f.backgroundAnalysis(input, signal),
    ),
    complete: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.complete(input, signal)),
    rollback: fromPromise<Stamp, StepInput>(({ input, signal }) => f.rollback(input, signal)),
    verifyRollback: fromPromise<VerifyResult, StepInput>(({ input, signal }) => f.verifyRollback(input, signal)),
    resumeScalers: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.resumeScalers(input, signal)),
    deadline: fromPromise<Stamp, DeadlineInput>(({ input, signal }) => f.deadline(input, signal)),
  };
}
