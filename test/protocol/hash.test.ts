import { type ComponentSpec, ComponentSpec as ComponentSpecSchema, canonicalJson, sha256Hex, specHash } from 'cutover';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as arb from '../fixtures/arbitraries';
import { componentSpec, digestOf, directedLink, secretRef } from '../fixtures/specs';

/** A small deterministic PRNG (mulberry32), so a shuffle is reproducible from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Rebuilds every object with its keys in a random order; with `arrays`, also permutes every array. */
function deepShuffle(value: unknown, rand: () => number, arrays: boolean): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => deepShuffle(v, rand, arrays));
    return arrays ? shuffled(items, rand) : items;
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = shuffled(Object.entries(value), rand);
  return Object.fromEntries(entries.map(([k, v]) => [k, deepShuffle(v, rand, arrays)]));
}

/** The same spec with every field that equals its default left out (the shortest input form). */
function withoutDefaults(spec: ComponentSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { id: spec.id, app: spec.app, imageRef: spec.imageRef };
  if (spec.digest !== undefined) out.digest = spec.digest;
  if (Object.keys(spec.config).length > 0) out.config = spec.config;
  if (spec.secrets.length > 0) out.secrets = spec.secrets;
  if (spec.maxInstances !== 1) out.maxInstances = spec.maxInstances;
  if (Object.keys(spec.annotations).length > 0) out.annotations = spec.annotations;
  if (spec.links.length > 0) {
    out.links = spec.links.map((l) => {
      const link: Record<string, unknown> = {
        source: l.source,
        target: l.target,
        namespace: l.namespace,
        package: l.package,
        interfaces: l.interfaces,
        direction: l.direction,
      };
      if (l.name !== 'default') link.name = l.name;
      if (Object.keys(l.sourceConfig).length > 0) link.sourceConfig = l.sourceConfig;
      if (Object.keys(l.targetConfig).length > 0) link.targetConfig = l.targetConfig;
      return link;
    });
  }
  return out;
}

/** A name not yet among `taken`. */
function fresh(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  let name = base;
  while (used.has(name)) name = `${name}x`;
  return name;
}

type Mutation = (spec: ComponentSpec, t: string, n: number) => ComponentSpec;

const addLink: Mutation = (s, t) => ({
  ...s,
  links: [
    ...s.links,
    directedLink('outgoing', {
      source: s.id,
      name: fresh(
        `new-${t}`,
        s.links.map((l) => l.name),
      ),
    }),
  ],
});

/** Applies `change` to one existing link (picked by `n`), or adds a link when there is none. */
const onLink =
  (change: (l: ComponentSpec['links'][number], t: string) => ComponentSpec['links'][number]): Mutation =>
  (s, t, n) => {
    if (s.links.length === 0) return addLink(s, t, n);
    const i = n % s.links.length;
    return { ...s, links: s.links.map((l, j) => (j === i ? change(l, t) : l)) };
  };

/** Every way a spec can really change: each must change the hash. */
const mutations: Record<string, Mutation> = {
  id: (s) => ({ ...s, id: `${s.id}x` }),
  app: (s) => ({ ...s, app: `${s.app}x` }),
  imageRef: (s) => ({ ...s, imageRef: `${s.imageRef}x` }),
  'digest set or changed': (s, t) => ({ ...s, digest: digestOf(`${s.digest ?? ''}${t}`) }),
  'digest removed': (s, t) => {
    if (s.digest === undefined) return { ...s, digest: digestOf(t) };
    const { digest: _removed, ...rest } = s;
    return rest;
  },
  'config key added': (s, t) => ({ ...s, config: { ...s.config, [fresh(t, Object.keys(s.config))]: 'v' } }),
  'config value changed': (s, t, n) => {
    const keys = Object.keys(s.config);
    const key = keys[n % Math.max(keys.length, 1)] ?? t;
    return { ...s, config: { ...s.config, [key]: `${s.config[key] ?? ''}x` } };
  },
  'config key removed': (s, t, n) => {
    const keys = Object.keys(s.config);
    if (keys.length === 0) return { ...s, config: { [t]: '' } };
    const drop = keys[n % keys.length];
    return { ...s, config: Object.fromEntries(Object.entries(s.config).filter(([k]) => k !== drop)) };
  },
  'config empty value added': (s, t) => ({ ...s, config: { ...s.config, [fresh(t, Object.keys(s.config))]: '' } }),
  'secret added': (s, t) => ({
    ...s,
    secrets: [
      ...s.secrets,
      secretRef({
        name: fresh(
          t,
          s.secrets.map((x) => x.name),
        ),
      }),
    ],
  }),
  'secret policy changed': (s, t, n) => {
    if (s.secrets.length === 0) return { ...s, secrets: [secretRef({ name: t })] };
    const i = n % s.secrets.length;
    return { ...s, secrets: s.secrets.map((x, j) => (j === i ? { ...x, policy: `${x.policy}x` } : x)) };
  },
  'link added': addLink,
  'link removed': (s, t, n) =>
    s.links.length === 0 ? addLink(s, t, n) : { ...s, links: s.links.filter((_, j) => j !== n % s.links.length) },
  'link target changed': onLink((l) => ({ ...l, target: `${l.target}x` })),
  'link name changed': onLink((l) => ({ ...l, name: `${l.name}x` })),
  'link namespace changed': onLink((l) => ({ ...l, namespace: `${l.namespace}x` })),
  'link package changed': onLink((l) => ({ ...l, package: `${l.package}x` })),
  'link interface added': onLink((l, t) => ({ ...l, interfaces: [...l.interfaces, fresh(t, l.interfaces)] })),
  'link interface replaced': onLink((l, t) => ({ ...l, interfaces: [fresh(t, l.interfaces)] })),
  'link direction flipped': onLink((l) => ({ ...l, direction: l.direction === 'outgoing' ? 'incoming' : 'outgoing' })),
  'link source config added': onLink((l, t) => ({
    ...l,
    sourceConfig: { ...l.sourceConfig, [fresh(t, Object.keys(l.sourceConfig))]: 'v' },
  })),
  'link target config added': onLink((l, t) => ({
    ...l,
    targetConfig: { ...l.targetConfig, [fresh(t, Object.keys(l.targetConfig))]: 'v' },
  })),
  'maxInstances changed': (s) => ({ ...s, maxInstances: s.maxInstances + 1 }),
  'annotation added': (s, t) => ({
    ...s,
    annotations: { ...s.annotations, [fresh(t, Object.keys(s.annotations))]: 'v' },
  }),
};

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"z":1}]},"b":1}',
    );
  });

  it('refuses numbers JSON cannot represent', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow('cannot hash number NaN');
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow('cannot hash number Infinity');
  });

  it('is the same whatever order keys were written in, and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        const canonical = canonicalJson(value);
        expect(canonicalJson(deepShuffle(value, random(seed), false))).toBe(canonical);
        expect(JSON.parse(canonical)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      arb.propertyRuns,
    );
  });
});

