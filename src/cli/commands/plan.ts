// The `cutover plan` command: its arguments, reading the manifest, current manifest, strategy and hosts
// files (each problem as `plan.invalid`/`strategy.invalid`/`manifest.invalid`), and writing the report as
// text or JSON with its exit code. The plan is computed in `../plan/buildPlan.ts` and rendered in
// `../plan/render.ts`; this file must not do either, and re-exports what they export for its callers.
import { z } from 'zod';
import type { HostInfo } from '../../../machines/rollout/plan';
import { isCutoverError } from '../../errors';
import { defineCommand } from '../args';
import { parseData, readInput } from '../inputs';
import { parseWith } from '../../protocol/decode';
import { parseManifest } from '../../protocol/manifest';
import { Strategy } from '../../protocol/strategy';
import { DEFAULT_HOST_COUNT, type PlanReport, type PlanStrategy, buildPlan } from '../plan/buildPlan';
import { renderPlan } from '../plan/render';

export { DEFAULT_HOST_COUNT, buildPlan } from '../plan/buildPlan';
export type { PlanReport, PlanStep, PlanStrategy } from '../plan/buildPlan';
export { timeline } from '../plan/render';

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

/** Where `plan` writes. */
export interface PlanIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Validates a strategy document (`strategy.invalid` names the field). */
export function parseStrategy(value: unknown): PlanStrategy {
  return parseWith(Strategy, value, 'strategy.invalid', 'strategy');
}

/** `cutover plan`'s options. */
export const planCommand = defineCommand(
  {
    name: 'plan',
    summary: 'print a rollout plan (steps, hosts, guardrails); touches nothing',
    args: 'MANIFEST',
    min: 1,
    max: 1,
    description:
      'Computes the plan a deploy of MANIFEST would follow: its steps, which hosts each batch takes, and the\n' +
      'guardrails (address, link and scale conflicts with the current revision). Exit 1 on a conflict.',
    options: {
      strategy: { type: 'string', value: 'FILE', help: 'strategy file (JSON or YAML; default rolling)' },
      hosts: {
        type: 'string',
        value: 'FILE',
        help: `hosts to plan against: a JSON or YAML list of {id, labels} (default ${DEFAULT_HOST_COUNT} unlabelled hosts)`,
      },
      current: { type: 'string', value: 'MANIFEST', help: 'the revision deployed now (for guardrails and diffs)' },
      json: { type: 'boolean', help: 'print the plan as JSON' },
    },
  },
  async ({ values, positionals }, io) =>
    plan({ manifest: positionals[0] as string, ...values, json: values.json === true }, io),
);

/** Runs `cutover plan` against the given streams; returns the exit code (0 ok, 1 conflict, 2 usage or bad input). */
export async function runPlan(args: readonly string[], io: PlanIo): Promise<number> {
  return planCommand.run([...args], io);
}

async function plan(
  parsed: { manifest: string; strategy?: string; hosts?: string; current?: string; json: boolean },
  io: PlanIo,
): Promise<number> {
  let report: PlanReport;
  try {
    const target = parseManifest(await readInput(parsed.manifest, 'manifest')).revision;
    const current =
      parsed.current === undefined ? null : parseManifest(await readInput(parsed.current, 'manifest')).revision;
    const strategy =
      parsed.strategy === undefined
        ? Strategy.parse({ type: 'rolling' })
        : parseStrategy(parseData(await readInput(parsed.strategy, 'strategy'), parsed.strategy, 'strategy.invalid'));
    const hosts: HostInfo[] =
      parsed.hosts === undefined
        ? Array.from({ length: DEFAULT_HOST_COUNT }, (_, i) => ({ hostId: `h${i + 1}`, labels: {} }))
        : parseWith(
            PlanHosts,
            parseData(await readInput(parsed.hosts, 'hosts'), parsed.hosts, 'plan.invalid'),
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
  io.stdout.write(parsed.json ? `${JSON.stringify({ ok: true, ...report }, null, 2)}\n` : renderPlan(report));
  return 0;
}

/** `cutover plan MANIFEST [--strategy FILE] [--hosts FILE] [--current MANIFEST] [--json]`: prints a plan, touches nothing. */
export const run = planCommand.run;
export const spec = planCommand.spec;
