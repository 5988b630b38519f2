import { type AppRevision, CutoverError, type LinkSpec, hasCode, linkKey } from 'cutover';
import { describe, expect, it } from 'vitest';
import {
  type GuardrailHost,
  type GuardrailInput,
  type GuardrailWorkload,
  addressesConflict,
  checkGuardrails,
  configAddresses,
  findGuardrails,
  normalizeAddress,
} from '../../machines/rollout/guardrails';
import { UPGRADE_TRIO, corpusRevision, editedCorpus } from '../fixtures/manifests';
import { link } from '../fixtures/specs';
import { parseManifest } from '../../src/protocol/manifest';

/** A link from the `http` server provider to `target`, listening on `address` (source config). */
function http(target: string, address: string, name = target, key = 'address'): LinkSpec {
  return link({
    source: 'http',
    target,
    namespace: 'wasi',
    package: 'http',
    interfaces: ['incoming-handler'],
    name,
    sourceConfig: { [key]: address },
  });
}

const httpKey = (name: string) => `http/wasi:http/${name}`;

/** `http('a', ':8080')` serving one more interface: changed, same address. */
const widenedA: LinkSpec = { ...http('a', '0.0.0.0:8080'), interfaces: ['incoming-handler', 'outgoing-handler'] };

function provider(links: LinkSpec[], overrides: Partial<GuardrailWorkload> = {}): GuardrailWorkload {
  return { id: 'http', kind: 'provider', imageRef: 'http-server:1', links, ...overrides };
}

function host(hostId: string, from: GuardrailWorkload[], to: GuardrailWorkload[]): GuardrailHost {
  return { hostId, from, to };
}

function input(hosts: GuardrailHost[], coexistence: GuardrailInput['coexistence'] = 'inPlace'): GuardrailInput {
  return { fromVersion: 'v1', toVersion: 'v2', coexistence, hosts };
}

describe('listening addresses', () => {
  it.each([
    ['0.0.0.0:8080', { host: '0.0.0.0', port: 8080, wildcard: true }],
    [':8080', { host: '0.0.0.0', port: 8080, wildcard: true }],
    ['8080', { host: '0.0.0.0', port: 8080, wildcard: true }],
    ['[::]:8080', { host: '0.0.0.0', port: 8080, wildcard: true }],
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080, wildcard: false }],
    ['localhost:8080', { host: '127.0.0.1', port: 8080, wildcard: false }],
    ['LOCALHOST:8080', { host: '127.0.0.1', port: 8080, wildcard: false }],
    ['http://10.0.0.1:80/path', { host: '10.0.0.1', port: 80, wildcard: false }],
    ['[::1]:443', { host: '::1', port: 443, wildcard: false }],
    [' 0.0.0.0:8000 ', { host: '0.0.0.0', port: 8000, wildcard: true }],
    ['127.0.0.1:0', undefined],
    ['0.0.0.0:70000', undefined],
    ['redis', undefined],
    ['fe80::1', undefined],
    ['host:port', undefined],
  ])('reads %o as %o', (text, expected) => {
    expect(normalizeAddress(text)).toEqual(expected);
  });

  it.each([
    ['0.0.0.0:8080', '127.0.0.1:8080', true],
    ['0.0.0.0:8080', ':8080', true],
    [':8080', '10.1.2.3:8080', true],
    ['127.0.0.1:8080', 'localhost:8080', true],
    ['127.0.0.1:8080', '10.0.0.1:8080', false],
    ['0.0.0.0:8080', '0.0.0.0:8081', false],
    ['[::]:8080', '127.0.0.1:8080', true],
  ])('%s and %s conflict: %s', (a, b, expected) => {
    const pa = normalizeAddress(a);
    const pb = normalizeAddress(b);
    expect(pa && pb && addressesConflict(pa, pb)).toBe(expected);
  });

  it.each([
    [{ address: '0.0.0.0:8080' }, [8080]],
    [{ ADDRESS: '127.0.0.1:8080' }, [8080]],
    [{ port: '8080' }, [8080]],
    [{ listen_address: ':9000', 'default-port': '81' }, [9000, 81]],
    [{ url: 'redis://127.0.0.1:6379', timeout: '8080' }, []],
    [{ port: 'http' }, []],
  ])('finds the exclusive addresses in %o', (config, ports) => {
    expect(configAddresses(config).map((a) => a.port)).toEqual(ports);
  });
});