describe('sha256Hex', () => {
  it('hashes text and bytes alike', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(sha256Hex('abc'));
  });
});

describe('specHash', () => {
  it('is a 64-digit lowercase hex string', () => {
    expect(specHash(componentSpec())).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not change when keys are reordered at any depth', () => {
    fc.assert(
      fc.property(arb.componentSpec, fc.integer(), (spec, seed) => {
        const input = deepShuffle(spec, random(seed), false) as ComponentSpec;
        expect(specHash(input)).toBe(specHash(spec));
      }),
      arb.propertyRuns,
    );
  });

  it('does not change when links, interfaces or secrets are listed in another order', () => {
    fc.assert(
      fc.property(arb.componentSpec, fc.integer(), (spec, seed) => {
        const input = deepShuffle(spec, random(seed), true) as ComponentSpec;
        expect(specHash(input)).toBe(specHash(spec));
      }),
      arb.propertyRuns,
    );
  });

  it('is the same with default values written out or left out', () => {
    fc.assert(
      fc.property(arb.componentSpec, (spec) => {
        const short = withoutDefaults(spec);
        expect(ComponentSpecSchema.parse(short)).toEqual(ComponentSpecSchema.parse(spec));
        expect(specHash(short as ComponentSpec)).toBe(specHash(spec));
      }),
      arb.propertyRuns,
    );
  });

  it('treats a minimal spec and its fully defaulted form as one', () => {
    const minimal = { id: 'api', app: 'shop', imageRef: 'file:///api.wasm' };
    const explicit = {
      ...minimal,
      config: {},
      secrets: [],
      links: [],
      maxInstances: 1,
      annotations: {},
    };
    expect(specHash(explicit)).toBe(specHash(minimal));
    const link = { source: 'api', target: 'kv', namespace: 'wasi', package: 'keyvalue', interfaces: ['store'] };
    expect(specHash({ ...minimal, links: [{ ...link, direction: 'outgoing' }] })).toBe(
      specHash({
        ...minimal,
        links: [{ ...link, name: 'default', sourceConfig: {}, targetConfig: {}, direction: 'outgoing' }],
      }),
    );
  });

  it('ignores a repeated interface', () => {
    const base = componentSpec({ links: [directedLink('outgoing', { interfaces: ['store', 'atomics'] })] });
    const repeated = componentSpec({
      links: [directedLink('outgoing', { interfaces: ['atomics', 'store', 'store'] })],
    });
    expect(specHash(repeated)).toBe(specHash(base));
  });

  describe.each(Object.entries(mutations))('changes when the spec changes: %s', (_name, mutate) => {
    it('gives a different hash', () => {
      fc.assert(
        fc.property(arb.componentSpec, arb.token, fc.nat(), (spec, t, n) => {
          const changed = ComponentSpecSchema.parse(mutate(spec, t, n));
          expect(canonicalJson(changed)).not.toBe(canonicalJson(spec));
          expect(specHash(changed)).not.toBe(specHash(spec));
        }),
        { ...arb.propertyRuns, numRuns: 40 },
      );
    });
  });

  it('keeps providers and components with the same fields apart', () => {
    const fields = { id: 'kv', app: 'shop', imageRef: 'ghcr.io/wasmcloud/keyvalue-redis:0.28.1' };
    expect(specHash(fields, 'provider')).not.toBe(specHash(fields, 'component'));
  });

  it('is stable for providers under reordering of keys, links and interfaces', () => {
    fc.assert(
      fc.property(arb.providerSpec, fc.integer(), (spec, seed) => {
        const input = deepShuffle(spec, random(seed), true) as typeof spec;
        expect(specHash(input, 'provider')).toBe(specHash(spec, 'provider'));
      }),
      arb.propertyRuns,
    );
  });

  it('refuses an invalid spec instead of hashing it', () => {
    expect(() => specHash({ id: '', app: 'shop', imageRef: 'x' })).toThrow(
      expect.objectContaining({ code: 'spec.invalid' }),
    );
  });
});
