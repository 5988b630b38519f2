// The plan itself, computed without touching anything: where the target revision places each workload,
// which hosts must change, what the guardrails decide against the current revision, and the steps the
// chosen strategy runs (rolling batches, canary batches with gates and analyses, blue-green standby and
// promotion), as the {@link PlanReport} `cutover plan --json` prints. It owns the report's shape and
// content; it must not read files or arguments (`commands/plan.ts`) nor format text (`render.ts`).
import { blueGreenSchedule } from '../../../machines/rollout/blueGreen';
import { type CanarySchedule, canarySchedule } from '../../../machines/rollout/canary';
import {
  type ConflictFinding,
  checkGuardrails,
  type GuardrailDecision,
  type GuardrailHost,
  guardrailWorkloads,
  type SwapFinding,
} from '../../../machines/rollout/guardrails';
import { type HostDiff, type HostInfo, needsApply, place, planBatches } from '../../../machines/rollout/plan';
import type { AppRevision } from '../../protocol/spec';
import type { Strategy } from '../../protocol/strategy';

/** Hosts used when no `--hosts` file is given. */
export const DEFAULT_HOST_COUNT = 5;

/** A strategy as `plan` accepts it: the rollout `Strategy` union or a blue-green strategy. */
export type PlanStrategy = Strategy;

/** One step of a printed plan, in order. */
export type PlanStep =
  | { kind: 'batch'; hosts: string[]; target?: number }
  | { kind: 'pause'; durationMs?: number }
  | { kind: 'analysis'; provider: string; count: number; intervalMs: number }
  | { kind: 'backgroundAnalysis'; provider: string; intervalMs: number; count?: number }
  | { kind: 'standby'; hosts: string[]; previewHosts: string[] }
  | { kind: 'promote'; keepOldForMs: number; auto: boolean };

/** The plan as `--json` prints it. */
export interface PlanReport {
  app: string;
  fromVersion: string | null;
  toVersion: string;
  firstDeploy: boolean;
  strategy: PlanStrategy['type'];
  /** Set when a blue-green plan fell back to rolling (`onConflict: 'rolling'`). */
  fallback?: string;
  defaultHosts: boolean;
  hosts: {
    id: string;
    labels: Record<string, string>;
    install: string[];
    upgrade: string[];
    remove: string[];
    keep: string[];
  }[];
  steps: PlanStep[];
  swaps: SwapFinding[];
  conflicts: ConflictFinding[];
}

/** Ids a host diff places (installed, upgraded or kept). */
function placedIds(diff: HostDiff | undefined): string[] {
  return [...(diff?.install ?? []), ...(diff?.upgrade ?? []), ...(diff?.keep ?? [])].map((w) => w.id);
}

function analysisStep(a: { provider: string; count: number; intervalMs: number }): PlanStep {
  return { kind: 'analysis', provider: a.provider, count: a.count, intervalMs: a.intervalMs };
}

/** A canary schedule as printed steps, in the order the rollout runs them. */
function canarySteps(
  schedule: CanarySchedule,
  done: number,
  background: { provider: string; intervalMs: number; count?: number | undefined } | undefined,
): PlanStep[] {
  const steps: PlanStep[] = [];
  const bg = schedule.backgroundStart;
  const backgroundStep = (): PlanStep[] =>
    background === undefined
      ? []
      : [
          {
            kind: 'backgroundAnalysis',
            provider: background.provider,
            intervalMs: background.intervalMs,
            ...(background.count === undefined ? {} : { count: background.count }),
          },
        ];
  let moved = done;
  schedule.batches.forEach((hosts, b) => {
    if (bg?.batch === b && bg.when === 'applied') steps.push(...backgroundStep());
    if (hosts.length > 0) {
      moved += hosts.length;
      steps.push({ kind: 'batch', hosts, target: moved });
    }
    if (bg?.batch === b && bg.when === 'verified') steps.push(...backgroundStep());
    const gate = schedule.gates.get(b);
    for (const a of gate?.analyses ?? []) steps.push(analysisStep(a));
    if (gate !== undefined && gate.pause !== false) {
      steps.push(
        gate.pause.durationMs === undefined ? { kind: 'pause' } : { kind: 'pause', durationMs: gate.pause.durationMs },
      );
    }
  });
  return steps;
}

/**
 * Computes a plan without touching anything: placement, steps and guardrail findings; throws
 * `plan.conflict` on a conflict the strategy cannot avoid.
 * @example
 * buildPlan(target, null, Strategy.parse({ type: 'rolling' }), [{ hostId: 'h1', labels: {} }], false)
 */
