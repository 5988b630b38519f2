// `cutover list`: every app on the lattice with its phase and versions.
import { defineCommand } from '../args';
import { CLIENT_OPTIONS, clientOf, withApi } from '../client';
import { table } from '../table';

export const command = defineCommand(
  { name: 'list', summary: 'list the apps on the lattice with their phase and versions', options: CLIENT_OPTIONS },
  async ({ values }) => {
    const settings = clientOf(values);
    const apps = await withApi(settings, (api) => api.list());
    if (settings.json) {
      process.stdout.write(`${JSON.stringify(apps, null, 2)}\n`);
      return 0;
    }
    if (apps.length === 0) {
      process.stdout.write(`no apps on lattice "${settings.lattice}"\n`);
      return 0;
    }
    process.stdout.write(
      table(
        ['APP', 'PHASE', 'STABLE', 'TARGET', 'ROLLOUT', 'SINCE'],
        apps.map((a) => [
          a.app,
          a.phase,
          a.stableVersion ?? '-',
          a.targetVersion,
          a.rolloutId,
          new Date(a.at).toISOString().slice(0, 19).replace('T', ' '),
        ]),
      ),
    );
    return 0;
  },
);

export const run = command.run;
export const spec = command.spec;