describe('guardrails of an in-place upgrade', () => {
  it.each([
    // name, old links, new links, findings (kind link heldBy resource)
    ['unchanged links need nothing', [http('a', '0.0.0.0:8080')], [http('a', '0.0.0.0:8080')], []],
    [
      "a link moving from :8000 to :8080 while the old version's other link holds :8080 becomes a swap",
      [http('a', '0.0.0.0:8000'), http('b', '0.0.0.0:8080')],
      [http('a', '0.0.0.0:8080')],
      [['swap', httpKey('a'), httpKey('b'), 'address 0.0.0.0:8080', 'changed']],
    ],
    [
      'an added link wanting the address of a removed link becomes a swap',
      [http('a', '0.0.0.0:8080')],
      [http('c', '0.0.0.0:8080')],
      [['swap', httpKey('c'), httpKey('a'), 'address 0.0.0.0:8080', 'added']],
    ],
    [
      'an added link wanting the address a changed link gives up becomes a swap',
      [http('a', '0.0.0.0:8080')],
      [http('a', '0.0.0.0:9090'), http('c', '127.0.0.1:8080')],
      [['swap', httpKey('c'), httpKey('a'), 'address 127.0.0.1:8080', 'added']],
    ],
    [
      'wildcard and loopback of one port are the same resource',
      [http('a', '127.0.0.1:8080')],
      [http('c', ':8080')],
      [['swap', httpKey('c'), httpKey('a'), 'address 0.0.0.0:8080', 'added']],
    ],
    [
      'a port key and an address key of one port are the same resource',
      [http('a', '8080', 'a', 'port')],
      [http('c', '0.0.0.0:8080')],
      [['swap', httpKey('c'), httpKey('a'), 'address 0.0.0.0:8080', 'added']],
    ],
    ['different hosts of one port do not collide', [http('a', '127.0.0.1:8080')], [http('c', '10.0.0.1:8080')], []],
    ['port 0 never collides', [http('a', '127.0.0.1:0')], [http('c', '127.0.0.1:0')], []],
    ['a changed link keeping its own address is already a swap', [http('a', '0.0.0.0:8080')], [widenedA], []],
    [
      'an added link wanting an address a kept link holds conflicts within v2',
      [http('a', '0.0.0.0:8080')],
      [http('a', '0.0.0.0:8080'), http('c', '127.0.0.1:8080')],
      [['conflict', 'link "http/wasi:http/c"', 'link "http/wasi:http/a"', 'address 127.0.0.1:8080', 'v2']],
    ],
    [
      'two added links wanting one address conflict within v2, reported once',
      [],
      [http('c', '0.0.0.0:8080'), http('d', '0.0.0.0:8080')],
      [['conflict', 'link "http/wasi:http/c"', 'link "http/wasi:http/d"', 'address 0.0.0.0:8080', 'v2']],
    ],
    [
      'upgradedapp to upgradedapp2 (8082 → 8080 beside 8081) needs nothing',
      [http('hello', '0.0.0.0:8082'), http('dog', '0.0.0.0:8081')],
      [http('hello', '0.0.0.0:8080'), http('dog', '0.0.0.0:8081')],
      [],
    ],
  ] as const)('%s', (_name, before, after, expected) => {
    const findings = findGuardrails(
      input([host('h1', [provider([...before])], [provider([...after], { imageRef: 'http-server:2' })])]),
    );
    expect(
      findings.map((f) =>
        f.kind === 'swap'
          ? [f.kind, f.link, f.heldBy, f.resource, f.change]
          : [f.kind, f.wantedBy, f.heldBy, f.resource, f.fromVersion],
      ),
    ).toEqual(expected);
  });

  it('counts a link listed by both of its ends once', () => {
    const before = [http('a', '0.0.0.0:8000'), http('b', '0.0.0.0:8080')];
    const after = [http('a', '0.0.0.0:8080')];
    const findings = findGuardrails(
      input([
        host(
          'h1',
          [provider(before), { id: 'a', links: [before[0] as LinkSpec] }, { id: 'b', links: [before[1] as LinkSpec] }],
          [provider(after, { imageRef: 'http-server:2' }), { id: 'a', links: after }],
        ),
      ]),
    );
    expect(findings).toEqual([
      {
        kind: 'swap',
        link: httpKey('a'),
        change: 'changed',
        heldBy: httpKey('b'),
        resource: 'address 0.0.0.0:8080',
        hosts: ['h1'],
      },
    ]);
  });

  it('groups a finding across the hosts it happens on', () => {
    const before = [provider([http('a', '0.0.0.0:8080')])];
    const after = [provider([http('c', '0.0.0.0:8080')], { imageRef: 'http-server:2' })];
    const findings = findGuardrails(
      input([host('h3', before, after), host('h1', before, after), host('h2', before, before)]),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]?.hosts).toEqual(['h1', 'h3']);
  });

  it.each([
    // name, workload before, workload after, finding count
    [
      'a provider whose own config binds an address cannot run twice',
      { config: { address: '0.0.0.0:9000' } },
      { imageRef: 'http-server:2', config: { address: '0.0.0.0:9000' } },
      1,
    ],
    [
      'an unchanged provider keeps its address',
      { config: { address: '0.0.0.0:9000' } },
      { config: { address: '0.0.0.0:9000' } },
      0,
    ],
    [
      'a provider moving its own address is fine',
      { config: { address: '0.0.0.0:9000' } },
      { imageRef: 'http-server:2', config: { address: '0.0.0.0:9001' } },
      0,
    ],
    [
      'a component config port binds nothing',
      { kind: 'component', config: { 'default-port': '8080' } },
      { kind: 'component', imageRef: 'http-server:2', config: { 'default-port': '8080' } },
      0,
    ],
  ] as const)('%s', (_name, from, to, count) => {
    const findings = findGuardrails(input([host('h1', [provider([], from)], [provider([], to)])]));
    expect(findings.filter((f) => f.kind === 'conflict')).toHaveLength(count);
  });
});

