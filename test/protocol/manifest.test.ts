// Over 400 lines on purpose: the manifest parser's specification, the corpus table and its CLI in one place.
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { run as validateCommand } from '../../src/cli/commands/validate';
import { isCutoverError, type Issue } from '../../src/errors';
import { stringify } from 'yaml';
import { parse as parseYaml } from 'yaml';
import {
  CONFIG_REFS_ANNOTATION,
  CONTENT_VERSION_LENGTH,
  formatPath,
  parseManifest,
  wadmComponentId,
} from '../../src/protocol/manifest';
import { CORPUS_DIR, corpusFiles, corpusText, editedCorpus } from '../fixtures/manifests';

/** Runs `fn`, expecting `manifest.invalid`, and returns its issues. */
function issuesOf(fn: () => unknown): Issue[] {
  try {
    fn();
  } catch (e) {
    if (isCutoverError(e) && e.code === 'manifest.invalid') return [...(e.issues ?? [])];
    throw e;
  }
  throw new Error('expected manifest.invalid, but the manifest was accepted');
}

type Expectation =
  | {
      valid: true;
      app: string;
      version?: string;
      components: string[];
      providers: string[];
      links: number;
      warnings: string[];
    }
  | { valid: false; issues: Issue[] };

// One row per corpus file, from SOURCES.md (which follows wadm's own tests).
const CORPUS: Record<string, Expectation> = {
  'wadm__oam__config.yaml': {
    valid: true,
    app: 'config-example',
    components: ['config_example-http'],
    providers: ['config_example-webcap'],
    links: 0,
    warnings: [],
  },
  'wadm__oam__custom.yaml': {
    valid: true,
    app: 'my-example-app',
    components: ['my_example_app-userinfo'],
    providers: ['my_example_app-webcap'],
    links: 1,
    warnings: ['spec.components[0].traits[0].type: unsupported trait type "customscaler" is ignored'],
  },
  'wadm__oam__hello.yaml': {
    valid: true,
    app: 'hello-world',
    components: ['hello_world-http_component'],
    providers: ['hello_world-httpserver'],
    links: 1,
    warnings: [],
  },
  'wadm__oam__kvcounter.yaml': {
    valid: true,
    app: 'kvcounter-rust',
    components: ['kvcounter_rust-kvcounter'],
    providers: ['kvcounter_rust-httpserver', 'kvcounter_rust-kvredis'],
    links: 2,
    // The example predates wasi:keyvalue 0.2 (`atomics`, `store`): wadm warns about both names too.
    warnings: [
      'spec.components[0].traits[1].properties.interfaces[0]: unrecognized interface [wasi:keyvalue/atomic]',
      'spec.components[0].traits[1].properties.interfaces[1]: unrecognized interface [wasi:keyvalue/eventual]',
    ],
  },
  'wadm__tests__fixtures__manifests__complex.yaml': {
    valid: true,
    app: 'complex',
    components: ['littleblobbytables'],
    providers: ['http_server', 'fileserver'],
    links: 2,
    warnings: [
      'spec.components[0].properties.config[1]: config "blobby-default-configuration-values" has no properties: it refers to existing config that cannot be resolved here',
    ],
  },
  'wadm__tests__fixtures__manifests__dangling-link.wadm.yaml': {
    valid: false,
    issues: [
      {
        path: 'spec.components[0].traits[1].properties.target.name',
        message: 'link target "httpclient" is not a component in the manifest',
      },
    ],
  },
  'wadm__tests__fixtures__manifests__deprecated-source-and-target-config.yaml': {
    valid: true,
    app: 'rust-http-blobstore',
    version: 'v0.0.1',
    components: ['rust_http_blobstore-http_blobstore'],
    providers: ['rust_http_blobstore-httpserver', 'rust_http_blobstore-blobstore_fs'],
    links: 2,
    warnings: [
      'spec.components[0].traits[1].properties.target_config: target_config is deprecated, use target.config',
      'spec.components[1].traits[0].properties.source_config: source_config is deprecated, use source.config',
    ],
  },
  'wadm__tests__fixtures__manifests__duplicate_component.yaml': {
    valid: false,
    issues: [
      { path: 'spec.components[1].name', message: 'duplicate component name "ui"' },
      { path: 'spec.components[3].name', message: 'duplicate component name "vets"' },
    ],
  },
  'wadm__tests__fixtures__manifests__incorrect_unique_interface_links.yaml': {
    valid: false,
    issues: [
      {
        path: 'spec.components[0].traits[2].properties.interfaces[0]',
        message:
          'duplicate link found inside component "my-component": default (wasi:keyvalue/atomics) (targets "redis-1" and "redis-2")',
      },
    ],
  },
  'wadm__tests__fixtures__manifests__misnamed-interface.wadm.yaml': {
    valid: true,
    app: 'misnamed-interface',
    version: 'v0.0.1',
    components: ['misnamed_interface-counter'],
    providers: ['misnamed_interface-kvredis'],
    links: 1,
    warnings: ['spec.components[0].traits[1].properties.interfaces[0]: unrecognized interface [wasi:keyvalue/atomic]'],
  },
  'wadm__tests__fixtures__manifests__outdatedapp.yaml': {
    valid: true,
    app: 'updateapp',
    components: ['updateapp-dog_fetcher', 'http_hello_world', 'updateapp-kvcounter'],
    providers: ['http_server', 'keyvalue_redis'],
    links: 3,
    warnings: [],
  },
  'wadm__tests__fixtures__manifests__policy.wadm.yaml': {
    valid: true,
    app: 'sample',
    version: 'v0.0.1',
    components: ['sample-http_component'],
    providers: [],
    links: 0,
    warnings: [],
  },
  'wadm__tests__fixtures__manifests__shared__shared_http.yaml': {
    valid: true,
    app: 'shared-http',
    components: [],
    providers: ['shared_http-httpclient', 'shared_http-httpserver'],
    links: 0,
    warnings: [],
  },
  'wadm__tests__fixtures__manifests__upgradedapp.yaml': {
    valid: true,
    app: 'updateapp',
    components: ['updateapp-dog_fetcher', 'updateapp-echo_messaging', 'http_hello_world'],
    providers: ['http_server'],
    links: 2,
    warnings: [],
  },
  'wadm__tests__fixtures__manifests__upgradedapp2.yaml': {
    valid: true,
    app: 'updateapp',
    components: ['updateapp-dog_fetcher', 'updateapp-echo_messaging', 'http_hello_world'],
    providers: ['http_server'],
    links: 2,
    warnings: [],
  },
  'wasmCloud__crates__wash__tests__fixtures__wadm__component-only.wadm.yaml': {
    valid: true,
    app: 'example',
    components: ['example-http_component'],
    providers: [],
    links: 0,
    warnings: [],
  },
  'wasmCloud__examples__rust__components__echo-messaging__wadm.yaml': {
    valid: true,
    app: 'rust-echo-messaging',
    version: 'v0.0.1',
    components: ['echo'],
    providers: ['rust_echo_messaging-nats'],
    links: 2,
    warnings: [],
  },
  'wasmCloud__examples__rust__components__http-hello-world__wadm.yaml': {
    valid: true,
    app: 'rust-hello-world',
    components: ['rust_hello_world-http_component'],
    providers: ['rust_hello_world-httpserver'],
    links: 1,
    warnings: [],
  },
  'wasmCloud__examples__rust__components__http-keyvalue-counter__wadm.yaml': {
    valid: true,
    app: 'rust-http-kv',
    version: 'v0.0.1',
    components: ['rust_http_kv-counter'],
    providers: ['rust_http_kv-kvredis', 'rust_http_kv-httpserver'],
    links: 2,
    warnings: [],
  },
  'wasmCloud__examples__rust__composition__wadm.yaml': {
    valid: true,
    app: 'composed-pong',
    version: 'v0.0.1',
    components: ['composed_pong-http_component'],
    providers: ['composed_pong-httpserver'],
    links: 1,
    warnings: [],
  },
};

