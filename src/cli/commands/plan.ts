import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { blueGreenSchedule } from '../../../machines/rollout/blueGreen';
import { type CanarySchedule, canarySchedule } from '../../../machines/rollout/canary';
import {
  type ConflictFinding,
  checkGuardrails,
  describeConflict,
  type GuardrailDecision,
  type GuardrailHost,
  guardrailWorkloads,
  type SwapFinding,
} from '../../../machines/rollout/guardrails';
import { type HostDiff, type HostInfo, needsApply, place, planBatches } from '../../../machines/rollout/plan';
import { CutoverError, isCutoverError } from '../../errors';
import { parseWith } from '../../protocol/decode';
import { parseManifest } from '../../protocol/manifest';
import type { AppRevision } from '../../protocol/spec';
import { Strategy } from '../../protocol/strategy';

const USAGE = 'usage: cutover plan MANIFEST [--strategy FILE] [--hosts FILE] [--current MANIFEST] [--json]\n';

/** Hosts used when no `--hosts` file is given. */
export const DEFAULT_HOST_COUNT = 5;

/** A `--hosts` file: the hosts to plan against, each with its labels. */
export const PlanHosts = z
  .array(
    z.strictObject({
      id: z.string().min(1),
      labels: z.record(z.string(), z.string()).default({}),
    }),
  )
  .min(1, 'a hosts file lists at least one host')
  .superRefine((hosts, ctx) => {
    const seen = new Set<string>();
    hosts.forEach((h, i) => {
      if (seen.has(h.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate host "${h.id}"` });
      seen.add(h.id);
    });
  });

/** A strategy as `plan` accepts it: the rollout `Strategy` union or a blue-green strategy. */
export type PlanStrategy = Strategy;

/** Where `plan` writes. */
export interface PlanIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

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

interface Args {
  manifest: string;
  strategy?: string;
  hosts?: string;
  current?: string;
  json: boolean;
}

function parseArgs(args: readonly string[]): Args | string {
  const out: Partial<Args> & { json: boolean } = { json: false };
  const flags = { '--strategy': 'strategy', '--hosts': 'hosts', '--current': 'current' } as const;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--json') out.json = true;
    else if (a in flags) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) return `"${a}" needs a file`;
      const key = flags[a as keyof typeof flags];
      if (out[key] !== undefined) return `"${a}" given twice`;
      out[key] = value;
      i++;
    } else if (a.startsWith('-')) return `unknown option "${a}"`;
    else if (out.manifest === undefined) out.manifest = a;
    else return `unexpected argument "${a}"`;
  }
  if (out.manifest === undefined) return 'a manifest is required';
  return out as Args;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CutoverError('plan.invalid', `cannot read ${what} "${file}": ${(e as Error).message}`, { cause: e });
  }
}

function parseData(text: string, file: string, code: 'strategy.invalid' | 'plan.invalid'): unknown {
  try {
    return parseYaml(text);
  } catch (e) {
    throw new CutoverError(code, `"${file}" is not JSON or YAML: ${(e as Error).message}`, { cause: e });
  }
}

/** Validates a strategy document (`strategy.invalid` names the field). */
export function parseStrategy(value: unknown): PlanStrategy {
  return parseWith(Strategy, value, 'strategy.invalid', 'strategy');
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

function ms(value: number): string {
  if (value % 60_000 === 0 && value >= 60_000) return `${value / 60_000}m`;
  if (value % 1000 === 0 && value >= 1000) return `${value / 1000}s`;
  return `${value}ms`;
}

function describeStep(s: PlanStep): string {
  switch (s.kind) {
    case 'batch':
      return `apply ${s.hosts.join(', ')}${s.target === undefined ? '' : ` (${s.target} on new version after)`}`;
    case 'pause':
      return s.durationMs === undefined ? 'pause until resume or promote' : `pause ${ms(s.durationMs)}`;
    case 'analysis':
      return `analysis ${s.provider} x${s.count} every ${ms(s.intervalMs)}`;
    case 'backgroundAnalysis':
      return `background analysis ${s.provider} every ${ms(s.intervalMs)}${s.count === undefined ? ' until the end' : ` x${s.count}`}`;
    case 'standby':
      return `standby ${s.hosts.join(', ')}${s.previewHosts.length > 0 ? ` (preview on ${s.previewHosts.join(', ')})` : ''}`;
    case 'promote':
      return `promote every standby at once${s.auto ? '' : ' (after rollout.promote)'}, keep old ${ms(s.keepOldForMs)}`;
  }
}

/** An ASCII timeline: one column per host; `#` moved in that step, `=` already moved, `.` not yet. */
export function timeline(report: PlanReport): string[] {
  const ids = report.hosts.map((h) => h.id);
  const width = Math.max(2, ...ids.map((id) => id.length));
  const head = `  ${'step'.padEnd(6)} ${ids.map((id) => id.padEnd(width)).join(' ')}`;
  const moved = new Set<string>();
  const rows = [head];
  report.steps.forEach((s, i) => {
    const label = String(i + 1).padEnd(6);
    if (s.kind === 'batch' || s.kind === 'standby') {
      const mark = s.kind === 'batch' ? '#' : 's';
      const cells = ids.map((id) => (s.hosts.includes(id) ? mark : moved.has(id) ? '=' : '.').repeat(width));
      for (const id of s.hosts) moved.add(id);
      rows.push(`  ${label} ${cells.join(' ')}`);
    } else {
      const glyph = s.kind === 'pause' ? '~' : s.kind === 'analysis' || s.kind === 'backgroundAnalysis' ? '?' : '>';
      rows.push(`  ${label} ${glyph} ${describeStep(s)}`);
    }
  });
  return rows;
}

function render(report: PlanReport): string {
  const lines: string[] = [];
  lines.push(
    `plan for app ${report.app}: ${report.fromVersion === null ? 'first deploy of' : `${report.fromVersion} ->`} ${report.toVersion} (${report.strategy})`,
  );
  if (report.firstDeploy) lines.push('first deploy: steps, pauses, analysis and standby are skipped');
  if (report.defaultHosts)
    lines.push(`hosts: ${DEFAULT_HOST_COUNT} default hosts h1..h${DEFAULT_HOST_COUNT} (no --hosts file given)`);
  if (report.fallback !== undefined) lines.push(`fallback: ${report.fallback}`);
  lines.push('', 'hosts:');
  for (const h of report.hosts) {
    const parts = (['install', 'upgrade', 'remove'] as const)
      .filter((k) => h[k].length > 0)
      .map((k) => `${k} ${h[k].join(', ')}`);
    const labels = Object.entries(h.labels).map(([k, v]) => `${k}=${v}`);
    lines.push(
      `  ${h.id}${labels.length > 0 ? ` [${labels.join(',')}]` : ''}: ${parts.length > 0 ? parts.join('; ') : 'nothing to do'}${h.keep.length > 0 ? ` (keeps ${h.keep.join(', ')})` : ''}`,
    );
  }
  lines.push('', `steps (${report.steps.length}):`);
  if (report.steps.length === 0) lines.push('  none: nothing to apply');
  for (const [i, s] of report.steps.entries()) lines.push(`  ${i + 1}. ${describeStep(s)}`);
  lines.push('', 'guardrails:');
  if (report.fromVersion === null) lines.push('  none checked: no current revision (--current)');
  else if (report.swaps.length === 0 && report.conflicts.length === 0) lines.push('  no shared resources');
  for (const s of report.swaps) {
    lines.push(
      `  swap: link "${s.link}" (${s.change}) waits for "${s.heldBy}" to release ${s.resource} on ${s.hosts.join(', ')}`,
    );
  }
  for (const c of report.conflicts) lines.push(`  conflict (avoided by rolling): ${describeConflict(c)}`);
  if (report.steps.length > 0) {
    lines.push(
      '',
      'timeline (# applied in this step, s standby, = on the new version, . not yet):',
      ...timeline(report),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `cutover plan` against the given streams; returns the exit code (0 ok, 1 conflict, 2 usage or bad input). */
export async function runPlan(args: readonly string[], io: PlanIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(USAGE);
    return 0;
  }
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    io.stderr.write(`cutover plan: ${parsed}\n${USAGE}`);
    return 2;
  }
  let report: PlanReport;
  try {
    const target = parseManifest(await readText(parsed.manifest, 'manifest')).revision;
    const current =
      parsed.current === undefined ? null : parseManifest(await readText(parsed.current, 'manifest')).revision;
    const strategy =
      parsed.strategy === undefined
        ? Strategy.parse({ type: 'rolling' })
        : parseStrategy(parseData(await readText(parsed.strategy, 'strategy'), parsed.strategy, 'strategy.invalid'));
    const hosts: HostInfo[] =
      parsed.hosts === undefined
        ? Array.from({ length: DEFAULT_HOST_COUNT }, (_, i) => ({ hostId: `h${i + 1}`, labels: {} }))
        : parseWith(
            PlanHosts,
            parseData(await readText(parsed.hosts, 'hosts'), parsed.hosts, 'plan.invalid'),
            'plan.invalid',
            'hosts file',
          ).map((h) => ({ hostId: h.id, labels: h.labels }));
    report = buildPlan(target, current, strategy, hosts, parsed.hosts === undefined);
  } catch (e) {
    if (!isCutoverError(e)) throw e;
    if (parsed.json)
      io.stdout.write(
        `${JSON.stringify({ ok: false, code: e.code, message: e.message, issues: e.issues ?? [] }, null, 2)}\n`,
      );
    io.stderr.write(`cutover plan: ${e.code}: ${e.message}\n`);
    for (const issue of e.issues ?? []) io.stderr.write(`  - ${issue.path}: ${issue.message}\n`);
    return e.code === 'plan.conflict' ? 1 : 2;
  }
  io.stdout.write(parsed.json ? `${JSON.stringify({ ok: true, ...report }, null, 2)}\n` : render(report));
  return 0;
}

/** `cutover plan MANIFEST [--strategy FILE] [--hosts FILE] [--current MANIFEST] [--json]`: prints a plan, touches nothing. */
export async function run(args: string[]): Promise<number> {
  return runPlan(args, { stdout: process.stdout, stderr: process.stderr });
}
