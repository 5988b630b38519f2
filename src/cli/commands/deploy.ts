import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { CutoverError } from '../../errors';
import { type ApiClient, createApiClient } from '../../orchestrator/api/createApiClient';
import type { RolloutView } from '../../orchestrator/createOrchestrator';
import type { RolloutOutput } from '../../protocol/rollout';
import type { StrategyInput } from '../../protocol/strategy';
import {
  NATS_FLAGS,
  type NatsConnectOptions,
  connectNats,
  credentialFlags,
  integer,
  parseFlags,
  required,
} from '../natsConnect';

/** Flags of every API client command. */
export const CLIENT_FLAGS = { ...NATS_FLAGS, json: { type: 'boolean' }, 'timeout-ms': { type: 'string' } } as const;

export interface ClientFlags {
  url: string;
  lattice: string;
  credentials: Pick<NatsConnectOptions, 'user' | 'password' | 'inboxPrefix'>;
  json: boolean;
  timeoutMs: number;
}

/** The connection flags of a client command. */
export function clientFlags(values: Record<string, unknown>): ClientFlags {
  return {
    url: required(values, 'nats'),
    lattice: required(values, 'lattice'),
    credentials: credentialFlags(values),
    json: values.json === true,
    timeoutMs: integer(values['timeout-ms'], 'timeout-ms', 10_000),
  };
}

/** Connects, runs `fn` with an API client, and always closes the connection. */
export async function withApi<T>(flags: ClientFlags, fn: (api: ApiClient) => Promise<T>): Promise<T> {
  const link = await connectNats({
    url: flags.url,
    name: 'cutover client',
    ...flags.credentials,
  });
  try {
    return await fn(createApiClient(link.transport, { lattice: flags.lattice, timeoutMs: flags.timeoutMs }));
  } finally {
    await link.close();
  }
}

/** A strategy file (YAML or JSON). */
export async function readStrategy(file: string | undefined): Promise<StrategyInput | undefined> {
  if (file === undefined) return undefined;
  const text = await readText(file);
  const value: unknown = parseYaml(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CutoverError('strategy.invalid', `strategy file "${file}" is not a mapping`);
  }
  return value as StrategyInput;
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CutoverError('message.invalid', `cannot read "${file}": ${(error as Error).message}`, { cause: error });
  }
}

/** One line of a rollout's progress. */
export function describeView(v: RolloutView): string {
  const parts = [`rollout ${v.id} ${v.app} ${v.targetVersion}: ${v.state}`];
  if (v.batches > 0) parts.push(`batch ${Math.min(v.batch + 1, v.batches)}/${v.batches}`);
  if (v.paused) parts.push('paused');
  const holding = v.conditions.filter((c) => c.status);
  if (holding.length > 0) parts.push(`[${holding.map((c) => c.type).join(', ')}]`);
  return parts.join(' ');
}

/**
 * Shows a rollout's live progress until it is final; exit code 0 only for `completed`.
 * With `json`, progress goes to stderr and stdout gets the output as JSON.
 */
export async function follow(api: ApiClient, started: RolloutView, json: boolean): Promise<number> {
  const out = json ? process.stderr : process.stdout;
  out.write(`${describeView(started)}\n`);
  const stamp = () => new Date().toISOString();
  const watch = api.watch(started.id, (v) => out.write(`${describeView(v)}\n`), {
    // Silence during an outage would look like a hang: say what it waits for, and when it is back.
    onUnreachable: (e) =>
      out.write(
        e === null
          ? `${stamp()} orchestrator answers again\n`
          : `${stamp()} waiting for NATS: ${e.message} (${e.code})\n`,
      ),
  });
  const output: RolloutOutput = await watch.done;
  if (json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  else
    process.stdout.write(`rollout ${output.rolloutId} ${output.outcome}${output.reason ? `: ${output.reason}` : ''}\n`);
  return output.outcome === 'completed' ? 0 : 1;
}

/** Prints a started rollout (or follows it with `wait`). */
export async function started(
  api: ApiClient,
  view: RolloutView,
  flags: { json: boolean; wait: boolean },
): Promise<number> {
  if (flags.wait) return follow(api, view, flags.json);
  process.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : `${describeView(view)}\n`);
  return 0;
}

const USAGE = `usage: cutover deploy MANIFEST [--strategy FILE] [--wait] [--json] --nats URL --lattice L [--timeout-ms N]
  --wait   show live progress; exit non-zero unless the outcome is completed
`;

/** `cutover deploy MANIFEST`: starts a rollout on the lattice's orchestrator. */
export async function run(args: string[]): Promise<number> {
  const flags = parseFlags(
    'deploy',
    args,
    { ...CLIENT_FLAGS, strategy: { type: 'string' }, wait: { type: 'boolean' } },
    USAGE,
    ({ values, positionals }) => {
      const [manifest, ...extra] = positionals;
      if (manifest === undefined) throw new TypeError('missing MANIFEST');
      if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
      return { ...clientFlags(values), manifest, strategyFile: values.strategy, wait: values.wait === true };
    },
  );
  if (flags === undefined) return 2;
  const text = await readText(flags.manifest);
  const strategy = await readStrategy(flags.strategyFile);
  return withApi(flags, async (api) =>
    started(api, await api.deploy(text, strategy === undefined ? {} : { strategy }), flags),
  );
}
