// What every API client command shares (deploy, status, get, list, delete, set image, the rollout
// controls): its options, the connection, printing a started rollout and following it. Rendering the live
// table is `./statusTable.ts`, following with redraws is `./watch.ts`.
import { type ApiClient, createApiClient } from '../orchestrator/api/createApiClient';
import type { RolloutView } from '../orchestrator/createOrchestrator';
import { type CommandIo, type OptionTable, type Values, duration } from './args';
import { CONNECTION_OPTIONS, type Connection, connectNats, connectionOf } from './natsConnect';
import { followRollout } from './watch';

/** Options of every API client command. */
export const CLIENT_OPTIONS = {
  ...CONNECTION_OPTIONS,
  json: { type: 'boolean', help: 'print JSON (for scripts) instead of text' },
  'request-timeout': {
    type: 'string',
    value: 'DUR',
    help: 'bound of each request to the orchestrator (default 10s)',
    env: 'CUTOVER_REQUEST_TIMEOUT',
  },
} as const satisfies OptionTable;

/** Options of commands that start a rollout. */
export const WAIT_OPTIONS = {
  wait: { type: 'boolean', help: 'follow the rollout live; exit 0 only if it completes' },
  timeout: {
    type: 'string',
    value: 'DUR',
    help: 'with --wait: give up waiting after DUR (90s, 5m, 1h) with exit 1; the rollout goes on',
  },
} as const satisfies OptionTable;

/** A client command's connection and output settings. */
export interface ClientSettings extends Connection {
  json: boolean;
  requestTimeoutMs: number;
}

/** The settings of a client command from its parsed options. */
export function clientOf(values: Values<typeof CLIENT_OPTIONS>): ClientSettings {
  return {
    ...connectionOf(values),
    json: values.json === true,
    requestTimeoutMs: duration(values['request-timeout'], 'request-timeout') ?? 10_000,
  };
}

/** Connects, runs `fn` with an API client, and always closes the connection. */
export async function withApi<T>(settings: ClientSettings, fn: (api: ApiClient) => Promise<T>): Promise<T> {
  const link = await connectNats({ url: settings.url, name: 'cutover client', ...settings.auth });
  try {
    return await fn(
      createApiClient(link.transport, { lattice: settings.lattice, timeoutMs: settings.requestTimeoutMs }),
    );
  } finally {
    await link.close();
  }
}

/** One line of a rollout's progress. */
export function describeView(v: RolloutView): string {
  const parts = [`rollout ${v.id} ${v.app} ${v.targetVersion}: ${v.done && v.outcome !== null ? v.outcome : v.state}`];
  if (v.batches > 0) parts.push(`batch ${Math.min(v.batch + 1, v.batches)}/${v.batches}`);
  if (v.paused || v.pause !== null) parts.push(`paused${v.pause ? ` (${v.pause.kind})` : ''}`);
  const holding = v.conditions.filter((c) => c.status);
  if (holding.length > 0) parts.push(`[${holding.map((c) => c.type).join(', ')}]`);
  return parts.join(' ');
}

/** Prints a started rollout, or follows it live with `--wait` (bounded by `--timeout`). */
export async function started(
  api: ApiClient,
  view: RolloutView,
  flags: { json: boolean; wait: boolean; timeoutMs?: number | undefined },
  io: CommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  if (flags.wait) {
    return followRollout(api, view.app, view.id, {
      json: flags.json,
      ...(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }),
    });
  }
  io.stdout.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : `${describeView(view)}\n`);
  return 0;
}