export function buildPlan(
  target: AppRevision,
  current: AppRevision | null,
  strategy: PlanStrategy,
  hosts: readonly HostInfo[],
  defaultHosts: boolean,
): PlanReport {
  const stable = current ? place(current, hosts, {}) : null;
  const now: Record<string, Record<string, { kind: 'component' | 'provider'; hash: string }>> = {};
  if (stable) {
    for (const [key, hostIds] of Object.entries(stable.workloads)) {
      const sep = key.indexOf(':');
      const kind = key.slice(0, sep) as 'component' | 'provider';
      const id = key.slice(sep + 1);
      for (const h of hostIds) (now[h] ??= {})[id] = { kind, hash: stable.hashes[key] as string };
    }
  }
  const placement = place(target, hosts, now);
  const candidates = Object.keys(placement.hosts).filter((h) => needsApply(placement.hosts[h]));
  const firstDeploy = current === null;

  let decision: GuardrailDecision = { strategy: 'asPlanned', swaps: [] };
  if (current && stable) {
    const guardHosts: GuardrailHost[] = hosts.map((h) => ({
      hostId: h.hostId,
      from: guardrailWorkloads(current, placedIds(stable.hosts[h.hostId])),
      to: guardrailWorkloads(target, placedIds(placement.hosts[h.hostId])),
    }));
    decision = checkGuardrails(
      {
        fromVersion: current.version,
        toVersion: target.version,
        coexistence: strategy.type === 'blueGreen' ? 'standby' : 'inPlace',
        hosts: guardHosts,
      },
      strategy.type === 'rolling' ? 'fail' : strategy.onConflict,
    );
  }

  let steps: PlanStep[];
  let fallback: string | undefined;
  if (strategy.type === 'rolling') {
    steps = planBatches(candidates, hosts, strategy).map((b) => ({ kind: 'batch', hosts: b }));
  } else if (strategy.type === 'canary') {
    const placed = hosts.filter((h) => placement.hosts[h.hostId] !== undefined);
    const wanted = new Set(candidates);
    const done = placed.filter((h) => !wanted.has(h.hostId)).map((h) => h.hostId);
    const schedule = canarySchedule(strategy, placed, {
      firstDeploy,
      done,
      chunk: (ids) =>
        planBatches(ids, placed, {
          hostOrder: strategy.hostOrder,
          maxParallel: strategy.maxParallel,
          maxUnavailable: strategy.maxUnavailable,
        }),
    });
    steps = canarySteps(schedule, done.length, firstDeploy ? undefined : strategy.backgroundAnalysis);
  } else if (decision.strategy === 'rolling') {
    fallback = decision.reason;
    steps = planBatches(candidates, hosts, strategy).map((b) => ({ kind: 'batch', hosts: b }));
  } else if (firstDeploy) {
    // Nothing to stand beside: a first deploy installs in batches of maxParallel, without standby or promotion.
    steps = planBatches(candidates, hosts, { hostOrder: strategy.hostOrder, maxParallel: strategy.maxParallel }).map(
      (b) => ({ kind: 'batch', hosts: b }),
    );
  } else {
    // As the orchestrator runs it: preview hosts stand by, are analysed and wait to be promoted; then
    // the rest stand by and every host switches at once.
    const bg = blueGreenSchedule(strategy, candidates, hosts);
    const preview = new Set(bg.previewHosts);
    steps = [];
    bg.standby.forEach((chunk, i) => {
      steps.push({ kind: 'standby', hosts: chunk, previewHosts: chunk.filter((h) => preview.has(h)) });
      if (i !== bg.lastPreview) return;
      if (strategy.prePromotionAnalysis !== undefined) steps.push(analysisStep(strategy.prePromotionAnalysis));
      if (!strategy.autoPromote) steps.push({ kind: 'pause' });
      else if (strategy.autoPromoteAfterMs !== undefined)
        steps.push({ kind: 'pause', durationMs: strategy.autoPromoteAfterMs });
    });
    if (bg.promote.length > 0) {
      steps.push({ kind: 'promote', keepOldForMs: strategy.keepOldForMs, auto: strategy.autoPromote });
      if (strategy.postPromotionAnalysis !== undefined) steps.push(analysisStep(strategy.postPromotionAnalysis));
    }
  }

  const report: PlanReport = {
    app: target.app,
    fromVersion: current?.version ?? null,
    toVersion: target.version,
    firstDeploy,
    strategy: strategy.type,
    defaultHosts,
    hosts: hosts.map((h) => {
      const d = placement.hosts[h.hostId];
      const ids = (refs: readonly { id: string }[] | undefined) => (refs ?? []).map((r) => r.id);
      return {
        id: h.hostId,
        labels: { ...h.labels },
        install: ids(d?.install),
        upgrade: ids(d?.upgrade),
        remove: ids(d?.remove),
        keep: ids(d?.keep),
      };
    }),
    steps,
    swaps: decision.swaps,
    conflicts: decision.strategy === 'rolling' ? decision.conflicts : [],
  };
  if (fallback !== undefined) report.fallback = fallback;
  return report;
}
