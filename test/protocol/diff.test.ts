import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { diffRevisions } from '../../src/protocol/diff';
import { parseManifest } from '../../src/protocol/manifest';
import { UPGRADE_TRIO, corpusRevision, corpusText } from '../fixtures/manifests';

const HELLO_LINK = 'http_server/wasi:http/hello';

describe('diffRevisions on the wadm upgrade trio', () => {
  const outdated = corpusRevision(UPGRADE_TRIO.outdated);
  const upgraded = corpusRevision(UPGRADE_TRIO.upgraded);
  const upgraded2 = corpusRevision(UPGRADE_TRIO.upgraded2);

  it('lists exactly what outdatedapp → upgradedapp changes', () => {
    const d = diffRevisions(outdated, upgraded);
    expect(d.app).toEqual({ from: 'updateapp', to: 'updateapp' });
    expect(d.components.added).toEqual([{ name: 'echo-messaging', id: 'updateapp-echo_messaging' }]);
    expect(d.components.removed).toEqual([{ name: 'kvcounter', id: 'updateapp-kvcounter' }]);
    expect(d.components.changed).toEqual([
      {
        name: 'dog-fetcher',
        id: 'updateapp-dog_fetcher',
        fields: ['imageRef'],
        imageRef: {
          from: 'ghcr.io/wasmcloud/components/dog-fetcher-rust:0.1.0',
          to: 'ghcr.io/wasmcloud/components/dog-fetcher-rust:0.1.1',
        },
      },
      // hello-world's own fields are unchanged, but the spec it receives carries the hello link, whose address moved.
      {
        name: 'hello-world',
        id: 'http_hello_world',
        fields: ['links'],
        links: { added: [], removed: [], changed: [HELLO_LINK] },
      },
    ]);
    expect(d.providers.added).toEqual([]);
    expect(d.providers.removed).toEqual([{ name: 'redis', id: 'keyvalue_redis' }]);
    expect(d.providers.changed).toEqual([
      {
        name: 'httpserver',
        id: 'http_server',
        fields: ['imageRef', 'links'],
        imageRef: { from: 'ghcr.io/wasmcloud/http-server:0.20.1', to: 'ghcr.io/wasmcloud/http-server:0.23.0' },
        links: { added: [], removed: [], changed: [HELLO_LINK] },
      },
    ]);
    expect(d.links.added).toEqual([]);
    expect(d.links.removed).toEqual([
      {
        source: 'updateapp-kvcounter',
        target: 'keyvalue_redis',
        namespace: 'wasi',
        package: 'keyvalue',
        interfaces: ['atomics', 'store'],
        name: 'default',
        sourceConfig: {},
        targetConfig: { URL: 'redis://127.0.0.1:6379' },
      },
    ]);
    expect(d.links.changed.map(({ key, fields, sourceConfig }) => ({ key, fields, sourceConfig }))).toEqual([
      { key: HELLO_LINK, fields: ['sourceConfig'], sourceConfig: { added: [], removed: [], changed: ['address'] } },
    ]);
    expect(d.config).toEqual({
      added: [],
      removed: [],
      changed: [{ scope: 'link.source', owner: HELLO_LINK, key: 'address', from: '0.0.0.0:8080', to: '0.0.0.0:8082' }],
    });
    expect(d.annotations).toEqual({ added: [], removed: [], changed: ['description'] });
    expect(d.empty).toBe(false);
  });

  it('lists exactly what upgradedapp → upgradedapp2 changes: provider config added, link address back to 8080', () => {
    const d = diffRevisions(upgraded, upgraded2);
    expect([d.components.added, d.components.removed, d.providers.added, d.providers.removed]).toEqual([
      [],
      [],
      [],
      [],
    ]);
    expect(d.components.changed).toEqual([
      {
        name: 'hello-world',
        id: 'http_hello_world',
        fields: ['links'],
        links: { added: [], removed: [], changed: [HELLO_LINK] },
      },
    ]);
    expect(d.providers.changed).toEqual([
      {
        name: 'httpserver',
        id: 'http_server',
        fields: ['config', 'links'],
        config: { added: ['number'], removed: [], changed: [] },
        links: { added: [], removed: [], changed: [HELLO_LINK] },
      },
    ]);
    expect([d.links.added, d.links.removed]).toEqual([[], []]);
    expect(d.links.changed.map((c) => [c.key, c.fields, c.from.sourceConfig, c.to.sourceConfig])).toEqual([
      [HELLO_LINK, ['sourceConfig'], { address: '0.0.0.0:8082' }, { address: '0.0.0.0:8080' }],
    ]);
    expect(d.config).toEqual({
      added: [{ scope: 'provider', owner: 'httpserver', key: 'number', to: '1' }],
      removed: [],
      changed: [{ scope: 'link.source', owner: HELLO_LINK, key: 'address', from: '0.0.0.0:8082', to: '0.0.0.0:8080' }],
    });
    expect(d.annotations).toEqual({ added: [], removed: [], changed: [] });
  });

  it('reverses: upgradedapp2 → outdatedapp lists the added back as removed and the removed back as added', () => {
    const d = diffRevisions(upgraded2, outdated);
    expect(d.components.added.map((c) => c.name)).toEqual(['kvcounter']);
    expect(d.components.removed.map((c) => c.name)).toEqual(['echo-messaging']);
    expect(d.providers.added.map((p) => p.name)).toEqual(['redis']);
    expect(d.config.removed).toEqual([{ scope: 'provider', owner: 'httpserver', key: 'number', from: '1' }]);
    // 8080 → 8080: outdatedapp and upgradedapp2 agree on the hello address, so the link itself is unchanged.
    expect(d.links.changed).toEqual([]);
  });
});

