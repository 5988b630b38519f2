// The effects of a rollout, supplied to the machine with provide(). Every effect is idempotent and
// level-triggered from host inventories, so a rollout restored after a crash simply runs them again.
import { fromPromise } from 'xstate';
import type { z } from 'zod';
import { analysisVerdict, nextMeasurementAt } from '../../machines/rollout/analysisVerdict';
import { planCanary } from '../../machines/rollout/canary';
import { checkGuardrails, guardrailWorkloads } from '../../machines/rollout/guardrails';
import { combine, errorRate, needsApply, place, planBatches, verdict } from '../../machines/rollout/plan';
import type {
  AnalysisResult,
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
import { type AnalysisMeasurement, type AnalysisSpec, analysisMetric } from '../protocol/strategies';
import type { Strategy } from '../protocol/strategy';
import { parseWith } from '../protocol/decode';
import type { AppRevision, ComponentSpec } from '../protocol/spec';
import type { RolloutOutcome } from '../protocol/rollout';
import type { LatticeClient } from './latticeClient';
import type { Persister } from './persister';
import { createWebhookProvider, errorRateProvider, latencyP99Provider } from './analysis';
import { observe, reconcile, specOf } from './reconcile';
import {
  type AppRecord,
  type BatchRecord,
  type ConfigRecord,
  type DesiredRecord,
  GateRecord,
  ModeRecord,
  type StableRecord,
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

/** Canary steps as batches: each pause and analysis step joins the gate after the batch before it. */
function canaryBatches(plan: ReturnType<typeof planCanary>): { batches: string[][]; gates: Map<number, GateRecord> } {
  const batches: string[][] = [];
  const gates = new Map<number, GateRecord>();
  for (const step of plan.steps) {
    if (step.kind === 'setHosts') {
      batches.push(...step.batches.filter((b) => b.length > 0));
      continue;
    }
    // A pause or analysis before any host moved has nothing to wait for or measure.
    if (batches.length === 0) continue;
    const i = batches.length - 1;
    const gate = gates.get(i) ?? { schema: 1 as const, pause: false as const, analyses: [] };
    if (step.kind === 'analysis') gate.analyses.push(step.analysis);
    else {
      const before = gate.pause;
      // Untimed wins (it waits for a person); timed pauses in a row add up.
      gate.pause =
        step.durationMs === undefined || (before !== false && before.durationMs === undefined)
          ? {}
          : { durationMs: step.durationMs + (before === false ? 0 : (before.durationMs ?? 0)) };
    }
    gates.set(i, gate);
  }
  return { batches, gates };
}

/** Ids a host diff places (installed, upgraded or kept). */
const placedIds = (
  diff: { install: { id: string }[]; upgrade: { id: string }[]; keep: { id: string }[] } | undefined,
) => [...(diff?.install ?? []), ...(diff?.upgrade ?? []), ...(diff?.keep ?? [])].map((w) => w.id);

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

function workload(inv: HostInventory, kind: string, id: string) {
  return inv.components.find((c) => c.id === id && c.kind === kind);
}

/** The effects of one rollout as plain async functions (input, abort signal) → output. */
export function rolloutEffectFunctions(o: EffectContext, run: RunContext) {
  const stamp = (): Stamp => ({ at: o.clock.now() });

  // count measurements intervalMs apart, each over the window since the one before, judged by analysisVerdict.
  const runAnalysis = async (
    input: BatchInput,
    spec: AnalysisSpec,
    hashes: string[],
    signal: AbortSignal,
  ): Promise<AnalysisResult> => {
    const provider = spec.provider === 'webhook' ? createWebhookProvider() : providers[spec.provider];
    const name = spec.name ?? analysisMetric(spec);
    const startedAt = o.clock.now();
    const measurements: AnalysisMeasurement[] = [];
    let baseline = await o.client.ping();
    for (;;) {
      const at = nextMeasurementAt(spec, startedAt, measurements.length);
      if (at === null) break;
      await waitUntil(o.clock, at, signal);
      if (signal.aborted) return never(signal);
      const now = await o.client.ping();
      try {
        measurements.push(
          await provider.measure({
            app: input.app,
            revision: input.targetVersion,
            hash: hashes[0] ?? '',
            hashes,
            hosts: now,
            baseline,
            metric: analysisMetric(spec),
            spec,
            signal,
          }),
        );
      } catch (e) {
        measurements.push({ error: e instanceof Error ? e.message : String(e) });
      }
      baseline = now;
      const v = analysisVerdict(spec, measurements);
      if (v.status === 'failed')
        return { status: 'failed', ...stamp(), reason: `analysis "${name}" failed: ${v.reason}` };
      if (v.status === 'inconclusive')
        return { status: 'inconclusive', ...stamp(), reason: `analysis "${name}" inconclusive: ${v.reason}` };
      if (v.status === 'successful') break;
    }
    return { status: 'passed', ...stamp() };
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

    planRollout: async (input: StepInput, _signal: AbortSignal): Promise<PlanSummary> => {
      const target = await o.loadRevision(input.app, input.targetVersion, true);
      const { hosts, current } = observe(await o.client.ping(), input.app, { markPending: false });
      const placement = place(target, hosts, current);
      const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
      let batches: string[][];
      let standbyPlan = false;
      if (input.strategy.type === 'canary') {
        const placed = hosts.filter((h) => placement.hosts[h.hostId] !== undefined);
        const wanted = new Set(candidates);
        const plan = canaryBatches(
          planCanary(input.strategy, placed, {
            firstDeploy: input.stableVersion === null,
            done: placed.filter((h) => !wanted.has(h.hostId)).map((h) => h.hostId),
          }),
        );
        batches = plan.batches;
        await Promise.all(
          [...plan.gates].map(([i, gate]) => o.store.put('cutover', keys.gate(input.rolloutId, i), gate)),
        );
      } else if (input.strategy.type === 'blueGreen') {
        const strategy = input.strategy;
        if (input.stableVersion !== null) {
          // Standby beside active: both versions hold their links at once on every host.
          const stable = await o.loadRevision(input.app, input.stableVersion, false);
          const decision = checkGuardrails(
            {
              fromVersion: input.stableVersion,
              toVersion: input.targetVersion,
              coexistence: 'standby',
              hosts: hosts.map((h) => ({
                hostId: h.hostId,
                from: guardrailWorkloads(stable, Object.keys(current[h.hostId] ?? {})),
                to: guardrailWorkloads(target, placedIds(placement.hosts[h.hostId])),
              })),
            },
            strategy.onConflict,
          );
          if (decision.strategy === 'asPlanned') standbyPlan = true;
        }
        // A first deploy has nothing to stand beside, and a conflict with onConflict "rolling" upgrades in place.
        batches = planBatches(candidates, hosts, { hostOrder: strategy.hostOrder, maxParallel: strategy.maxParallel });
        if (standbyPlan && batches.length > 0) {
          // Standby batches, then one batch that promotes every standby at once.
          const n = batches.length;
          batches.push(batches.flat());
          const pause = !strategy.autoPromote
            ? {}
            : strategy.autoPromoteAfterMs === undefined
              ? (false as const)
              : { durationMs: strategy.autoPromoteAfterMs };
          const records: Array<Promise<unknown>> = [];
          for (let i = 0; i <= n; i++) {
            const mode: ModeRecord = {
              schema: 1,
              mode: i < n ? 'standby' : 'promote',
              keepOldForMs: strategy.keepOldForMs,
            };
            const gate: GateRecord = {
              schema: 1,
              pause: i === n - 1 ? pause : false,
              analyses: i === n && strategy.postPromotionAnalysis !== undefined ? [strategy.postPromotionAnalysis] : [],
            };
            records.push(o.store.put('cutover', keys.mode(input.rolloutId, i), mode));
            records.push(o.store.put('cutover', keys.gate(input.rolloutId, i), gate));
          }
          await Promise.all(records);
        }
      } else {
        batches = planBatches(candidates, hosts, input.strategy);
      }
      await Promise.all(
        batches.map((hostIds, i) => {
          const record = packBatch(
            hostIds.map((hostId) => {
              const d = placement.hosts[hostId];
              return { hostId, apply: d ? [...d.install, ...d.upgrade] : [] };
            }),
          );
          return o.store.put('cutover', keys.batch(input.rolloutId, i), record);
        }),
      );
      await o.store.put('cutover', keys.plan(input.rolloutId), {
        schema: 1,
        batches: batches.length,
        hosts: hosts.length,
      });
      return { ...stamp(), batches: batches.length, firstDeploy: input.stableVersion === null };
    },

    applyBatch: async (input: BatchInput, signal: AbortSignal): Promise<Stamp> => {
      // The snapshot naming this batch is durable before any host hears of it.
      await run.persister.flush();
      // Store reads retry like writes: a store restart must not turn a healthy rollout into a rollback.
      const [record, target, token, mode] = await Promise.all([
        withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal),
        withRetry(() => o.loadRevision(input.app, input.targetVersion, false), o.clock, signal),
        o.leaseToken(input.app),
        withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal),
      ]);
      await Promise.all(
        record.hosts.map(async (h) => {
          // No inventory read first: an apply of the hash a host serves (or has in flight) is answered at once
          // and redoes nothing, so a verified host is never re-applied on resume.
          const refs = [...h.apply].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'provider' ? -1 : 1));
          for (const ref of refs) {
            const spec = specOf(target, ref.kind, ref.id);
            if (!spec)
              throw new CutoverError('plan.invalid', `"${ref.id}" is not in revision "${input.targetVersion}"`);
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
        }),
      );
      return stamp();
    },

    verifyBatch: async (input: BatchInput, signal: AbortSignal): Promise<VerifyResult> => {
      const record = await withRetry(() => loadBatch(o.store, input.rolloutId, input.batch), o.clock, signal);
      const strategy = input.strategy;
      const rule = gateRule(strategy);
      const mode = await withRetry(() => loadMode(o.store, input.rolloutId, input.batch), o.clock, signal);
      const standby = mode?.mode === 'standby';
      const remaining = new Map(record.hosts.map((h) => [h.hostId, h.apply]));
      const conditions: string[] = [];
      // Level-triggered: every host is re-read at least every `period`; in between, only hosts that reported.
      const period = rule.minReadyMs > 0 ? Math.min(o.pollMs, rule.minReadyMs) : o.pollMs;
      const checked = new Map<string, number>();
      let lastFull = Number.NEGATIVE_INFINITY;
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
        await Promise.all(
          targets.map(async ([hostId, refs]) => {
            checked.set(hostId, round);
            const inv = await o.client.inventory(hostId);
            if (!inv) {
              found.lost ??= hostId;
              if (strategy.onHostLost === 'skip') remaining.delete(hostId);
              return;
            }
            const v = combine(
              refs.map((r) => {
                const w = workload(inv, r.kind, r.id);
                // A verified standby: linked and instantiated beside the serving version, waiting for promote.
                if (standby && w?.status === 'standby' && w.pending?.hash === r.hash)
                  return { status: 'passed' as const };
                return verdict(w, r.hash, rule, now);
              }),
            );
            if (v.status === 'failed') found.failure ??= { code: v.code, reason: `host "${hostId}": ${v.reason}` };
            else if (v.status === 'passed') remaining.delete(hostId);
          }),
        );
        const f = found.failure;
        const lost = found.lost;
        if (f !== null) {
          return { status: 'failed', at: o.clock.now(), code: f.code, reason: f.reason };
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
          if (strategy.type === 'rolling') return { status: 'passed', at: o.clock.now(), conditions };
          const g = await loadGate(o.store, input.rolloutId, input.batch);
          const gate: BatchGate = { pause: g.pause, analysis: g.analyses.length > 0 };
          return { status: 'passed', at: o.clock.now(), conditions, gate };
        }
        await o.client.changed(period, signal, round);
      }
      return never(signal);
    },

    analyze: async (input: BatchInput, signal: AbortSignal): Promise<AnalysisResult> => {
      if (input.strategy.type !== 'rolling') {
        const gate = await loadGate(o.store, input.rolloutId, input.batch);
        const target = await o.loadRevision(input.app, input.targetVersion, false);
        const hashes = [...new Set(Object.values(place(target, [], {}).hashes))];
        for (const spec of gate.analyses) {
          const r = await runAnalysis(input, spec, hashes, signal);
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
    applyBatch: fromPromise<Stamp, BatchInput>(({ input, signal }) => f.applyBatch(input, signal)),
    verifyBatch: fromPromise<VerifyResult, BatchInput>(({ input, signal }) => f.verifyBatch(input, signal)),
    analyze: fromPromise<AnalysisResult, BatchInput>(({ input, signal }) => f.analyze(input, signal)),
    complete: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.complete(input, signal)),
    rollback: fromPromise<Stamp, StepInput>(({ input, signal }) => f.rollback(input, signal)),
    verifyRollback: fromPromise<VerifyResult, StepInput>(({ input, signal }) => f.verifyRollback(input, signal)),
    resumeScalers: fromPromise<Stamp, FinalInput>(({ input, signal }) => f.resumeScalers(input, signal)),
    deadline: fromPromise<Stamp, DeadlineInput>(({ input, signal }) => f.deadline(input, signal)),
  };
}
