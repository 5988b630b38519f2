import {
  BUCKET_NAMES,
  buckets,
  ControlReply,
  CutoverError,
  decode,
  encode,
  HostControl,
  HostReport,
  Message,
  type MessageType,
  PROTOCOL_VERSION,
  subjects,
} from 'cutover';
import { describe, expect, it } from 'vitest';
import { sampleMessages } from '../fixtures/messages';

const messageTypes = Message.options.map((o) => o.shape.type.value) as MessageType[];

/** Runs `fn` and returns the CutoverError it throws (failing the test when it throws nothing else). */
function thrown(fn: () => unknown): CutoverError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CutoverError);
    return e as CutoverError;
  }
  throw new Error('expected a CutoverError, nothing was thrown');
}

/** A deep copy of `value` with `path` (dotted, numeric segments index arrays) set to `to`, or removed. */
function edit(value: unknown, path: string, to: unknown, remove = false): unknown {
  const copy: unknown = structuredClone(value);
  const keys = path.split('.');
  let at = copy as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const last = keys.at(-1) as string;
  if (remove) delete at[last];
  else at[last] = to;
  return copy;
}

// One breakage per message type: the dotted field path that must show up in `issues`, and what to do to it.
const breakages: { [T in MessageType]: { path: string; to?: unknown; remove?: true } } = {
  'component.apply': { path: 'spec.imageRef', to: '' },
  'component.delete': { path: 'componentId', to: 'has space' },
  'provider.apply': { path: 'spec.digest', to: 'sha256:abc' },
  'provider.delete': { path: 'providerId', remove: true },
  'component.promote': { path: 'keepOldForMs', to: -1 },
  'component.revert': { path: 'componentId', remove: true },
  'host.fence': { path: 'leaseToken', to: -1 },
  'host.fenced': { path: 'hostId', remove: true },
  'component.applied': { path: 'at', to: 'now' },
  'component.failed': { path: 'code', remove: true },
  'component.changed': { path: 'component.status', to: 'dancing' },
  'host.heartbeat': { path: 'inventory.components.0.gate.inFlight', to: -1 },
  'host.lost': { path: 'hostId', to: '' },
  'provider.link.put': { path: 'link.interfaces', to: [] },
  'provider.link.delete': { path: 'link.namespace', remove: true },
  'host.inventory': { path: 'version', to: PROTOCOL_VERSION + 1 },
  accepted: { path: 'hash', to: 42 },
  error: { path: 'retryable', to: 'yes' },
  'host.inventory.reply': { path: 'inventory.lattice', to: '' },
  ok: { path: 'version', to: String(PROTOCOL_VERSION) },
};

describe('messages', () => {
  it('has a sample and a breakage for every message type of the union', () => {
    expect(Object.keys(sampleMessages).sort()).toEqual([...messageTypes].sort());
    expect(Object.keys(breakages).sort()).toEqual([...messageTypes].sort());
  });

  describe.each(messageTypes)('%s', (type) => {
    const sample = sampleMessages[type];

    it('survives encode → decode unchanged, with defaults filled in', () => {
      const decoded = decode(encode(sample));
      expect(decoded).toEqual(Message.parse(sample));
      expect(decoded.type).toBe(type);
      expect(decoded.version).toBe(PROTOCOL_VERSION);
      expect(decode(encode(decoded))).toEqual(decoded);
    });

    it('decodes from text and from an already-parsed value alike', () => {
      expect(decode(JSON.stringify(sample))).toEqual(decode(encode(sample)));
      expect(decode(JSON.parse(JSON.stringify(sample)))).toEqual(decode(encode(sample)));
    });

    it('is rejected as message.invalid naming the bad field path', () => {
      const { path, to, remove } = breakages[type];
      const err = thrown(() => decode(encode(edit(sample, path, to, remove === true))));
      expect(err.code).toBe('message.invalid');
      expect(err.issues?.map((i) => i.path)).toContain(path);
      expect(err.message).toContain(path);
    });

    it('rejects unknown fields', () => {
      const err = thrown(() => decode(encode({ ...sample, surprise: true })));
      expect(err.code).toBe('message.invalid');
      expect(err.issues?.some((i) => i.message.includes('surprise'))).toBe(true);
    });
  });

  it('rejects an unknown type at the path "type"', () => {
    const err = thrown(() => decode(encode({ type: 'component.explode', version: PROTOCOL_VERSION })));
    expect(err.code).toBe('message.invalid');
    expect(err.issues?.map((i) => i.path)).toEqual(['type']);
  });

  it('rejects bytes that are not JSON at the root', () => {
    const err = thrown(() => decode(new TextEncoder().encode('{"type":')));
    expect(err.code).toBe('message.invalid');
    expect(err.issues).toEqual([{ path: '(root)', message: 'not valid JSON' }]);
  });

  it('rejects a stale-protocol or negative lease token on fenced commands', () => {
    const negative = thrown(() => decode(encode({ ...sampleMessages['component.delete'], leaseToken: -1 })));
    expect(negative.issues?.map((i) => i.path)).toContain('leaseToken');
  });

  it('reports every bad field, not only the first', () => {
    const bad = { type: 'component.applied', hostId: '', at: 'now', app: 'shop', componentId: 'api' };
    const paths = thrown(() => decode(encode(bad))).issues?.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['hostId', 'at', 'hash']));
  });

  it('accepts only the narrower union when one is given', () => {
    const control = sampleMessages['component.apply'];
    expect(decode(encode(control), HostControl).type).toBe('component.apply');
    const err = thrown(() => decode(encode(sampleMessages['component.applied']), HostControl));
    expect(err.code).toBe('message.invalid');
    expect(decode(encode(sampleMessages['host.heartbeat']), HostReport).type).toBe('host.heartbeat');
    expect(() => decode(encode(sampleMessages['component.apply']), HostReport)).toThrow(CutoverError);
    expect(decode(encode(sampleMessages.error), ControlReply).type).toBe('error');
  });

  it('splits the union into control requests, host reports and replies', () => {
    const types = (u: { options: readonly { shape: { type: { value: string } } }[] }) =>
      u.options.map((o) => o.shape.type.value).sort();
    expect(types(HostControl)).toEqual([
      'component.apply',
      'component.delete',
      'component.promote',
      'component.revert',
      'provider.apply',
      'provider.delete',
    ]);
    expect(types(HostReport)).toEqual(['component.applied', 'component.changed', 'component.failed', 'host.heartbeat']);
    expect(types(ControlReply)).toEqual(['accepted', 'error', 'host.fenced', 'host.inventory.reply', 'ok']);
  });
});

