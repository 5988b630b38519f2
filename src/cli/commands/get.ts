// `cutover get APP [--watch]`: the app's live table (steps, batches, hosts, analysis figures). `--watch`
// follows the app's current rollout until it ends and exits with its code; it can be started, stopped
// (Ctrl-C, 130) and started again at any time, since everything it shows is read from the orchestrator.
import { defineCommand } from '../args';
import { CLIENT_OPTIONS, clientOf, withApi } from '../client';
import { statusExitCode, statusLines } from '../statusTable';
import { followRollout } from '../watch';

export const command = defineCommand(
  {
    name: 'get',
    summary: "show an app's rollout as a table (--watch: follow it live to its end)",
    args: 'APP',
    min: 1,
    max: 1,
    description:
      'Without --watch: the table once, exit like `status`. With --watch: redrawn in place on a terminal (plain\n' +
      'lines when piped) until the rollout ends; exit 0 if it completed, 1 if not, 130 on Ctrl-C. An app with no\n' +
      'rollout running prints its table and exits with its status.',
    options: {
      watch: { type: 'boolean', short: 'w', help: 'follow the current rollout until it ends' },
      ...CLIENT_OPTIONS,
    },
  },
  async ({ values, positionals }) => {
    const settings = clientOf(values);
    const app = positionals[0] as string;
    return withApi(settings, async (api) => {
      const status = await api.status(app);
      const running = status.rolloutId !== null && status.phase === 'upgrading';
      if (values.watch === true && running && status.rolloutId !== null) {
        return followRollout(api, app, status.rolloutId, { json: settings.json });
      }
      const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
      process.stdout.write(
        settings.json ? `${JSON.stringify(status, null, 2)}\n` : `${statusLines(status, color).join('\n')}\n`,
      );
      return statusExitCode(status);
    });
  },
);

export const run = command.run;
export const spec = command.spec;
