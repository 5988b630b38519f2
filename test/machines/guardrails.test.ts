import { CutoverError, hasCode } from '../../src/errors';
import { type AppRevision, LinkSpec, linkKey } from '../../src/protocol/spec';
import { describe, expect, it } from 'vitest';
import {
  type GuardrailHost,
  type GuardrailInput,
  type GuardrailWorkload,
  type ConflictFinding,
  addressesConflict,
  checkGuardrails,
  configAddresses,
  conflictError,
  describeConflict,
  findGuardrails,
  guardrailWorkloads,
  normalizeAddress,
} from '../../machines/rollout/guardrails';
import { UPGRADE_TRIO, corpusRevision, editedCorpus } from '../fixtures/manifests';
import { parseManifest } from '../../src/protocol/manifest';

/** A link from the `http` server provider to `target`, listening on `address` (source config). */
function http(target: string, address: string, name = target, key = 'address'): LinkSpec {
  return LinkSpec.parse({
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

describe('listening addresses, at their edges', () => {
  it.each([
    ['65535', { host: '0.0.0.0', port: 65535, wildcard: true }],
    ['65536', undefined],
    ['99999', undefined],
    ['123456', undefined],
    ['1', { host: '0.0.0.0', port: 1, wildcard: true }],
    [':8080x', undefined],
    ['8080x', undefined],
    ['10.0.0.1:8080x', undefined],
    ['[::1]:80x', undefined],
    ['[::1]', undefined],
    ['x[::1]:80', undefined],
    ['[]:80', { host: '0.0.0.0', port: 80, wildcard: true }],
    ['*:80', { host: '0.0.0.0', port: 80, wildcard: true }],
    [':', undefined],
    ['', undefined],
    ['HTTP://10.0.0.1:80', { host: '10.0.0.1', port: 80, wildcard: false }],
    ['git+ssh://10.0.0.1:22', { host: '10.0.0.1', port: 22, wildcard: false }],
    ['web.v-2://10.0.0.1:22', { host: '10.0.0.1', port: 22, wildcard: false }],
    ['1http://10.0.0.1:80', undefined],
    ['http://[::1]:8080/x/y', { host: '::1', port: 8080, wildcard: false }],
    ['10.0.0.1:80/a/b', { host: '10.0.0.1', port: 80, wildcard: false }],
    ['Example.COM:443', { host: 'example.com', port: 443, wildcard: false }],
    ['[FE80::1]:443', { host: 'fe80::1', port: 443, wildcard: false }],
    ['a:80', { host: 'a', port: 80, wildcard: false }],
    [':x80', undefined],
  ])('reads %o as %o', (text, expected) => {
    expect(normalizeAddress(text)).toEqual(expected);
  });

  it.each([
    ['127.0.0.1:8080', '0.0.0.0:8080', true],
    ['10.0.0.1:8080', '10.0.0.1:8080', true],
    ['10.0.0.1:8080', '10.0.0.1:8081', false],
    ['[::]:8080', '[::]:9090', false],
  ])('%s and %s conflict: %s', (a, b, expected) => {
    const [pa, pb] = [normalizeAddress(a), normalizeAddress(b)];
    if (!pa || !pb) throw new Error('unparsed');
    expect(addressesConflict(pa, pb)).toBe(expected);
  });

  it.each([
    [{ portal: '8080' }, []],
    [{ import: '8080' }, []],
    [{ passport: '8080' }, []],
    [{ readdress: '0.0.0.0:8080' }, []],
    [{ address_book: '0.0.0.0:8080' }, []],
    [{ addr: '0.0.0.0:1' }, [1]],
    [{ bind: ':2' }, [2]],
    [{ listen: '3' }, [3]],
    [{ 'http.listen': ':4' }, [4]],
    [{ 'http-bind': ':5' }, [5]],
    [{ admin_addr: ':6' }, [6]],
    [{ http_port: ' 7 ' }, [7]],
    [{ 'metrics.port': '8' }, [8]],
    [{ PORT: '9' }, [9]],
    [{ port: '8080x' }, []],
    [{ port: 'x8080' }, []],
    [{ port: ':8080' }, []],
    [{ port: '8080:1' }, []],
    [{ port: 'x:8080' }, []],
    [{ port: '0' }, []],
    [{ address: 'redis' }, []],
  ])('finds the exclusive addresses in %o: ports %j', (config, ports) => {
    expect(configAddresses(config).map((a) => a.port)).toEqual(ports);
  });
});

describe('guardrails: what holds an address', () => {
  it('names an IPv6 address in brackets', () => {
    const findings = findGuardrails(
      input([
        host(
          'h1',
          [provider([http('a', '[::1]:8080')])],
          [provider([http('c', '[::1]:8080')], { imageRef: 'http-server:2' })],
        ),
      ]),
    );
    expect(findings.map((f) => f.resource)).toEqual(['address [::1]:8080']);
  });

  it('makes a changed provider that keeps its own address conflict with its old self, and with links wanting it', () => {
    const before = provider([], { config: { address: '0.0.0.0:9000' } });
    const after = provider([http('c', '0.0.0.0:9000')], {
      imageRef: 'http-server:2',
      config: { address: '0.0.0.0:9000' },
    });
    const findings = findGuardrails(input([host('h1', [before], [after])]));
    expect(findings.map((f) => (f.kind === 'conflict' ? [f.wantedBy, f.heldBy, f.fromVersion] : f.kind))).toEqual([
      ['link "http/wasi:http/c"', 'workload "http"', 'v1'],
      ['link "http/wasi:http/c"', 'workload "http"', 'v2'],
      ['workload "http"', 'workload "http"', 'v1'],
    ]);
  });

  it('makes a provider wanting an address an old link holds a conflict, not a swap: only links are swapped', () => {
    const before = provider([http('a', '0.0.0.0:9000')]);
    const after = provider([], { imageRef: 'http-server:2', config: { address: '0.0.0.0:9000' } });
    expect(findGuardrails(input([host('h1', [before], [after])]))).toEqual([
      {
        kind: 'conflict',
        resource: 'address 0.0.0.0:9000',
        wantedBy: 'workload "http"',
        heldBy: 'link "http/wasi:http/a"',
        fromVersion: 'v1',
        toVersion: 'v2',
        hosts: ['h1'],
      },
    ]);
  });

  it('binds nothing for a component whose own config names an address', () => {
    const before: GuardrailWorkload = { id: 'api', imageRef: 'api:1', config: { address: '0.0.0.0:9000' } };
    const after: GuardrailWorkload = { id: 'api', imageRef: 'api:2', config: { address: '0.0.0.0:9000' } };
    expect(findGuardrails(input([host('h1', [before], [after])], 'standby'))).toEqual([]);
  });

  it('reads the target config of a link too', () => {
    const old = { ...http('a', '0.0.0.0:1'), sourceConfig: {}, targetConfig: { port: '8080' } };
    const fresh = { ...http('c', '0.0.0.0:2'), sourceConfig: {}, targetConfig: { address: '0.0.0.0:8080' } };
    expect(
      findGuardrails(input([host('h1', [provider([old])], [provider([fresh], { imageRef: 'http-server:2' })])])),
    ).toEqual([
      {
        kind: 'swap',
        link: httpKey('c'),
        change: 'added',
        heldBy: httpKey('a'),
        resource: 'address 0.0.0.0:8080',
        hosts: ['h1'],
      },
    ]);
  });

  it.each([
    [
      'config keys in another order',
      provider([http('a', '0.0.0.0:8080')], { config: { a: '1', b: '2' } }),
      provider([http('a', '0.0.0.0:8080')], { config: { b: '2', a: '1' } }),
    ],
    [
      'link interfaces in another order',
      provider([{ ...http('a', '0.0.0.0:8080'), interfaces: ['incoming-handler', 'outgoing-handler'] }]),
      provider([{ ...http('a', '0.0.0.0:8080'), interfaces: ['outgoing-handler', 'incoming-handler'] }]),
    ],
    [
      'link config keys in another order',
      provider([{ ...http('a', '0.0.0.0:8080'), sourceConfig: { address: '0.0.0.0:8080', timeout: '5' } }]),
      provider([{ ...http('a', '0.0.0.0:8080'), sourceConfig: { timeout: '5', address: '0.0.0.0:8080' } }]),
    ],
  ])('sees a standby provider with %s as unchanged', (_name, before, after) => {
    expect(findGuardrails(input([host('h1', [before], [after])], 'standby'))).toEqual([]);
  });

  it.each([
    ['its digest', { digest: 'sha256:2' }],
    ['its config', { config: { mode: 'fast' } }],
    ['its image', { imageRef: 'http-server:2' }],
  ] as const)('sees a standby provider that changed %s as changed: it binds its links again', (_name, change) => {
    const before = provider([http('a', '0.0.0.0:8080')], { digest: 'sha256:1', config: { mode: 'slow' } });
    const after = provider([http('a', '0.0.0.0:8080')], { digest: 'sha256:1', config: { mode: 'slow' }, ...change });
    expect(findGuardrails(input([host('h1', [before], [after])], 'standby')).map((f) => f.resource)).toEqual([
      'address 0.0.0.0:8080',
    ]);
  });

  it('binds the links of a standby provider that is new on the host beside the ones that stay', () => {
    const before: GuardrailWorkload[] = [{ id: 'old', kind: 'provider', links: [http('a', '0.0.0.0:8080')] }];
    const after: GuardrailWorkload[] = [
      { id: 'old', kind: 'provider', links: [http('a', '0.0.0.0:8080')] },
      { id: 'http', kind: 'provider', imageRef: 'http-server:1', links: [http('b', '0.0.0.0:8081')] },
    ];
    expect(findGuardrails(input([host('h1', before, after)], 'standby'))).toEqual([]);
  });

  it('does not rebind the links of a changed standby component', () => {
    const link = http('a', '0.0.0.0:8080');
    const before: GuardrailWorkload[] = [provider([link]), { id: 'a', imageRef: 'api:1', links: [link] }];
    const after: GuardrailWorkload[] = [
      provider([link]),
      { id: 'a', kind: 'component', imageRef: 'api:2', links: [link] },
    ];
    expect(findGuardrails(input([host('h1', before, after)], 'standby'))).toEqual([]);
  });

  it('reports a changed link conflicting with itself in a standby, where the old one stays until promotion', () => {
    const findings = findGuardrails(
      input([host('h1', [provider([http('a', '0.0.0.0:8080')])], [provider([widenedA])])], 'standby'),
    );
    expect(findings).toEqual([
      {
        kind: 'conflict',
        resource: 'address 0.0.0.0:8080',
        wantedBy: 'link "http/wasi:http/a"',
        heldBy: 'link "http/wasi:http/a"',
        fromVersion: 'v1',
        toVersion: 'v2',
        hosts: ['h1'],
      },
    ]);
  });

  it('lists findings in a stable order whatever the order of hosts and links', () => {
    const before = [provider([http('a', '0.0.0.0:8080'), http('b', '0.0.0.0:9090')])];
    const after = [provider([http('d', '0.0.0.0:9090'), http('c', '0.0.0.0:8080')], { imageRef: 'http-server:2' })];
    const one = findGuardrails(input([host('h2', before, after), host('h1', before, after)]));
    const other = findGuardrails(
      input([
        host('h1', before, [provider([...(after[0]?.links ?? [])].reverse(), { imageRef: 'http-server:2' })]),
        host('h2', before, after),
      ]),
    );
    expect(one).toEqual(other);
    expect(one.map((f) => (f.kind === 'swap' ? `${f.link} after ${f.heldBy} on ${f.hosts}` : f.kind))).toEqual([
      'http/wasi:http/c after http/wasi:http/a on h1,h2',
      'http/wasi:http/d after http/wasi:http/b on h1,h2',
    ]);
  });
});

describe('guardrails: how a conflict reads', () => {
  const conflict = (over: Partial<ConflictFinding>): ConflictFinding => ({
    kind: 'conflict',
    resource: 'address 0.0.0.0:8080',
    wantedBy: 'link "c"',
    heldBy: 'link "a"',
    fromVersion: 'v1',
    toVersion: 'v2',
    hosts: ['h1'],
    ...over,
  });

  it.each([
    [
      'between versions, on one host',
      conflict({}),
      'address 0.0.0.0:8080 is held by "v1" (link "a") while "v2" (link "c") needs it on host "h1"',
    ],
    [
      'within one version',
      conflict({ fromVersion: 'v2' }),
      'address 0.0.0.0:8080 is needed by link "c" and link "a" of "v2" at once on host "h1"',
    ],
    [
      'on five hosts, all named',
      conflict({ hosts: ['h1', 'h2', 'h3', 'h4', 'h5'] }),
      'address 0.0.0.0:8080 is held by "v1" (link "a") while "v2" (link "c") needs it on hosts "h1", "h2", "h3", "h4", "h5"',
    ],
    [
      'on seven hosts, five named',
      conflict({ hosts: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'] }),
      'address 0.0.0.0:8080 is held by "v1" (link "a") while "v2" (link "c") needs it on hosts "h1", "h2", "h3", "h4", "h5" and 2 more',
    ],
  ])('%s', (_name, c, sentence) => {
    expect(describeConflict(c)).toBe(sentence);
  });

  it('makes plan.conflict of the first conflict, counting the others and listing each as an issue', () => {
    const a = conflict({});
    const b = conflict({ resource: 'address 0.0.0.0:9090', hosts: ['h2'] });
    const c = conflict({ resource: 'address 0.0.0.0:7070', hosts: ['h3'] });
    const error = conflictError([a, b, c], ' (note)');
    expect(error).toBeInstanceOf(CutoverError);
    expect({ code: error.code, message: error.message, issues: error.issues }).toEqual({
      code: 'plan.conflict',
      message: `plan conflict: ${describeConflict(a)}; and 2 more (note)`,
      issues: [a, b, c].map((x) => ({ path: x.resource, message: describeConflict(x) })),
    });
    expect(conflictError([a]).message).toBe(`plan conflict: ${describeConflict(a)}`);
  });

  it('makes a bare plan.conflict of no conflicts', () => {
    const error = conflictError([], ' (why)');
    expect({ code: error.code, message: error.message, issues: error.issues }).toEqual({
      code: 'plan.conflict',
      message: 'plan conflict (why)',
      issues: undefined,
    });
  });
});

describe('checkGuardrails, onConflict', () => {
  const thrown = (f: () => unknown): CutoverError => {
    try {
      f();
    } catch (e) {
      if (e instanceof CutoverError) return e;
      throw e;
    }
    throw new Error('did not throw');
  };
  // Blue-green: the new http-server wants :8080 beside the old one; in place, c moves onto :8080 after a lets go.
  const fallback = input(
    [
      host(
        'h1',
        [provider([http('a', '0.0.0.0:8080')])],
        [provider([http('c', '0.0.0.0:8080')], { imageRef: 'http-server:2' })],
      ),
    ],
    'standby',
  );

  it('falls back to rolling with the in-place swaps, the blue-green conflicts and why', () => {
    const decision = checkGuardrails(fallback, 'rolling');
    const [conflict] = findGuardrails(fallback) as ConflictFinding[];
    expect(decision).toEqual({
      strategy: 'rolling',
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
      conflicts: [conflict],
      reason: `falling back to a rolling update: ${describeConflict(conflict as ConflictFinding)}`,
    });
  });

  it('falls back to rolling for a changed link keeping its address: in place it is let go before its put', () => {
    const changed = input([host('h1', [provider([http('a', '0.0.0.0:8080')])], [provider([widenedA])])], 'standby');
    expect(checkGuardrails(changed, 'rolling')).toMatchObject({
      strategy: 'rolling',
      swaps: [],
      conflicts: [{ kind: 'conflict' }],
    });
  });

  it('joins every conflict into the reason', () => {
    const two = input(
      ['h1', 'h2'].map((id) =>
        host(
          id,
          [provider([http('a', '0.0.0.0:8080'), http('b', '0.0.0.0:9090')])],
          [provider([http('a', '0.0.0.0:8080'), http('b', '0.0.0.0:9090')], { imageRef: 'http-server:2' })],
        ),
      ),
      'standby',
    );
    const decision = checkGuardrails(two, 'rolling');
    const conflicts = findGuardrails(two) as ConflictFinding[];
    expect(conflicts).toHaveLength(2);
    expect(decision).toMatchObject({
      strategy: 'rolling',
      swaps: [],
      reason: `falling back to a rolling update: ${conflicts.map(describeConflict).join('; ')}`,
    });
  });

  it('refuses with plan.conflict by default, and with onConflict "fail"', () => {
    for (const onConflict of [undefined, 'fail'] as const) {
      const error = thrown(() => checkGuardrails(fallback, onConflict));
      expect(error.code).toBe('plan.conflict');
      expect(error.message).toBe(`plan conflict: ${describeConflict(findGuardrails(fallback)[0] as ConflictFinding)}`);
    }
  });

  it('says why rolling cannot help an in-place conflict', () => {
    const conflicted = input([
      host(
        'h1',
        [provider([http('a', ':8080')])],
        [provider([http('a', ':8080'), http('c', ':8080')], { imageRef: 'http-server:2' })],
      ),
    ]);
    expect(thrown(() => checkGuardrails(conflicted, 'rolling')).message).toMatch(
      / \(a rolling update upgrades in place too, so onConflict "rolling" cannot avoid it\)$/,
    );
  });

  it('says when the conflict stays in place too', () => {
    const conflicted = input(
      [
        host(
          'h1',
          [provider([http('a', ':8080')])],
          [provider([http('a', ':8080'), http('c', ':8080')], { imageRef: 'http-server:2' })],
        ),
      ],
      'standby',
    );
    const error = thrown(() => checkGuardrails(conflicted, 'rolling'));
    const inPlace = findGuardrails({ ...conflicted, coexistence: 'inPlace' }) as ConflictFinding[];
    expect(error.message).toBe(
      `plan conflict: ${describeConflict(inPlace[0] as ConflictFinding)} (also when upgraded in place)`,
    );
    expect(error.issues).toHaveLength(inPlace.length);
  });

  it('goes ahead as planned with no findings at all', () => {
    expect(checkGuardrails(input([]), 'rolling')).toEqual({ strategy: 'asPlanned', swaps: [] });
  });
});

describe('guardrailWorkloads', () => {
  it('gives the components and providers with the given ids, as guardrails see them', () => {
    const rev = corpusRevision(UPGRADE_TRIO.upgraded);
    const component = rev.components[0];
    const prov = rev.providers[0];
    if (component === undefined || prov === undefined) throw new Error('corpus changed');
    const out = guardrailWorkloads(rev, [component.spec.id, prov.spec.id, 'nobody']);
    expect(out).toEqual([
      {
        id: component.spec.id,
        kind: 'component',
        imageRef: component.spec.imageRef,
        digest: component.spec.digest,
        config: component.spec.config,
        links: component.spec.links,
      },
      {
        id: prov.spec.id,
        kind: 'provider',
        imageRef: prov.spec.imageRef,
        digest: prov.spec.digest,
        config: prov.spec.config,
        links: prov.spec.links,
      },
    ]);
    expect(guardrailWorkloads(rev, [])).toEqual([]);
  });
});
