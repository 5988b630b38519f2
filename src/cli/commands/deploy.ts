// `cutover deploy MANIFEST`: the manifest and strategy are read and checked here (the same messages as
// `plan`), then the lattice's orchestrator starts the rollout; `--wait` follows it live.
import { parseManifest } from '../../protocol/manifest';
import { defineCommand, duration } from '../args';
import { CLIENT_OPTIONS, WAIT_OPTIONS, clientOf, started, withApi } from '../client';
import { readInput, readStrategyFile } from '../inputs';

export const command = defineCommand(
  {
    name: 'deploy',
    summary: 'start a rollout of a wadm manifest (--wait to follow it)',
    args: 'MANIFEST',
    min: 1,
    max: 1,
    description:
      "Sends MANIFEST (a wadm application, YAML or JSON) to the lattice's orchestrator, which rolls it out with\n" +
      'the strategy (default rolling). Image tags are pinned to digests by the orchestrator at plan time.',
    options: {
      strategy: { type: 'string', value: 'FILE', help: 'strategy file (JSON or YAML; `cutover plan` shows its plan)' },
      ...WAIT_OPTIONS,
      ...CLIENT_OPTIONS,
    },
  },
  async ({ values, positionals }) => {
    const settings = clientOf(values);
    const timeoutMs = duration(values.timeout, 'timeout');
    const file = positionals[0] as string;
    const text = await readInput(file, 'manifest', 'manifest.invalid');
    // Checked here first, so a bad file is refused with its issues before anything connects.
    parseManifest(text);
    const strategy = await readStrategyFile(values.strategy);
    return withApi(settings, async (api) =>
      started(api, await api.deploy(text, strategy === undefined ? {} : { strategy }), {
        json: settings.json,
        wait: values.wait === true || timeoutMs !== undefined,
        timeoutMs,
      }),
    );
  },
);

export const run = command.run;
export const spec = command.spec;
