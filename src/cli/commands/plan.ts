// The `cutover plan` command: its arguments, reading the manifest, current manifest, strategy and hosts
// files (each problem as `plan.invalid`/`strategy.invalid`/`manifest.invalid`), and writing the report as
// text or JSON with its exit code. The plan is computed in `../plan/buildPlan.ts` and rendered in
// `../plan/render.ts`; this file must not do either, and re-exports what they export for its callers.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { HostInfo } from '../../../machines/rollout/plan';
import { CutoverError, isCutoverError } from '../../errors';
import { parseWith } from '../../protocol/decode';
import { parseManifest } from '../../protocol/manifest';
import { Strategy } from '../../protocol/strategy';
import { DEFAULT_HOST_COUNT, type PlanReport, type PlanStrategy, buildPlan } from '../plan/buildPlan';
import { renderPlan } from '../plan/render';

export { DEFAULT_HOST_COUNT, buildPlan } from '../plan/buildPlan';
export type { PlanReport, PlanStep, PlanStrategy } from '../plan/buildPlan';
export { timeline } from '../plan/render';

const USAGE = 'usage: cutover plan MANIFEST [--strategy FILE] [--hosts FILE] [--current MANIFEST] [--json]\n';

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
  io.stdout.write(parsed.json ? `${JSON.stringify({ ok: true, ...report }, null, 2)}\n` : renderPlan(report));
  return 0;
}

/** `cutover plan MANIFEST [--strategy FILE] [--hosts FILE] [--current MANIFEST] [--json]`: prints a plan, touches nothing. */
export async function run(args: string[]): Promise<number> {
  return runPlan(args, { stdout: process.stdout, stderr: process.stderr });
}