describe('diffRevisions', () => {
  it('finds nothing between a revision and itself', () => {
    const r = corpusRevision('wadm__tests__fixtures__manifests__complex.yaml');
    const d = diffRevisions(r, r);
    expect(d.empty).toBe(true);
    expect([d.components.changed, d.providers.changed, d.links.changed, d.config.changed]).toEqual([[], [], [], []]);
  });

  it('is deterministic: manifest order of components and links does not change the result', () => {
    const text = corpusText(UPGRADE_TRIO.outdated);
    const doc = parseYaml(text);
    doc.spec.components.reverse();
    for (const c of doc.spec.components) c.traits?.reverse();
    const reordered = parseManifest(stringify(doc)).revision;
    const upgraded = corpusRevision(UPGRADE_TRIO.upgraded);
    expect(diffRevisions(reordered, upgraded)).toEqual(diffRevisions(corpusRevision(UPGRADE_TRIO.outdated), upgraded));
    expect(diffRevisions(reordered, corpusRevision(UPGRADE_TRIO.outdated)).empty).toBe(true);
  });

  it('reports scale, target and interface changes by field', () => {
    const before = corpusRevision('wadm__oam__kvcounter.yaml');
    const doc = parseYaml(corpusText('wadm__oam__kvcounter.yaml'));
    doc.spec.components[0].traits[0].properties.instances = 4;
    doc.spec.components[0].traits[1].properties.interfaces = ['atomics', 'store'];
    doc.spec.components[1].traits[0].properties.target.name = 'kvredis';
    doc.spec.components[1].traits[0].properties.interfaces = ['outgoing-handler'];
    const after = parseManifest(stringify(doc)).revision;
    const d = diffRevisions(before, after);
    expect(d.components.changed.map((c) => [c.name, c.fields])).toEqual([['kvcounter', ['links', 'scale']]]);
    expect(d.links.changed.map((c) => [c.key, c.fields])).toEqual([
      ['kvcounter_rust-httpserver/wasi:http/default', ['target', 'interfaces']],
      ['kvcounter_rust-kvcounter/wasi:keyvalue/default', ['interfaces']],
    ]);
  });
});
