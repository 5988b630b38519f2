// Over 400 lines on purpose: the table-driven specification of one pure module (plan.ts), kept in one file so
// its mutation runs pick up exactly these tests (scripts/mutation.mjs).
import {
  type HostDiff,
  type HostInfo,
  type Verdict,
  combine,
  errorRate,
  needsApply,
  orderHosts,
  place,
  placementOnly,
  planBatches,
  removedVerdict,
  resolveAmount,
  splitByWeight,
  verdict,
  workloadKey,
} from '../../machines/rollout/plan';
import { specHash } from '../../src/protocol/hash';
import { describe, expect, it } from 'vitest';
import { hosts, inventoryOf, revision, rolling } from '../fixtures/builders';

const v1 = revision({
  version: '1',
  components: [
    { id: 'api', image: 'mem://api:1', scale: { instances: 3 } },
    { id: 'worker', image: 'mem://worker:1' },
  ],
  providers: [{ id: 'http', image: 'mem://http:1' }],
  links: [{ source: 'http', target: 'api', namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'] }],
});
/** A link as a revision lists it, from `source` to `target` (names or ids). */
const link = (source: string, target: string) => ({
  source,
  target,
  namespace: 'wasi',
  package: 'http',
  interfaces: ['incoming-handler'],
  name: 'default',
  sourceConfig: {},
  targetConfig: {},
});
const hashOf = (rev: typeof v1, id: string) => {
  const c = rev.components.find((x) => x.spec.id === id);
  if (c) return specHash(c.spec, 'component');
  const p = rev.providers.find((x) => x.spec.id === id);
  if (!p) throw new Error(`no ${id}`);
  return specHash(p.spec, 'provider');
};

describe('plan: splitByWeight', () => {
  it.each([
    [5, [100], [5]],
    [5, [50, 50], [3, 2]],
    [3, [1, 1, 1], [1, 1, 1]],
    [10, [80, 20], [8, 2]],
    [7, [0, 100], [0, 7]],
    [0, [50, 50], [0, 0]],
    [4, [0, 0], [0, 0]],
  ])('splits %i by %j into %j', (total, weights, want) => {
    expect(splitByWeight(total, weights)).toEqual(want);
    if (weights.some((w) => w > 0)) expect(splitByWeight(total, weights).reduce((a, b) => a + b, 0)).toBe(total);
  });
});

describe('plan: place', () => {
  it('places a spread on the requested number of hosts, and unscaled components on every host', () => {
    const p = place(v1, hosts(5), {});
    expect(p.workloads['component:api']).toEqual(['h1', 'h2', 'h3']);
    expect(p.workloads['component:worker']).toEqual(['h1', 'h2', 'h3', 'h4', 'h5']);
    expect(p.hosts.h1?.install.map((w) => w.id).sort()).toEqual(['api', 'http', 'worker']);
  });

  it('co-locates a provider without a scaler with the components linked to it', () => {
    const p = place(v1, hosts(5), {});
    expect(p.workloads['provider:http']).toEqual(['h1', 'h2', 'h3']);
  });

  it('is sticky: hosts that already run a workload keep it', () => {
    const current = {
      h4: { api: { kind: 'component' as const, hash: 'old' } },
      h5: { api: { kind: 'component' as const, hash: 'old' } },
    };
    const p = place(v1, hosts(5), current);
    expect(p.workloads['component:api']).toEqual(['h1', 'h4', 'h5']);
    expect(p.hosts.h4?.upgrade.map((w) => w.id)).toEqual(['api']);
    expect(p.hosts.h1?.install.map((w) => w.id)).toContain('api');
  });

  it('keeps unchanged specs untouched and removes what the revision dropped', () => {
    const hash = hashOf(v1, 'api');
    const current = {
      h1: { api: { kind: 'component' as const, hash }, gone: { kind: 'component' as const, hash: 'x' } },
    };
    const p = place(v1, hosts(3), current);
    expect(p.hosts.h1?.keep.map((w) => w.id)).toContain('api');
    expect(p.hosts.h1?.upgrade).toEqual([]);
    expect(p.hosts.h1?.remove).toEqual([{ kind: 'component', id: 'gone', hash: 'x' }]);
  });

  it('honours spread requirements and weights', () => {
    const rev = revision({
      version: '1',
      components: [
        {
          id: 'api',
          image: 'mem://api:1',
          scale: {
            instances: 4,
            spread: [
              { name: 'east', requirements: { zone: 'east' }, weight: 75 },
              { name: 'west', requirements: { zone: 'west' }, weight: 25 },
            ],
          },
        },
      ],
    });
    const hs = hosts(6, (i) => ({ zone: i <= 3 ? 'east' : 'west' }));
    expect(place(rev, hs, {}).workloads['component:api']).toEqual(['h1', 'h2', 'h3', 'h4']);
  });

  it('caps instances at the eligible hosts, and a daemon runs on every matching host', () => {
    const rev = revision({
      version: '1',
      components: [
        {
          id: 'a',
          image: 'mem://a',
          scale: { instances: 9, spread: [{ name: 's', requirements: { gpu: 'yes' }, weight: 1 }] },
        },
        {
          id: 'd',
          image: 'mem://d',
          scale: { kind: 'daemon', instances: 1, spread: [{ name: 's', requirements: { gpu: 'yes' }, weight: 1 }] },
        },
      ],
    });
    const hs = hosts(4, (i) => (i % 2 === 0 ? { gpu: 'yes' } : {}));
    const p = place(rev, hs, {});
    expect(p.workloads['component:a']).toEqual(['h2', 'h4']);
    expect(p.workloads['component:d']).toEqual(['h2', 'h4']);
  });

  it('places nothing for a null revision and removes everything the app runs', () => {
    const p = place(null, hosts(2), { h2: { api: { kind: 'component', hash: 'x' } } });
    expect(p.hosts.h2?.remove).toEqual([{ kind: 'component', id: 'api', hash: 'x' }]);
    expect(p.hosts.h1).toBeUndefined();
  });

  it('spreads the load: two spreads of one instance go to different hosts', () => {
    const rev = revision({
      version: '1',
      components: [
        { id: 'a', image: 'mem://a', scale: { instances: 1 } },
        { id: 'b', image: 'mem://b', scale: { instances: 1 } },
      ],
    });
    const p = place(rev, hosts(2), {});
    expect(p.workloads['component:a']).toEqual(['h1']);
    expect(p.workloads['component:b']).toEqual(['h2']);
  });
});

describe('plan: resolveAmount', () => {
  it.each([
    [3, 10, 'up', 3],
    ['10%', 30, 'up', 3],
    ['10%', 30, 'down', 3],
    ['25%', 10, 'up', 3],
    ['25%', 10, 'down', 2],
    ['1%', 10, 'up', 1],
    ['1%', 10, 'down', 0],
    ['100%', 7, 'down', 7],
  ] as const)('%s of %i rounded %s is %i', (amount, total, round, want) => {
    expect(resolveAmount(amount, total, round)).toBe(want);
  });
});

describe('plan: planBatches', () => {
  const ids = (bs: string[][]) => bs.map((b) => b.join(','));
  it.each([
    { name: 'maxParallel caps batches', n: 5, mp: 2, mu: 5, want: ['h1,h2', 'h3,h4', 'h5'] },
    { name: 'percentages round maxParallel up', n: 5, mp: '30%', mu: '100%', want: ['h1,h2', 'h3,h4', 'h5'] },
    { name: 'maxUnavailable rounds down and limits batches', n: 5, mp: 5, mu: '50%', want: ['h1,h2', 'h3,h4', 'h5'] },
    { name: 'maxUnavailable 0 still progresses one host at a time', n: 3, mp: 3, mu: 0, want: ['h1', 'h2', 'h3'] },
    { name: 'zero candidates give zero batches', n: 0, mp: 1, mu: 1, want: [] },
  ])('$name', ({ n, mp, mu, want }) => {
    const hs = hosts(n);
    expect(
      ids(
        planBatches(
          hs.map((h) => h.hostId),
          hs,
          rolling({ maxParallel: mp as number | `${number}%`, maxUnavailable: mu as number | `${number}%` }),
        ),
      ),
    ).toEqual(want);
  });

  it('upgrades hosts already unavailable first, and counts them against maxUnavailable', () => {
    const hs: HostInfo[] = hosts(6).map((h) =>
      h.hostId === 'h5' || h.hostId === 'h6' ? { ...h, unavailable: true } : h,
    );
    // maxUnavailable 3: both broken hosts go first (they do not make things worse) plus one healthy host.
    expect(
      ids(
        planBatches(
          hs.map((h) => h.hostId),
          hs,
          rolling({ maxParallel: 3, maxUnavailable: 3 }),
        ),
      ),
    ).toEqual(['h5,h6,h1', 'h2,h3,h4']);
  });

  it('counts unavailable hosts outside the plan against maxUnavailable', () => {
    const hs: HostInfo[] = hosts(4).map((h) => (h.hostId === 'h4' ? { ...h, unavailable: true } : h));
    expect(ids(planBatches(['h1', 'h2', 'h3'], hs, rolling({ maxParallel: 3, maxUnavailable: 2 })))).toEqual([
      'h1',
      'h2',
      'h3',
    ]);
  });

  it('orders hosts by a label so a zone goes first', () => {
    const hs = hosts(4, (i) => ({ zone: i <= 2 ? 'west' : 'canary' }));
    expect(
      ids(
        planBatches(
          hs.map((h) => h.hostId),
          hs,
          rolling({ maxParallel: 2, maxUnavailable: 2, hostOrder: { label: 'zone', values: ['canary'] } }),
        ),
      ),
    ).toEqual(['h3,h4', 'h1,h2']);
  });
});

describe('plan: verdict', () => {
  const rule = { minReadyMs: 1000, maxErrorRate: 0.1 };
  const gate = (answered: number, errors: number) => ({
    open: true,
    inFlight: 0,
    buffered: 0,
    capacity: 10,
    refused: 0,
    longestPauseMs: 0,
    byHash: { h2: { accepted: answered, answered, errors, latencyMs: { count: answered, p50: 1, p99: 1, max: 1 } } },
  });
  const applied = { hash: 'h2', outcome: 'applied' as const, at: 5000 };
  it.each([
    { name: 'nothing reported yet is pending', inv: undefined, now: 0, want: 'pending' },
    { name: 'still serving the old hash is pending', inv: inventoryOf('api', 'h1'), now: 0, want: 'pending' },
    {
      name: 'a failed apply of the target is failed',
      inv: inventoryOf('api', 'h1', { lastApply: { hash: 'h2', outcome: 'failed', reason: 'bad wasm', at: 1 } }),
      now: 0,
      want: 'failed',
    },
    {
      name: 'serving the target for less than minReadyMs is pending',
      inv: inventoryOf('api', 'h2', { lastApply: applied }),
      now: 5500,
      want: 'pending',
    },
    {
      name: 'serving the target for minReadyMs is passed',
      inv: inventoryOf('api', 'h2', { lastApply: applied }),
      now: 6000,
      want: 'passed',
    },
    {
      name: 'an error rate over the limit is failed',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: gate(10, 2) }),
      now: 6000,
      want: 'failed',
    },
    {
      name: 'an error rate at the limit is passed',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: gate(10, 1) }),
      now: 6000,
      want: 'passed',
    },
    {
      name: 'unhealthy on the target is failed',
      inv: inventoryOf('api', 'h2', { status: 'unhealthy' }),
      now: 9000,
      want: 'failed',
    },
  ])('$name', ({ inv, now, want }) => {
    expect(verdict(inv, 'h2', rule, now).status).toBe(want);
  });
});