describe('guardrails of a blue-green standby', () => {
  it.each([
    // name, workloads before, workloads after, resources in conflict
    [
      "a standby provider wanting the active's address conflicts",
      [provider([http('a', '0.0.0.0:8080')])],
      [provider([http('a', '0.0.0.0:8080')], { imageRef: 'http-server:2' })],
      ['address 0.0.0.0:8080'],
    ],
    [
      'a standby link wanting the address of a link the active still holds conflicts',
      [provider([http('a', '0.0.0.0:8080')])],
      [provider([http('c', '127.0.0.1:8080')], { imageRef: 'http-server:2' })],
      ['address 127.0.0.1:8080'],
    ],
    [
      'a standby component shares unchanged links',
      [provider([http('a', '0.0.0.0:8080')]), { id: 'a', imageRef: 'api:1', links: [http('a', '0.0.0.0:8080')] }],
      [provider([http('a', '0.0.0.0:8080')]), { id: 'a', imageRef: 'api:2', links: [http('a', '0.0.0.0:8080')] }],
      [],
    ],
    [
      'a standby on another address is fine',
      [provider([http('a', '0.0.0.0:8080')])],
      [provider([http('a', '0.0.0.0:8081')], { imageRef: 'http-server:2' })],
      [],
    ],
  ] as const)('%s', (_name, from, to, resources) => {
    const findings = findGuardrails(input([host('h1', [...from], [...to])], 'standby'));
    expect(findings.filter((f) => f.kind === 'conflict').map((f) => f.resource)).toEqual(resources);
    expect(findings.filter((f) => f.kind === 'swap')).toEqual([]);
  });
});

describe('checkGuardrails', () => {
  const swapOnly = input([
    host('h1', [provider([http('a', ':8080')])], [provider([http('c', ':8080')], { imageRef: 'http-server:2' })]),
  ]);
  const standby = input(
    ['h2', 'h1'].map((id) =>
      host(
        id,
        [provider([http('a', '0.0.0.0:8080')])],
        [provider([http('a', '0.0.0.0:8080')], { imageRef: 'http-server:2' })],
      ),
    ),
    'standby',
  );

  it('goes ahead as planned, with its swaps, when nothing conflicts', () => {
    expect(checkGuardrails(swapOnly)).toEqual({
      strategy: 'asPlanned',
      swaps: [
        {
          kind: 'swap',
          link: httpKey('c'),
          change: 'added',
          heldBy: httpKey('a'),
          resource: 'address 0.0.0.0:8080',
          hosts: ['h1'],
        },
      ],
    });
  });

  it('refuses a plan where both versions bind the same address, naming it, both versions and the hosts', () => {
    let caught: unknown;
    try {
      checkGuardrails(standby);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CutoverError);
    expect(hasCode(caught, 'plan.conflict')).toBe(true);
    expect((caught as CutoverError).message).toBe(
      'plan conflict: address 0.0.0.0:8080 is held by "v1" (link "http/wasi:http/a") while "v2" (link "http/wasi:http/a") needs it on hosts "h1", "h2"',
    );
    expect((caught as CutoverError).issues).toHaveLength(1);
  });

  it('falls back to a rolling update when allowed and in-place avoids the conflict', () => {
    const decision = checkGuardrails(standby, 'rolling');
    expect(decision.strategy).toBe('rolling');
    expect(decision.swaps).toEqual([]);
    expect(decision.strategy === 'rolling' && decision.reason).toContain(
      'falling back to a rolling update: address 0.0.0.0:8080',
    );
  });

  it.each([
    ['an in-place conflict', 'inPlace'],
    ['a blue-green conflict that in-place has too', 'standby'],
  ] as const)('still refuses %s with onConflict "rolling"', (_name, coexistence) => {
    const conflicted = input(
      [
        host(
          'h1',
          [provider([http('a', ':8080')])],
          [provider([http('a', ':8080'), http('c', ':8080')], { imageRef: 'http-server:2' })],
        ),
      ],
      coexistence,
    );
    expect(() => checkGuardrails(conflicted, 'rolling')).toThrowError(
      expect.objectContaining({
        code: 'plan.conflict',
        message: expect.stringMatching(/^plan conflict: address 0\.0\.0\.0:8080 .*"v2".*"h1"/),
      }),
    );
  });
});

