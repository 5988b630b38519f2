// `cutover history APP`: the app's rollouts, newest first.
import { defineCommand } from '../args';
import { CLIENT_OPTIONS, clientOf, withApi } from '../client';
import { table } from '../table';

export const command = defineCommand(
  {
    name: 'history',
    summary: "list an app's rollouts, newest first",
    args: 'APP',
    min: 1,
    max: 1,
    options: CLIENT_OPTIONS,
  },
  async ({ values, positionals }) => {
    const settings = clientOf(values);
    const app = positionals[0] as string;
    const entries = await withApi(settings, (api) => api.history(app));
    if (settings.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      return 0;
    }
    if (entries.length === 0) {
      process.stdout.write(`no rollouts of "${app}"\n`);
      return 0;
    }
    process.stdout.write(
      table(
        null,
        entries.map((e) => [new Date(e.at).toISOString(), e.kind, e.version, e.outcome, e.rolloutId, e.reason ?? '']),
      ),
    );
    return 0;
  },
);

export const run = command.run;
export const spec = command.spec;