describe('plan: splitByWeight, the remainder', () => {
  it.each([
    // total, weights, split: exact shares first, then one each to the largest fractions
    [3, [1, 2, 4], [0, 1, 2]],
    [4, [1, 2, 4], [1, 1, 2]],
    [5, [10, 30, 60], [1, 1, 3]],
  ])('gives the remainder to the largest fraction first: %i by %j is %j', (total, weights, want) => {
    expect(splitByWeight(total, weights)).toEqual(want);
  });

  it.each([
    [1, [1, 1, 1], [1, 0, 0]],
    [2, [1, 1, 1], [1, 1, 0]],
    [1, [50, 50], [1, 0]],
  ])('breaks ties between equal fractions towards the earlier spread: %i by %j is %j', (total, weights, want) => {
    expect(splitByWeight(total, weights)).toEqual(want);
  });
});

describe('plan: place, more', () => {
  it('gives the same placement whatever the order the hosts are listed in', () => {
    const shuffled = [...hosts(5)].reverse();
    const p = place(v1, shuffled, {});
    expect(p).toEqual(place(v1, hosts(5), {}));
    expect(p.workloads['component:api']).toEqual(['h1', 'h2', 'h3']);
    expect(Object.keys(p.hosts)).toEqual(['h5', 'h4', 'h3', 'h2', 'h1'].reverse());
  });

  it('sorts the hosts of a workload, and removals host by host, whatever the order of the current placement', () => {
    const current = {
      h3: { api: { kind: 'component' as const, hash: 'old' } },
      h1: { gone: { kind: 'component' as const } },
    };
    const rev = revision({ version: '1', components: [{ id: 'api', image: 'mem://api:1', scale: { instances: 2 } }] });
    const p = place(rev, [...hosts(3)].reverse(), current);
    // Sticky h3 first when choosing, yet listed in order.
    expect(p.workloads['component:api']).toEqual(['h1', 'h3']);
    expect(p.hosts.h1?.remove).toEqual([{ kind: 'component', id: 'gone', hash: '' }]);
    expect(Object.keys(p.hosts)).toEqual(['h1', 'h3']);
  });

  it('installs over a workload of the other kind with the same id, and removes that one', () => {
    const rev = revision({ version: '1', components: [{ id: 'x', image: 'mem://x:1' }] });
    const p = place(rev, hosts(1), { h1: { x: { kind: 'provider', hash: 'p' } } });
    expect(p.hosts.h1).toEqual({
      install: [{ kind: 'component', id: 'x', hash: p.hashes['component:x'] }],
      upgrade: [],
      remove: [{ kind: 'provider', id: 'x', hash: 'p' }],
      keep: [],
    });
  });

  it('co-locates a provider that is the target of a link with its source component', () => {
    const rev = revision({
      version: '1',
      components: [{ id: 'api', image: 'mem://api:1', scale: { instances: 2 } }],
      providers: [{ id: 'kv', image: 'mem://kv:1' }],
      links: [{ source: 'api', target: 'kv', namespace: 'wasi', package: 'keyvalue', interfaces: ['store'] }],
    });
    const current = { h4: { api: { kind: 'component' as const, hash: 'x' } } };
    expect(place(rev, hosts(4), current).workloads['provider:kv']).toEqual(['h1', 'h4']);
  });

  it('puts a provider linked to nothing placed, or to nothing at all, on every host', () => {
    const rev = revision({
      version: '1',
      providers: [
        { id: 'kv', image: 'mem://kv:1' },
        { id: 'http', image: 'mem://http:1' },
      ],
      links: [
        { source: 'http', target: 'ghost', namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'] },
      ],
    });
    const p = place(rev, hosts(3), {});
    expect(p.workloads['provider:kv']).toEqual(['h1', 'h2', 'h3']);
    expect(p.workloads['provider:http']).toEqual(['h1', 'h2', 'h3']);
  });

  it('scales a provider with a scaler like a component, sticky to where it runs', () => {
    const rev = revision({
      version: '1',
      providers: [{ id: 'http', image: 'mem://http:1', scale: { instances: 1 } }],
    });
    const p = place(rev, hosts(3), { h2: { http: { kind: 'provider', hash: 'old' } } });
    expect(p.workloads['provider:http']).toEqual(['h2']);
    expect(p.hosts.h2?.upgrade).toEqual([{ kind: 'provider', id: 'http', hash: p.hashes['provider:http'] }]);
    expect(p.hosts.h1).toBeUndefined();
  });

  it('is sticky per kind: a provider of the same id does not hold a component on its host', () => {
    const rev = revision({ version: '1', components: [{ id: 'x', image: 'mem://x:1', scale: { instances: 1 } }] });
    expect(place(rev, hosts(3), { h3: { x: { kind: 'provider', hash: 'p' } } }).workloads['component:x']).toEqual([
      'h1',
    ]);
  });

  it('places nothing for zero instances, spread or daemon', () => {
    const rev = revision({
      version: '1',
      components: [
        { id: 'a', image: 'mem://a', scale: { instances: 0 } },
        { id: 'd', image: 'mem://d', scale: { kind: 'daemon', instances: 0 } },
      ],
    });
    const p = place(rev, hosts(2), {});
    expect([p.workloads['component:a'], p.workloads['component:d']]).toEqual([[], []]);
    expect(p.hosts).toEqual({});
  });

  it('runs a daemon without requirements on every host', () => {
    const rev = revision({
      version: '1',
      components: [{ id: 'd', image: 'mem://d', scale: { kind: 'daemon', instances: 1 } }],
    });
    expect(place(rev, hosts(3), {}).workloads['component:d']).toEqual(['h1', 'h2', 'h3']);
  });

  it('prefers the least loaded hosts, then the first by name', () => {
    const rev = revision({
      version: '1',
      components: [
        { id: 'a', image: 'mem://a', scale: { instances: 2 } },
        { id: 'b', image: 'mem://b', scale: { instances: 2 } },
        { id: 'c', image: 'mem://c', scale: { instances: 3 } },
      ],
    });
    const p = place(rev, hosts(4), {});
    expect([p.workloads['component:a'], p.workloads['component:b'], p.workloads['component:c']]).toEqual([
      ['h1', 'h2'],
      ['h3', 'h4'],
      ['h1', 'h2', 'h3'],
    ]);
  });

  it('runs a daemon on every host matching any of its spreads', () => {
    const rev = revision({
      version: '1',
      components: [
        {
          id: 'd',
          image: 'mem://d',
          scale: {
            kind: 'daemon',
            instances: 1,
            spread: [
              { name: 'east', requirements: { zone: 'east' }, weight: 1 },
              { name: 'gpu', requirements: { gpu: 'yes' }, weight: 1 },
            ],
          },
        },
      ],
    });
    const hs = hosts(4, (i) => (i === 1 ? { zone: 'east' } : i === 3 ? { gpu: 'yes' } : { zone: 'west' }));
    expect(place(rev, hs, {}).workloads['component:d']).toEqual(['h1', 'h3']);
  });

  it('gives spreads that match the same hosts different hosts', () => {
    const rev = revision({
      version: '1',
      components: [
        {
          id: 'a',
          image: 'mem://a',
          scale: {
            instances: 4,
            spread: [
              { name: 'one', requirements: {}, weight: 50 },
              { name: 'two', requirements: {}, weight: 50 },
            ],
          },
        },
      ],
    });
    expect(place(rev, hosts(5), {}).workloads['component:a']).toEqual(['h1', 'h2', 'h3', 'h4']);
  });

  it('follows links that name a workload by its name or by its id, and only links to the provider', () => {
    const base = revision({
      version: '1',
      components: [
        { id: 'shop-api', image: 'mem://api:1', scale: { instances: 1 } },
        { id: 'shop-web', image: 'mem://web:1', scale: { instances: 1 } },
      ],
      providers: ['http', 'kv', 'q', 'z'].map((name) => ({ id: `shop-${name}`, image: `mem://${name}:1` })),
    });
    const rev = {
      ...base,
      // Names differ from ids, as in a manifest whose components are named within their app.
      components: base.components.map((c) => ({ ...c, name: c.spec.id.slice('shop-'.length) })),
      providers: base.providers.map((p) => ({ ...p, name: p.spec.id.slice('shop-'.length) })),
      links: [
        link('http', 'api'), // provider (source) and component by name
        link('shop-api', 'shop-kv'), // component and provider (target) by id
        link('shop-q', 'shop-api'), // provider (source) by id
        link('web', 'z'), // component and provider (target) by name
      ],
    };
    // api stays on h2, where it runs; web goes to the least loaded host, h1.
    const p = place(rev, hosts(3), { h2: { 'shop-api': { kind: 'component', hash: 'x' } } });
    expect(p.workloads).toEqual({
      'component:shop-api': ['h2'],
      'component:shop-web': ['h1'],
      'provider:shop-http': ['h2'],
      'provider:shop-kv': ['h2'],
      'provider:shop-q': ['h2'],
      'provider:shop-z': ['h1'],
    });
  });

  it('hashes each workload of the revision', () => {
    const p = place(v1, hosts(1), {});
    expect(p.hashes).toEqual({
      'component:api': hashOf(v1, 'api'),
      'component:worker': hashOf(v1, 'worker'),
      'provider:http': hashOf(v1, 'http'),
    });
    expect(p.hosts.h1?.install).toContainEqual({ kind: 'provider', id: 'http', hash: hashOf(v1, 'http') });
  });

  it('names a workload kind:id', () => {
    expect([workloadKey('component', 'api'), workloadKey('provider', 'http')]).toEqual([
      'component:api',
      'provider:http',
    ]);
  });
});

describe('plan: needsApply', () => {
  const ref = { kind: 'component' as const, id: 'api', hash: 'x' };
  const diff = (over: Partial<HostDiff>): HostDiff => ({ install: [], upgrade: [], remove: [], keep: [], ...over });
  it.each([
    ['no diff', undefined, false],
    ['nothing to do', diff({}), false],
    ['only keeps and removals', diff({ keep: [ref], remove: [ref] }), false],
    ['an install', diff({ install: [ref] }), true],
    ['an upgrade', diff({ upgrade: [ref] }), true],
  ] as const)('%s: %s', (_name, d, want) => {
    expect(needsApply(d)).toBe(want);
  });
});

describe('plan: orderHosts', () => {
  it('puts unavailable hosts first, then the listed label values in order, unlisted and unlabelled last, then by name', () => {
    const hs: HostInfo[] = [
      { hostId: 'e', labels: { zone: 'b' } },
      { hostId: 'd', labels: {} },
      { hostId: 'c', labels: { zone: 'x' } },
      { hostId: 'g', labels: { zone: 'x' }, unavailable: true },
      { hostId: 'b', labels: { zone: 'a' } },
      { hostId: 'a', labels: { zone: 'b' }, unavailable: true },
      { hostId: 'f', labels: { zone: 'a' } },
    ];
    expect(orderHosts(hs, { label: 'zone', values: ['a', 'b'] }).map((h) => h.hostId)).toEqual([
      'a',
      'g',
      'b',
      'f',
      'e',
      'c',
      'd',
    ]);
    expect(orderHosts(hs, 'name').map((h) => h.hostId)).toEqual(['a', 'g', 'b', 'c', 'd', 'e', 'f']);
  });
});

describe('plan: planBatches, more', () => {
  const ids = (bs: string[][]) => bs.map((b) => b.join(','));
  const down = (hs: HostInfo[], ...which: string[]) =>
    hs.map((h) => (which.includes(h.hostId) ? { ...h, unavailable: true } : h));
  /** The limits as planBatches takes them (no schema: a canary passes its own, or none). */
  const limits = (maxParallel: number | string, maxUnavailable: number | string) =>
    ({ hostOrder: 'name', maxParallel, maxUnavailable }) as const;

  it.each([
    {
      name: 'every candidate unavailable: batches of maxParallel, whatever maxUnavailable',
      hs: down(hosts(3), 'h1', 'h2', 'h3'),
      candidates: ['h1', 'h2', 'h3'],
      mp: 2,
      mu: 0,
      want: ['h1,h2', 'h3'],
    },
    {
      name: 'maxParallel caps a batch that already holds unavailable hosts',
      hs: down(hosts(6), 'h4', 'h5', 'h6'),
      candidates: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'],
      mp: 2,
      mu: 6,
      want: ['h4,h5', 'h6,h1', 'h2,h3'],
    },
    {
      name: 'hosts unavailable outside the plan use up maxUnavailable: one host at a time',
      hs: down(hosts(5), 'h5'),
      candidates: ['h1', 'h2', 'h3', 'h4'],
      mp: 4,
      mu: 1,
      want: ['h1', 'h2', 'h3', 'h4'],
    },
    {
      name: 'room left after the unavailable hosts is filled with available ones',
      hs: down(hosts(5), 'h2'),
      candidates: ['h1', 'h2', 'h3', 'h4', 'h5'],
      mp: 5,
      mu: 3,
      want: ['h2,h1,h3', 'h4,h5'],
    },
  ])('$name', ({ hs, candidates, mp, mu, want }) => {
    expect(ids(planBatches(candidates, hs, limits(mp, mu)))).toEqual(want);
  });

  it('moves every candidate at once without limits (a canary step)', () => {
    const hs = down(hosts(4), 'h3');
    expect(ids(planBatches(['h1', 'h2', 'h3', 'h4'], hs, { hostOrder: 'name' }))).toEqual(['h3,h1,h2,h4']);
  });

  it('plans only the candidates, in host order, ignoring unknown ids', () => {
    expect(ids(planBatches(['h4', 'h2', 'h9'], hosts(5), limits(1, 1)))).toEqual(['h2', 'h4']);
  });
});

describe('plan: resolveAmount, more', () => {
  it.each([
    ['33%', 3, 'up', 1],
    ['34%', 3, 'up', 2],
    ['50%', 3, 'down', 1],
    ['12.5%', 8, 'down', 1],
    ['12.5%', 9, 'down', 1],
    ['12.5%', 9, 'up', 2],
    ['29%', 100, 'down', 29],
    ['29%', 100, 'up', 29],
  ] as const)('%s of %i rounded %s is %i', (amount, total, round, want) => {
    expect(resolveAmount(amount, total, round)).toBe(want);
  });
});

describe('plan: verdict, codes and reasons', () => {
  const rule = { minReadyMs: 1000, maxErrorRate: 0.1 };
  const counters = (answered: number, errors: number) => ({
    open: true,
    inFlight: 0,
    buffered: 0,
    capacity: 10,
    refused: 0,
    longestPauseMs: 0,
    byHash: {
      h2: { accepted: answered + errors, answered, errors, latencyMs: { count: 1, p50: 1, p99: 1, max: 1 } },
    },
  });
  const applied = { hash: 'h2', outcome: 'applied' as const, at: 5000 };
  it.each([
    {
      name: 'a failed apply of the target names its code and reason',
      inv: inventoryOf('api', 'h1', {
        lastApply: { hash: 'h2', outcome: 'failed', code: 'validate.failed', reason: 'bad wasm', at: 1 },
      }),
      now: 0,
      want: { status: 'failed', code: 'validate.failed', reason: '"api" failed: bad wasm' },
    },
    {
      name: 'a failed apply without code or reason is apply.failed',
      inv: inventoryOf('api', 'h1', { lastApply: { hash: 'h2', outcome: 'failed', at: 1 } }),
      now: 0,
      want: { status: 'failed', code: 'apply.failed', reason: '"api" failed: apply failed' },
    },
    {
      name: 'a failed apply of another hash is pending',
      inv: inventoryOf('api', 'h1', { lastApply: { hash: 'h3', outcome: 'failed', reason: 'bad', at: 1 } }),
      now: 0,
      want: { status: 'pending' },
    },
    {
      name: 'a failed apply of the target being retried is pending',
      inv: inventoryOf('api', 'h1', {
        lastApply: { hash: 'h2', outcome: 'failed', at: 1 },
        pending: { hash: 'h2', phase: 'downloading' },
      }),
      now: 0,
      want: { status: 'pending' },
    },
    {
      name: 'a failed apply of the target while another is pending is failed',
      inv: inventoryOf('api', 'h1', {
        lastApply: { hash: 'h2', outcome: 'superseded', at: 1 },
      }),
      now: 0,
      want: { status: 'pending' },
    },
    {
      name: 'nothing serving at all is pending',
      inv: inventoryOf('api', undefined),
      now: 0,
      want: { status: 'pending' },
    },
    {
      name: 'unhealthy on the target names it',
      inv: inventoryOf('api', 'h2', { status: 'unhealthy' }),
      now: 9000,
      want: { status: 'failed', code: 'host.unhealthy', reason: '"api" is unhealthy' },
    },
    {
      name: 'failed on the target names it',
      inv: inventoryOf('api', 'h2', { status: 'failed' }),
      now: 9000,
      want: { status: 'failed', code: 'host.unhealthy', reason: '"api" is failed' },
    },
    {
      name: 'an error rate over the limit gives the rate, the limit and the counts',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: counters(8, 2) }),
      now: 9000,
      want: { status: 'failed', code: 'gate.errorRate', reason: '"api" error rate 0.200 over 0.1 (2/10)' },
    },
    {
      name: 'an error rate just over the limit is failed',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: counters(899, 101) }),
      now: 9000,
      want: { status: 'failed', code: 'gate.errorRate', reason: '"api" error rate 0.101 over 0.1 (101/1000)' },
    },
    {
      name: 'an error rate exactly at the limit is passed',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: counters(9, 1) }),
      now: 9000,
      want: { status: 'passed' },
    },
    {
      name: 'only failures, and the rate counted over completed calls, is failed',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: counters(0, 1) }),
      now: 9000,
      want: { status: 'failed', code: 'gate.errorRate', reason: '"api" error rate 1.000 over 0.1 (1/1)' },
    },
    {
      name: 'no completed call yet is no error rate',
      inv: inventoryOf('api', 'h2', { lastApply: applied, gate: counters(0, 0) }),
      now: 9000,
      want: { status: 'passed' },
    },
    {
      name: 'counters of another hash do not count',
      inv: inventoryOf('api', 'h2', {
        lastApply: applied,
        gate: { ...counters(0, 5), byHash: { h1: counters(0, 5).byHash.h2 } },
      }),
      now: 9000,
      want: { status: 'passed' },
    },
    {
      name: 'serving the target but not running yet is pending',
      inv: inventoryOf('api', 'h2', { status: 'upgrading', lastApply: applied }),
      now: 9000,
      want: { status: 'pending' },
    },
    {
      name: 'an error rate over the limit fails even before running',
      inv: inventoryOf('api', 'h2', { status: 'standby', gate: counters(0, 3) }),
      now: 0,
      want: { status: 'failed', code: 'gate.errorRate', reason: '"api" error rate 1.000 over 0.1 (3/3)' },
    },
    {
      name: 'serving the target with no apply of it on record is ready at once',
      inv: inventoryOf('api', 'h2', { lastApply: { hash: 'h1', outcome: 'applied', at: 5000 } }),
      now: 5001,
      want: { status: 'passed' },
    },
    {
      name: 'serving the target after a superseded apply of it is ready at once',
      inv: inventoryOf('api', 'h2', { lastApply: { hash: 'h2', outcome: 'superseded', at: 5000 } }),
      now: 5001,
      want: { status: 'passed' },
    },
    {
      name: 'serving the target one millisecond short of minReadyMs is pending',
      inv: inventoryOf('api', 'h2', { lastApply: applied }),
      now: 5999,
      want: { status: 'pending' },
    },
  ] as const)('$name', ({ inv, now, want }) => {
    expect(verdict(inv, 'h2', rule, now)).toEqual(want);
  });
});