describe('subjects', () => {
  it('builds the v2alpha1 host control subjects of the wire table', () => {
    expect(subjects.componentApply('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.component.apply');
    expect(subjects.componentDelete('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.component.delete');
    expect(subjects.componentPromote('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.component.promote');
    expect(subjects.componentRevert('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.component.revert');
    expect(subjects.providerApply('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.provider.apply');
    expect(subjects.providerDelete('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.provider.delete');
    expect(subjects.inventory('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.inventory');
    expect(subjects.hostFence('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.fence');
    expect(subjects.hostControl('prod', 'h1')).toBe('wasmbus.ctl.v2alpha1.prod.host.h1.>');
    expect(subjects.hostsPing('prod')).toBe('wasmbus.ctl.v2alpha1.prod.hosts.ping');
  });

  it('builds event, link and invocation subjects', () => {
    expect(subjects.hostEvents('prod', 'h1')).toBe('wasmbus.evt.v2alpha1.prod.h1');
    expect(subjects.allHostEvents('prod')).toBe('wasmbus.evt.v2alpha1.prod.*');
    expect(subjects.linkPut('prod', 'kv')).toBe('wasmbus.rpc.prod.kv.linkdefs.put');
    expect(subjects.linkDelete('prod', 'kv')).toBe('wasmbus.rpc.prod.kv.linkdefs.del');
    expect(subjects.invoke('prod', 'api', 'handle')).toBe('wasmbus.rpc.prod.api.handle');
    expect(subjects.invokeAll('prod', 'api')).toBe('wasmbus.rpc.prod.api.*');
  });

  it('builds the cutover api and rollout event subjects', () => {
    expect(subjects.api('prod', 'deploy')).toBe('cutover.api.v1alpha1.prod.deploy');
    expect(subjects.apiAll('prod')).toBe('cutover.api.v1alpha1.prod.*');
    expect(subjects.rolloutEvents('prod', 'r-1')).toBe('cutover.evt.v1alpha1.prod.rollout.r-1');
    expect(subjects.allRolloutEvents('prod')).toBe('cutover.evt.v1alpha1.prod.rollout.*');
  });

  it('keeps ids with colons and dashes, as wasmCloud ids have them', () => {
    expect(subjects.invoke('default', 'shop-api:v1', 'wasi-http')).toBe('wasmbus.rpc.default.shop-api:v1.wasi-http');
  });

  it.each([
    ['an empty token', ''],
    ['a dot', 'a.b'],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a * wildcard', '*'],
    ['a > wildcard', 'a>'],
  ])('refuses %s in any token, naming it', (_what, bad) => {
    expect(() => subjects.componentApply(bad, 'h1')).toThrow(`invalid lattice "${bad}"`);
    expect(() => subjects.componentApply('prod', bad)).toThrow(`invalid hostId "${bad}"`);
    expect(() => subjects.invoke('prod', 'api', bad)).toThrow(`invalid operation "${bad}"`);
    expect(() => subjects.rolloutEvents('prod', bad)).toThrow(`invalid rolloutId "${bad}"`);
    expect(() => buckets.cutover(bad)).toThrow(`invalid lattice "${bad}"`);
  });
});

describe('buckets', () => {
  it('names the three buckets of a lattice', () => {
    expect(BUCKET_NAMES.map((b) => buckets[b]('prod'))).toEqual([
      'LATTICEDATA_prod',
      'CONFIGDATA_prod',
      'CUTOVER_prod',
    ]);
  });
});
