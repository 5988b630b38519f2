import { parseFlags } from '../natsConnect';
import { CLIENT_FLAGS, clientFlags, withApi } from './deploy';

const USAGE = 'usage: cutover status APP [--json] --nats URL --lattice L\n';

/** `cutover status APP`: phase, versions, the rollout in flight and what every host serves. */
export async function run(args: string[]): Promise<number> {
  const flags = parseFlags('status', args, CLIENT_FLAGS, USAGE, ({ values, positionals }) => {
    const [app, ...extra] = positionals;
    if (app === undefined) throw new TypeError('missing APP');
    if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
    return { ...clientFlags(values), app };
  });
  if (flags === undefined) return 2;
  const status = await withApi(flags, (api) => api.status(flags.app));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `app ${status.app}: ${status.phase} (stable ${status.stableVersion ?? '-'}, target ${status.targetVersion ?? '-'})`,
  ];
  if (status.rolloutId !== null) {
    lines.push(
      `rollout ${status.rolloutId}: ${status.state ?? '-'}, batch ${Math.min(status.batch + 1, status.batches)} of ${status.batches}${status.paused ? ' paused' : ''}${status.reason ? ` (${status.reason})` : ''}`,
    );
  }
  for (const a of status.analyses) lines.push(`analysis "${a.name}" (${a.run}): ${a.status}, ${a.reason}`);
  for (const c of status.conditions) {
    // A condition that stopped holding is still shown, with the instant it cleared.
    const state = c.status ? 'True' : `False since ${new Date(c.since).toISOString()}`;
    lines.push(`condition ${c.type}: ${state}, ${c.message}`);
  }
  if (status.scalerHolders.length > 0) lines.push(`scalers held by: ${status.scalerHolders.join(', ')}`);
  for (const host of status.hosts) {
    lines.push(`host ${host.hostId}`);
    for (const w of host.workloads)
      lines.push(`  ${w.kind} ${w.id} ${w.status} ${w.on}${w.servingHash ? ` ${w.servingHash.slice(0, 12)}` : ''}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