describe('plan: removedVerdict', () => {
  it.each([
    ['gone from the inventory', undefined, 'passed'],
    ['stopped', inventoryOf('api', undefined, { status: 'stopped' }), 'passed'],
    ['stopping', inventoryOf('api', 'h1', { status: 'stopping' }), 'pending'],
    ['still running', inventoryOf('api', 'h1'), 'pending'],
  ] as const)('a workload %s is %s', (_name, inv, want) => {
    expect(removedVerdict(inv)).toEqual({ status: want });
  });
});

describe('plan: combine', () => {
  const passed: Verdict = { status: 'passed' };
  const pending: Verdict = { status: 'pending' };
  const failed = (code: string): Verdict => ({ status: 'failed', code, reason: code });
  it.each([
    ['nothing is passed', [], { status: 'passed' }],
    ['all passed is passed', [passed, passed], { status: 'passed' }],
    ['any pending is pending', [passed, pending, passed], { status: 'pending' }],
    ['the first failure wins', [pending, failed('a'), failed('b')], failed('a')],
    ['a failure after a pending one wins', [passed, pending, failed('b')], failed('b')],
  ] as const)('%s', (_name, verdicts, want) => {
    expect(combine(verdicts)).toEqual(want);
  });

  it('gives back the failed verdict itself', () => {
    const f = failed('x');
    expect(combine([passed, f])).toBe(f);
  });
});

