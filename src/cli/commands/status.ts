// `cutover status APP`: the app's table once (or JSON); exit 1 when the app is unknown, failed, rolled
// back, aborted or has an unhealthy workload, so scripts can test it.
import { defineCommand } from '../args';
import { CLIENT_OPTIONS, clientOf, withApi } from '../client';
import { statusExitCode, statusLines } from '../statusTable';

export const command = defineCommand(
  {
    name: 'status',
    summary: "show an app's phase, rollout and hosts (exit 1 if unknown or unhealthy)",
    args: 'APP',
    min: 1,
    max: 1,
    options: CLIENT_OPTIONS,
  },
  async ({ values, positionals }) => {
    const settings = clientOf(values);
    const status = await withApi(settings, (api) => api.status(positionals[0] as string));
    const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
    process.stdout.write(
      settings.json ? `${JSON.stringify(status, null, 2)}\n` : `${statusLines(status, color).join('\n')}\n`,
    );
    return statusExitCode(status);
  },
);

export const run = command.run;
export const spec = command.spec;
