// `cutover set image APP COMPONENT IMAGE`: a new revision made from the app's stable one with one
// component's image changed (its pinned digest dropped, every other workload kept exactly), rolled out
// like a deploy. The version is `--version`, or the content hash's prefix as for a manifest without one.
import { CutoverError } from '../../errors';
import { CONTENT_VERSION_LENGTH, revisionContentHash } from '../../protocol/manifest';
import { VERSION_ANNOTATION } from '../../protocol/manifest/revision';
import type { AppRevision } from '../../protocol/spec';
import { defineCommand, defineGroup, duration } from '../args';
import { CLIENT_OPTIONS, WAIT_OPTIONS, clientOf, started, withApi } from '../client';
import { readStrategyFile } from '../inputs';

/** `revision` with component `component` (its name or id) on `image`, as a new version. */
export function withImage(revision: AppRevision, component: string, image: string, version?: string): AppRevision {
  const target = revision.components.find((c) => c.name === component || c.spec.id === component);
  if (target === undefined) {
    const names = revision.components.map((c) => c.name).join(', ');
    throw new CutoverError('spec.invalid', `"${revision.app}" has no component "${component}" (components: ${names})`);
  }
  if (target.spec.imageRef === image) {
    throw new CutoverError('spec.invalid', `component "${component}" of "${revision.app}" already runs "${image}"`);
  }
  const { digest: _pinned, ...spec } = target.spec;
  const components = revision.components.map((c) => (c === target ? { ...c, spec: { ...spec, imageRef: image } } : c));
  const content = { ...revision, components };
  const contentHash = revisionContentHash(content);
  const next = version ?? contentHash.slice(0, CONTENT_VERSION_LENGTH);
  if (next === revision.version) throw new CutoverError('spec.invalid', `version "${next}" is the stable version`);
  return {
    ...content,
    version: next,
    contentHash,
    annotations: { ...revision.annotations, [VERSION_ANNOTATION]: next },
  };
}

const image = defineCommand(
  {
    name: 'set image',
    summary: "roll out a new revision from stable with one component's image changed",
    args: 'APP COMPONENT IMAGE',
    min: 3,
    max: 3,
    description:
      "COMPONENT is the component's name in the manifest (or its id). Every other workload stays exactly as\n" +
      'stable has it (pinned digests included); the new image is pinned by the orchestrator at plan time.',
    options: {
      version: { type: 'string', value: 'V', help: 'version of the new revision (default: its content hash prefix)' },
      strategy: { type: 'string', value: 'FILE', help: 'strategy file (JSON or YAML; default rolling)' },
      ...WAIT_OPTIONS,
      ...CLIENT_OPTIONS,
    },
  },
  async ({ values, positionals }) => {
    const [app, component, ref] = positionals as [string, string, string];
    const settings = clientOf(values);
    const timeoutMs = duration(values.timeout, 'timeout');
    const strategy = await readStrategyFile(values.strategy);
    return withApi(settings, async (api) => {
      const revision = withImage(await api.revision(app), component, ref, values.version);
      const view = await api.deploy(revision, strategy === undefined ? {} : { strategy });
      return started(api, view, {
        json: settings.json,
        wait: values.wait === true || timeoutMs !== undefined,
        timeoutMs,
      });
    });
  },
);

/** `cutover set image ...`. */
export const command = defineGroup('set', 'change one thing of a deployed app and roll it out', { image });
export const run = command.run;
export const spec = command.spec;