describe('guardrails on the wadm upgrade trio', () => {
  /** What a host running every workload of `revision` serves. */
  function workloads(revision: AppRevision): GuardrailWorkload[] {
    return [
      ...revision.components.map((c) => c.spec),
      ...revision.providers.map((p) => ({ ...p.spec, kind: 'provider' as const })),
    ];
  }

  const outdated = corpusRevision(UPGRADE_TRIO.outdated);
  const upgraded = corpusRevision(UPGRADE_TRIO.upgraded);
  const upgraded2 = corpusRevision(UPGRADE_TRIO.upgraded2);
  // upgradedapp2 with dog-fetcher moved onto the address hello-world gives up (0.0.0.0:8082).
  const crowded = parseManifest(
    editedCorpus(UPGRADE_TRIO.upgraded2, 'address: 0.0.0.0:8081', 'address: 0.0.0.0:8082'),
  ).revision;
  const keyOf = (r: AppRevision, target: string) => {
    const found = r.links.find((l) => l.target === target && l.package === 'http');
    if (found === undefined) throw new Error(`no http link to "${target}"`);
    return linkKey(found);
  };

  function check(from: AppRevision, to: AppRevision, coexistence: GuardrailInput['coexistence']) {
    const hosts = ['h1', 'h2', 'h3'].map((id) => host(id, workloads(from), workloads(to)));
    return findGuardrails({ fromVersion: from.version, toVersion: to.version, coexistence, hosts });
  }

  it.each([
    ['outdatedapp → upgradedapp in place', outdated, upgraded, 'inPlace', []],
    ['upgradedapp → upgradedapp2 in place', upgraded, upgraded2, 'inPlace', []],
    [
      'upgradedapp → upgradedapp2 blue-green: the reconfigured http-server cannot bind 8081 beside the old',
      upgraded,
      upgraded2,
      'standby',
      ['conflict address 0.0.0.0:8081'],
    ],
    [
      'upgradedapp → upgradedapp2 blue-green with the http-server config unchanged',
      upgraded,
      parseManifest(
        editedCorpus(
          UPGRADE_TRIO.upgraded2,
          "        config:\n          - name: http-config\n            properties:\n              number: '1'\n",
          '',
        ),
      ).revision,
      'standby',
      [],
    ],
    [
      'outdatedapp → upgradedapp blue-green: the new http-server cannot bind 8081 beside the old',
      outdated,
      upgraded,
      'standby',
      ['conflict address 0.0.0.0:8081'],
    ],
    ['upgradedapp → crowded upgradedapp2 in place', upgraded, crowded, 'inPlace', ['swap address 0.0.0.0:8082']],
  ] as const)('%s', (_name, from, to, coexistence, expected) => {
    const findings = check(from, to, coexistence);
    expect(findings.map((f) => `${f.kind} ${f.resource}`)).toEqual(expected);
    for (const f of findings) expect(f.hosts).toEqual(['h1', 'h2', 'h3']);
  });

  it('turns the crowded move into a swap of dog-fetcher after hello-world lets go', () => {
    const [swap] = check(upgraded, crowded, 'inPlace');
    expect(swap).toMatchObject({
      kind: 'swap',
      change: 'changed',
      link: keyOf(crowded, 'updateapp-dog_fetcher'),
      heldBy: keyOf(upgraded, 'http_hello_world'),
    });
  });

  it('falls back to rolling for the blue-green http-server upgrade when allowed', () => {
    const hosts = [host('h1', workloads(outdated), workloads(upgraded))];
    const input = {
      fromVersion: outdated.version,
      toVersion: upgraded.version,
      coexistence: 'standby' as const,
      hosts,
    };
    expect(() => checkGuardrails(input)).toThrowError(
      /address 0\.0\.0\.0:8081 is held by ".+" \(link ".+"\) while ".+" \(link ".+"\) needs it on host "h1"/,
    );
    expect(checkGuardrails(input, 'rolling')).toMatchObject({ strategy: 'rolling', swaps: [] });
  });
});