describe('plan: errorRate', () => {
  it.each([
    ['fewer completed calls than minSamples', [{ answered: 3, errors: 1 }], 5, null],
    ['exactly minSamples', [{ answered: 3, errors: 2 }], 5, { rate: 0.4, answered: 3, errors: 2 }],
    [
      'summed over hosts, skipping hosts without counters',
      [{ answered: 6, errors: 0 }, undefined, { answered: 2, errors: 2 }],
      1,
      { rate: 0.2, answered: 8, errors: 2 },
    ],
    ['no calls and no minimum', [], 0, { rate: 0, answered: 0, errors: 0 }],
    ['only failures', [{ answered: 0, errors: 4 }], 4, { rate: 1, answered: 0, errors: 4 }],
  ] as const)('%s', (_name, counters, minSamples, want) => {
    expect(errorRate(counters, minSamples)).toEqual(want);
  });
});

describe('plan: placementOnly', () => {
  const draft = (apiInstances: number, apiImage = 'mem://api:1') =>
    revision({
      version: '2',
      components: [
        { id: 'api', image: apiImage, scale: { instances: apiInstances } },
        { id: 'worker', image: 'mem://worker:1' },
      ],
      providers: [{ id: 'http', image: 'mem://http:1' }],
      links: [{ source: 'http', target: 'api', namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'] }],
    });
  const pinned = (rev: typeof v1, digest: string) => ({
    ...rev,
    components: rev.components.map((c) => (c.name === 'api' ? { ...c, spec: { ...c.spec, digest } } : c)),
  });
  const sha = (n: number) => `sha256:${String(n).repeat(64)}`;

  it('is true when only an instance count changed', () => {
    expect(placementOnly(v1, draft(5))).toBe(true);
  });

  it('is false when a spec changed', () => {
    expect(placementOnly(v1, draft(3, 'mem://api:2'))).toBe(false);
  });

  it('compares digests only when both sides are pinned', () => {
    expect(placementOnly(pinned(v1, sha(1)), draft(5))).toBe(true);
    expect(placementOnly(pinned(v1, sha(1)), pinned(draft(5), sha(1)))).toBe(true);
    expect(placementOnly(pinned(v1, sha(1)), pinned(draft(5), sha(2)))).toBe(false);
  });

  it('is false when a link or a workload was added', () => {
    const more = revision({
      version: '2',
      components: [
        { id: 'api', image: 'mem://api:1', scale: { instances: 3 } },
        { id: 'worker', image: 'mem://worker:1' },
        { id: 'extra', image: 'mem://extra:1' },
      ],
      providers: [{ id: 'http', image: 'mem://http:1' }],
      links: [{ source: 'http', target: 'api', namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'] }],
    });
    expect(placementOnly(v1, more)).toBe(false);
    expect(placementOnly(v1, { ...draft(3), links: [] })).toBe(false);
  });
});
