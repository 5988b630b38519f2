import { specHash } from 'cutover';
import { type HostInfo, place, planBatches, resolveAmount, splitByWeight, verdict } from 'cutover/machines';
import { describe, expect, it } from 'vitest';
import { hosts, inventoryOf, revision, rolling } from '../fixtures/orchestrator';

const v1 = revision({
  version: '1',
  components: [
    { id: 'api', image: 'mem://api:1', scale: { instances: 3 } },
    { id: 'worker', image: 'mem://worker:1' },
  ],
  providers: [{ id: 'http', image: 'mem://http:1' }],
  links: [{ source: 'http', target: 'api', namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'] }],
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
          rolling({ maxParallel: mp, maxUnavailable: mu }),
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
