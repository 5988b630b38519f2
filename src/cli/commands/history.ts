import { parseFlags } from '../natsConnect';
import { CLIENT_FLAGS, clientFlags, withApi } from './deploy';

const USAGE = 'usage: cutover history APP [--json] --nats URL --lattice L\n';

/** `cutover history APP`: the app's rollouts, newest first. */
export async function run(args: string[]): Promise<number> {
  const flags = parseFlags('history', args, CLIENT_FLAGS, USAGE, ({ values, positionals }) => {
    const [app, ...extra] = positionals;
    if (app === undefined) throw new TypeError('missing APP');
    if (extra.length > 0) throw new TypeError(`unexpected argument "${extra[0]}"`);
    return { ...clientFlags(values), app };
  });
  if (flags === undefined) return 2;
  const entries = await withApi(flags, (api) => api.history(flags.app));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  if (entries.length === 0) {
    process.stdout.write(`no rollouts of "${flags.app}"\n`);
    return 0;
  }
  const rows = entries.map((e) => [
    new Date(e.at).toISOString(),
    e.kind,
    e.version,
    e.outcome,
    e.rolloutId,
    e.reason ?? '',
  ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  process.stdout.write(
    `${rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n')}\n`,
  );
  return 0;
}