describe('parseManifest on the wadm corpus', () => {
  it('has an expectation for every corpus file, and a file for every expectation', () => {
    expect(Object.keys(CORPUS).sort()).toEqual(corpusFiles());
  });

  const valid = Object.entries(CORPUS).flatMap(([f, e]) => (e.valid ? [[f, e] as const] : []));
  const invalid = Object.entries(CORPUS).flatMap(([f, e]) => (e.valid ? [] : [[f, e] as const]));

  it.each(valid)('accepts %s as SOURCES.md says, with the expected ids and warnings', (file, want) => {
    const { revision, warnings } = parseManifest(corpusText(file));
    expect(revision.app).toBe(want.app);
    expect(revision.components.map((c) => c.spec.id)).toEqual(want.components);
    expect(revision.providers.map((p) => p.spec.id)).toEqual(want.providers);
    expect(revision.links).toHaveLength(want.links);
    expect(warnings).toEqual(want.warnings);
    expect(revision.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(revision.version).toBe(want.version ?? revision.contentHash.slice(0, CONTENT_VERSION_LENGTH));
    for (const c of [...revision.components, ...revision.providers]) expect(c.spec.app).toBe(want.app);
  });

  it.each(invalid)('rejects %s with manifest.invalid naming every problem', (file, want) => {
    expect(issuesOf(() => parseManifest(corpusText(file)))).toEqual(want.issues);
  });

  it('accepts custom.yaml with a warning: wadm validate passes customscaler (only link/scaler-typed custom traits are errors) but nothing scales by it', () => {
    const { revision } = parseManifest(corpusText('wadm__oam__custom.yaml'));
    expect(revision.components[0]?.scale).toBeUndefined();
    expect(revision.links[0]).toMatchObject({ source: 'my_example_app-webcap', target: 'my_example_app-userinfo' });
  });
});

describe('parseManifest mapping', () => {
  it('maps complex.yaml: custom ids, merged config, config references, spreads with weights, policies, link config', () => {
    const { revision } = parseManifest(corpusText('wadm__tests__fixtures__manifests__complex.yaml'));
    const blobby = revision.components[0];
    expect(blobby?.name).toBe('blobby');
    expect(blobby?.spec).toMatchObject({
      id: 'littleblobbytables',
      imageRef: 'ghcr.io/wasmcloud/components/blobby-rust:0.4.0',
      config: { http: '404' },
      annotations: { [CONFIG_REFS_ANNOTATION]: 'blobby-default-configuration-values' },
    });
    expect(blobby?.scale).toEqual({
      kind: 'spread',
      instances: 5,
      spread: [
        { name: 'eastcoast', requirements: { region: 'us-brooks-east' }, weight: 40 },
        { name: 'westcoast', requirements: { region: 'us-taylor-west' }, weight: 40 },
      ],
    });
    expect(revision.providers.find((p) => p.name === 'fileserver')?.spec.config).toEqual({ root: '/tmp/blobby' });
    expect(revision.policies).toEqual([
      { name: 'whatever', type: 'a-sample-policy', properties: { some: 'value', another: 'kind' } },
    ]);
    expect(revision.links).toEqual([
      {
        source: 'littleblobbytables',
        target: 'fileserver',
        namespace: 'wasi',
        package: 'blobstore',
        interfaces: ['blobstore'],
        name: 'default',
        sourceConfig: {},
        targetConfig: { root: '/tmp' },
      },
      {
        source: 'http_server',
        target: 'littleblobbytables',
        namespace: 'wasi',
        package: 'http',
        interfaces: ['incoming-handler'],
        name: 'default',
        sourceConfig: { address: '0.0.0.0:8081' },
        targetConfig: {},
      },
    ]);
  });

  it('gives every component and provider its links, outgoing where it is the source and incoming where it is the target', () => {
    const { revision } = parseManifest(corpusText('wasmCloud__examples__rust__components__echo-messaging__wadm.yaml'));
    const echo = revision.components[0]?.spec;
    const nats = revision.providers[0]?.spec;
    expect(echo?.links.map((l) => [l.direction, l.interfaces[0], l.source, l.target])).toEqual([
      ['outgoing', 'consumer', 'echo', 'rust_echo_messaging-nats'],
      ['incoming', 'handler', 'rust_echo_messaging-nats', 'echo'],
    ]);
    expect(nats?.links.map((l) => [l.direction, l.interfaces[0]])).toEqual([
      ['incoming', 'consumer'],
      ['outgoing', 'handler'],
    ]);
    expect(revision.links.map((l) => [l.targetConfig, l.sourceConfig])).toEqual([
      [{ subscriptions: 'wasmcloud.echo' }, {}],
      [{}, { subscriptions: 'wasmcloud.echo' }],
    ]);
  });

  it('maps the deprecated string target, target_config and source_config forms like wadm does', () => {
    const { revision } = parseManifest(
      corpusText('wadm__tests__fixtures__manifests__deprecated-source-and-target-config.yaml'),
    );
    expect(revision.links.map((l) => [l.source, l.target, l.sourceConfig, l.targetConfig])).toEqual([
      ['rust_http_blobstore-http_blobstore', 'rust_http_blobstore-blobstore_fs', {}, { root: '/tmp' }],
      ['rust_http_blobstore-httpserver', 'rust_http_blobstore-http_blobstore', { address: '0.0.0.0:8000' }, {}],
    ]);
  });

  it('reads the replicas alias of instances and keeps policies (policy.wadm.yaml)', () => {
    const { revision } = parseManifest(corpusText('wadm__tests__fixtures__manifests__policy.wadm.yaml'));
    expect(revision.components[0]?.scale).toEqual({ kind: 'spread', instances: 1, spread: [] });
    expect(revision.policies).toEqual([
      { name: 'secrets-policy', type: 'policy.secret.wasmcloud.dev/v1alpha1', properties: { metadata: 'a-value' } },
    ]);
  });

  it('keeps file:// image refs, annotations, and leaves scale undefined without a scaler', () => {
    const composed = parseManifest(corpusText('wasmCloud__examples__rust__composition__wadm.yaml')).revision;
    expect(composed.components[0]?.spec.imageRef).toBe('file://./output.wasm');
    expect(composed.providers[0]?.scale).toBeUndefined();
    const shared = parseManifest(corpusText('wadm__tests__fixtures__manifests__shared__shared_http.yaml')).revision;
    expect(shared.annotations['experimental.wasmcloud.dev/shared']).toBe('true');
  });

  it('maps a daemonscaler to a daemon scale', () => {
    const text = editedCorpus('wadm__oam__hello.yaml', 'type: spreadscaler', 'type: daemonscaler');
    expect(parseManifest(text).revision.components[0]?.scale).toEqual({ kind: 'daemon', instances: 1, spread: [] });
  });

  it('names components like wadm: the id property, else app-name lowercased with other characters as _', () => {
    expect(wadmComponentId('Hello.World', 'http-Component')).toBe('hello_world-http_component');
    expect(wadmComponentId('app', 'x', 'custom_id')).toBe('custom_id');
  });

  it('accepts the same manifest as JSON', () => {
    const yamlText = corpusText('wadm__tests__fixtures__manifests__complex.yaml');
    const json = JSON.stringify(parseYaml(yamlText));
    expect(parseManifest(json)).toEqual(parseManifest(yamlText));
  });

  it('maps secrets to references through a secret policy, never values', () => {
    const doc = parseYaml(corpusText('wadm__tests__fixtures__manifests__policy.wadm.yaml'));
    doc.spec.policies[0].properties.backend = 'nats-kv';
    doc.spec.components[0].properties.secrets = [
      { name: 'api-key', properties: { policy: 'secrets-policy', key: 'api', field: 'token' } },
    ];
    const { revision } = parseManifest(stringify(doc));
    expect(revision.components[0]?.spec.secrets).toEqual([
      { name: 'api-key', policy: 'secrets-policy', key: 'api', field: 'token' },
    ]);
  });
});

describe('parseManifest versions and content hash', () => {
  const hello = corpusText('wadm__oam__hello.yaml');

  it('uses the version annotation as version and leaves it out of the content hash', () => {
    const unversioned = parseManifest(hello).revision;
    const versioned = parseManifest(
      hello.replace(
        "description: 'HTTP hello world demo'",
        "description: 'HTTP hello world demo'\n    version: v1.2.3",
      ),
    ).revision;
    expect(versioned.version).toBe('v1.2.3');
    expect(versioned.contentHash).toBe(unversioned.contentHash);
    expect(unversioned.version).toBe(unversioned.contentHash.slice(0, CONTENT_VERSION_LENGTH));
  });

  it('keeps the content hash when components are reordered and changes it when content changes', () => {
    const doc = parseYaml(hello);
    const base = parseManifest(hello).revision.contentHash;
    doc.spec.components.reverse();
    expect(parseManifest(stringify(doc)).revision.contentHash).toBe(base);
    const changed = hello.replace('ADDRESS: 127.0.0.1:8080', 'ADDRESS: 127.0.0.1:8081');
    expect(parseManifest(changed).revision.contentHash).not.toBe(base);
  });

  it('refuses the version "latest", as wadm does', () => {
    const text = hello.replace("description: 'HTTP hello world demo'", 'description: x\n    version: latest');
    expect(issuesOf(() => parseManifest(text))).toEqual([
      { path: 'metadata.annotations.version', message: 'version "latest" is not allowed in wadm' },
    ]);
  });
});

describe('parseManifest errors name the bad field', () => {
  const hello = 'wadm__oam__hello.yaml';

  it('names the link target when a corpus link target is renamed', () => {
    const text = editedCorpus(
      hello,
      'name: http-component\n            namespace',
      'name: http-komponent\n            namespace',
    );
    expect(issuesOf(() => parseManifest(text))).toEqual([
      {
        path: 'spec.components[1].traits[0].properties.target.name',
        message: 'link target "http-komponent" is not a component in the manifest',
      },
    ]);
  });

  it('names instances when it is not a number', () => {
    const text = editedCorpus(hello, 'instances: 1', 'instances: one');
    const issues = issuesOf(() => parseManifest(text));
    expect(issues.map((i) => i.path)).toEqual(['spec.components[0].traits[0].properties.instances']);
    expect(issues[0]?.message).toMatch(/expected number/);
  });

  it('names the image when it is missing', () => {
    const text = editedCorpus(hello, 'image: ghcr.io/wasmcloud/http-server:0.23.0', 'id: http-server');
    expect(issuesOf(() => parseManifest(text))).toEqual([
      {
        path: 'spec.components[1].properties.image',
        message: "component must have either 'image' or 'application' property",
      },
    ]);
  });

  it('gives the line and column of a yaml syntax error', () => {
    const text = editedCorpus(hello, 'interfaces: [incoming-handler]', 'interfaces: [incoming-handler');
    // The unclosed sequence opens on line 33; the parser notices where the next key starts.
    expect(issuesOf(() => parseManifest(text))).toEqual([
      {
        path: '(root)',
        message: 'line 34, column 13: flow sequence in block collection must be sufficiently indented and end with a ]',
      },
    ]);
  });

  it('reports a yaml duplicate key with its line', () => {
    const text = editedCorpus(hello, '  name: hello-world\n', '  name: hello-world\n  name: again\n');
    expect(issuesOf(() => parseManifest(text))[0]?.message).toBe('line 6, column 3: map keys must be unique');
  });

  it('collects every shape problem at once, including unknown keys', () => {
    const doc = parseYaml(corpusText(hello));
    doc.kind = 'Deployment';
    doc.spec.components[0].properties.imagee = 'typo';
    doc.spec.components[1].traits[0].properties.interfaces = [];
    doc.spec.components[0].traits[0].properties.instances = -1;
    const paths = issuesOf(() => parseManifest(stringify(doc))).map((i) => i.path);
    expect(paths).toEqual([
      'kind',
      'spec.components[0].properties',
      'spec.components[0].traits[0].properties.instances',
      'spec.components[1].traits[0].properties.interfaces',
    ]);
  });

  it('collects every rule problem at once', () => {
    const doc = parseYaml(corpusText('wadm__tests__fixtures__manifests__complex.yaml'));
    doc.spec.components[1].properties.id = 'littleblobbytables';
    doc.spec.components[0].properties.config[1].name = 'defaultcode';
    doc.spec.components[1].traits[1].properties.source.config[0].name = 'rootfs';
    doc.spec.components[0].properties.secrets = [{ name: 's', properties: { policy: 'whatever', key: 'k' } }];
    expect(issuesOf(() => parseManifest(stringify(doc)))).toEqual([
      {
        path: 'spec.components[1].properties.id',
        message: 'duplicate component identifier "littleblobbytables" (also spec.components[0])',
      },
      {
        path: 'spec.components[0].properties.config[1].name',
        message: 'duplicate config name "defaultcode" in component "blobby"',
      },
      {
        path: 'spec.components[0].properties.secrets[0].properties.policy',
        message:
          'secret "s" is mapped to policy "whatever" which is not a secret policy (type "policy.secret.wasmcloud.dev/v1alpha1")',
      },
      {
        path: 'spec.components[1].traits[1].properties.source.config[0].name',
        message:
          'duplicate link config name "rootfs" (also spec.components[0].traits[1].properties.target.config[0].name)',
      },
    ]);
  });

  it('refuses links sharing source, namespace:package and name to different targets (the host keys links that way)', () => {
    const doc = parseYaml(corpusText('wadm__tests__fixtures__manifests__incorrect_unique_interface_links.yaml'));
    doc.spec.components[0].traits[2].properties.interfaces = ['store'];
    expect(issuesOf(() => parseManifest(stringify(doc)))).toEqual([
      {
        path: 'spec.components[0].traits[2].properties.target',
        message:
          'links from "my-component" on wasi:keyvalue named "default" go to different targets (targets "redis-1" and "redis-2"): give them different link names',
      },
    ]);
  });

  it('merges links sharing that key to the same target into one link (wadm accepts correct_unique_interface_links)', () => {
    const doc = parseYaml(corpusText('wadm__tests__fixtures__manifests__incorrect_unique_interface_links.yaml'));
    doc.spec.components[0].traits[2].properties.interfaces = ['store'];
    doc.spec.components[0].traits[2].properties.target = 'redis-1';
    const { revision } = parseManifest(stringify(doc));
    expect(revision.links.map((l) => [l.target, l.interfaces])).toEqual([
      ['test_duplicate_interfaces-redis_1', ['atomics', 'store']],
    ]);
  });

  it('formats paths with brackets for indexes and odd keys', () => {
    expect(formatPath(['spec', 'components', 1, 'traits', 0, 'properties', 'target', 'name'])).toBe(
      'spec.components[1].traits[0].properties.target.name',
    );
    expect(formatPath(['metadata', 'annotations', 'wasmcloud.dev/x'])).toBe('metadata.annotations["wasmcloud.dev/x"]');
    expect(formatPath([])).toBe('(root)');
  });
});

/** Runs `cutover validate` in-process, capturing what it writes. */
async function validateCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await validateCommand(args), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('cutover validate', () => {
  it('prints the revision summary and warnings of a valid manifest', async () => {
    const file = join(CORPUS_DIR, 'wadm__tests__fixtures__manifests__misnamed-interface.wadm.yaml');
    const { code, out } = await validateCli([file]);
    expect(code).toBe(0);
    expect(out).toContain('app misnamed-interface version v0.0.1');
    expect(out).toContain('components 1, providers 1, links 1');
    expect(out).toContain(
      'warning: spec.components[0].traits[1].properties.interfaces[0]: unrecognized interface [wasi:keyvalue/atomic]',
    );
  });

  it('prints every issue and exits 1 for an invalid manifest, as JSON with --json', async () => {
    const file = join(CORPUS_DIR, 'wadm__tests__fixtures__manifests__duplicate_component.yaml');
    const { code, out } = await validateCli([file, '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(out)).toEqual({
      valid: false,
      issues: [
        { path: 'spec.components[1].name', message: 'duplicate component name "ui"' },
        { path: 'spec.components[3].name', message: 'duplicate component name "vets"' },
      ],
    });
  });

  it('prints usage and exits 2 without a manifest', async () => {
    const { code, err } = await validateCli([]);
    expect(code).toBe(2);
    expect(err).toContain('cutover validate: missing MANIFEST');
    expect(err).toContain('usage: cutover validate MANIFEST [options]');
  });
});
