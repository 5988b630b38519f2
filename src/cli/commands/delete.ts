// `cutover delete APP`: undeploy an app from every host (its scaler stops first) and forget it.
import { defineCommand } from '../args';
import { CLIENT_OPTIONS, clientOf, withApi } from '../client';

export const command = defineCommand(
  {
    name: 'delete',
    summary: 'undeploy an app from every host and forget it (refused while a rollout runs)',
    args: 'APP',
    min: 1,
    max: 1,
    options: CLIENT_OPTIONS,
  },
  async ({ values, positionals }) => {
    const settings = clientOf(values);
    // Undeploying waits for every host to remove its workloads: give it longer than one request.
    const result = await withApi(
      { ...settings, requestTimeoutMs: Math.max(settings.requestTimeoutMs, 60_000) },
      (api) => api.delete(positionals[0] as string),
    );
    process.stdout.write(
      settings.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `deleted ${result.app} (${result.sent} workload deletes sent, ${result.records} records removed)\n`,
    );
    return 0;
  },
);

export const run = command.run;
export const spec = command.spec;
