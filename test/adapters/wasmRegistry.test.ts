import { writeFile } from 'node:fs/promises';
import { ComponentSpec, hasCode, isCutoverError } from 'cutover';
import { createArtifactCache, createWasmRuntime, sha256Digest, type WasmRuntimeOptions } from 'cutover/adapters/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture } from '../fixtures/wasm/buildFixture';
import { freePort, type Pushed, push, pushIndex, startRegistry, type TestRegistry } from '../helpers/registry';
import { startTokenRealm } from '../helpers/tokenRealm';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const spec = (imageRef: string, digest?: string) =>
  ComponentSpec.parse({ id: 'api', app: 'shop', imageRef, ...(digest ? { digest } : {}) });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** A fetch that counts the requests it sends, so tests can prove the cache made none. */
function countingFetch(): { fetch: typeof globalThis.fetch; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return globalThis.fetch(input, init);
    },
  };
}

const isolated = (options: WasmRuntimeOptions = {}) => createWasmRuntime({ cache: createArtifactCache(), ...options });

let registry: TestRegistry;
let v1: Pushed;
let v1Bytes: Uint8Array;

beforeAll(async () => {
  registry = await startRegistry();
  v1Bytes = await buildFixture('v1');
  v1 = await push(registry, 'acme/api', '1.0.0', v1Bytes);
});
afterAll(async () => {
  await registry?.stop();
});

describe('wasm runtime: OCI registry (real docker-registry)', () => {
  it('pulls a pushed wasm artifact by oci:// reference and verifies its digest', async () => {
    const runtime = isolated();
    const artifact = await runtime.fetch(`oci://${registry.host}/acme/api:1.0.0`);
    expect(artifact.digest).toBe(v1.layerDigest);
    expect(artifact.bytes).toEqual(v1Bytes);
    const instance = await runtime.instantiate(
      await runtime.validate(artifact, spec(artifact.ref)),
      spec(artifact.ref),
    );
    expect(text(await instance.invoke('handle', new TextEncoder().encode('oci')))).toBe('v1:oci');
  });

  it('pulls the plain wadm form host/repo:tag over http on loopback', async () => {
    const runtime = isolated();
    const artifact = await runtime.fetch(`${registry.host}/acme/api:1.0.0`);
    expect(artifact.digest).toBe(v1.layerDigest);
    expect(runtime.stats()).toMatchObject({
      manifestRequests: 1,
      blobRequests: 1,
      bytesDownloaded: v1Bytes.byteLength,
    });
  });

  it('pulls by manifest digest and accepts a spec pinned to the image digest', async () => {
    const runtime = isolated();
    const ref = `${registry.host}/acme/api@${v1.manifestDigest}`;
    const artifact = await runtime.fetch(ref);
    await expect(runtime.validate(artifact, spec(ref, v1.manifestDigest))).resolves.toMatchObject({ kind: 'core' });
    await expect(runtime.validate(artifact, spec(ref, v1.layerDigest))).resolves.toMatchObject({ kind: 'core' });
  });

  it('pulls ghcr.io references through a mirror', async () => {
    const counted = countingFetch();
    const runtime = isolated({ mirrors: { 'ghcr.io': registry.host }, fetch: counted.fetch });
    const artifact = await runtime.fetch('ghcr.io/acme/api:1.0.0');
    expect(artifact.digest).toBe(v1.layerDigest);
    expect(counted.urls.every((u) => u.startsWith(`http://${registry.host}/v2/acme/api/`))).toBe(true);
  });

  it('sends the OCI and Docker manifest media types in Accept', async () => {
    const accepts: string[] = [];
    const runtime = isolated({
      fetch: (input, init) => {
        accepts.push(new Headers(init?.headers).get('accept') ?? '');
        return globalThis.fetch(input, init);
      },
    });
    await runtime.fetch(`${registry.host}/acme/api:1.0.0`);
    expect(accepts[0]).toContain('application/vnd.oci.image.manifest.v1+json');
    expect(accepts[0]).toContain('application/vnd.oci.image.index.v1+json');
    expect(accepts[0]).toContain('application/vnd.docker.distribution.manifest.v2+json');
  });

  it('follows an OCI image index to the wasm platform manifest', async () => {
    // An index may only name manifests of its own repository.
    const other = await push(registry, 'acme/multi', 'other-only', v1Bytes);
    const v2 = await push(registry, 'acme/multi', 'v2-only', await buildFixture('v2'));
    const index = await pushIndex(registry, 'acme/multi', '2.0.0', [
      { digest: other.manifestDigest, size: other.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
      { digest: v2.manifestDigest, size: v2.manifestSize, platform: { os: 'wasip2', architecture: 'wasm' } },
    ]);
    const runtime = isolated();
    const artifact = await runtime.fetch(index.ref);
    expect(artifact.digest).toBe(v2.layerDigest);
    expect(runtime.stats().manifestRequests).toBe(2);
  });

  it('answers fetch.notFound for a missing tag and a missing repository', async () => {
    const runtime = isolated();
    expect(hasCode(await rejection(runtime.fetch(`${registry.host}/acme/api:9.9.9`)), 'fetch.notFound')).toBe(true);
    expect(hasCode(await rejection(runtime.fetch(`${registry.host}/acme/nothing:1`)), 'fetch.notFound')).toBe(true);
  });

  it('answers fetch.notFound for a digest the registry does not hold', async () => {
    const runtime = isolated();
    const ref = `${registry.host}/acme/api@${sha256Digest(new Uint8Array([1]))}`;
    expect(hasCode(await rejection(runtime.fetch(ref)), 'fetch.notFound')).toBe(true);
  });

  it('detects a corrupted blob on the registry with digest.mismatch', async () => {
    const bytes = await buildFixture('v2');
    const pushed = await push(registry, 'acme/corrupt', '1', bytes);
    const tampered = bytes.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0xff;
    await writeFile(registry.blobPath(pushed.layerDigest), tampered);
    const runtime = isolated();
    const error = await rejection(runtime.fetch(pushed.ref));
    expect(hasCode(error, 'digest.mismatch')).toBe(true);
    expect((error as Error).message).toContain(pushed.layerDigest);
  });

  it('refuses with digest.mismatch when the spec pins a digest the tag no longer has', async () => {
    const runtime = isolated();
    const artifact = await runtime.fetch(v1.ref);
    const error = await rejection(runtime.validate(artifact, spec(v1.ref, sha256Digest(new Uint8Array([2])))));
    expect(hasCode(error, 'digest.mismatch')).toBe(true);
  });

  it('answers a retryable fetch.failed when the registry is down', async () => {
    const port = await freePort();
    const runtime = isolated();
    const error = await rejection(runtime.fetch(`127.0.0.1:${port}/acme/api:1.0.0`));
    expect(isCutoverError(error) && error.code === 'fetch.failed' && error.retryable).toBe(true);
  });

  it('honours an abort signal mid-request', async () => {
    const runtime = isolated({
      fetch: (input, init) => {
        controller.abort();
        return globalThis.fetch(input, init);
      },
    });
    const controller = new AbortController();
    const error = await rejection(runtime.fetch(v1.ref, { signal: controller.signal }));
    expect(hasCode(error, 'aborted')).toBe(true);
  });

  it('refuses a layer larger than maxBytes with validate.failed', async () => {
    const runtime = isolated({ maxBytes: 64 });
    expect(hasCode(await rejection(runtime.fetch(v1.ref)), 'validate.failed')).toBe(true);
  });

  it('serves a second fetch of the same digest from the cache, with no request', async () => {
    const cache = createArtifactCache();
    const first = countingFetch();
    const hostA = createWasmRuntime({ cache, fetch: first.fetch });
    const pinned = `${registry.host}/acme/api@${v1.manifestDigest}`;
    await hostA.fetch(pinned);
    expect(first.urls.length).toBe(2);
    const second = countingFetch();
    const hostB = createWasmRuntime({ cache, fetch: second.fetch });
    const again = await hostB.fetch(pinned);
    expect(again.bytes).toEqual(v1Bytes);
    expect(second.urls).toEqual([]);
    expect(hostB.stats()).toMatchObject({ requests: 0, cacheHits: 1 });
    // A tag can move, so it is resolved again; the blob still comes from the cache.
    await hostB.fetch(v1.ref);
    expect(second.urls.map((u) => new URL(u).pathname)).toEqual(['/v2/acme/api/manifests/1.0.0']);
    expect(hostB.stats()).toMatchObject({ blobRequests: 0, cacheHits: 2 });
  });

  it('shares the process-wide cache between runtimes by default', async () => {
    const bytes = await buildFixture('v3');
    const pushed = await push(registry, 'acme/shared', '1', bytes);
    const ref = `${registry.host}/acme/shared@${pushed.manifestDigest}`;
    await createWasmRuntime().fetch(ref);
    const counted = countingFetch();
    const second = createWasmRuntime({ fetch: counted.fetch });
    await second.fetch(ref);
    expect(counted.urls).toEqual([]);
  });

  it('keeps verified blobs in cacheDir across caches', async () => {
    const cacheDir = `${registry.rootDir}/../client-cache`;
    await isolated({ cacheDir }).fetch(v1.ref);
    const counted = countingFetch();
    const fresh = isolated({ cacheDir, fetch: counted.fetch });
    const artifact = await fresh.fetch(v1.ref);
    expect(artifact.bytes).toEqual(v1Bytes);
    expect(fresh.stats()).toMatchObject({ manifestRequests: 1, blobRequests: 0, cacheHits: 1 });
  });
});

describe('wasm runtime: bearer token auth (real docker-registry + Node token realm)', () => {
  it('follows the 401 challenge to the realm, retries with the token and pulls', async () => {
    await using realm = await startTokenRealm({ users: { ci: 'secret' } });
    await using secured = await startRegistry({ tokenAuth: realm });
    const pushToken = realm.mint([{ type: 'repository', name: 'acme/private', actions: ['pull', 'push'] }]);
    const bytes = await buildFixture('v2');
    const pushed = await push(secured, 'acme/private', '2.0.0', bytes, { authorization: `Bearer ${pushToken}` });

    const runtime = isolated({
      auth: (host) => (host === secured.host ? { username: 'ci', password: 'secret' } : undefined),
    });
    const artifact = await runtime.fetch(pushed.ref);
    expect(artifact.digest).toBe(pushed.layerDigest);
    expect(runtime.stats().tokenRequests).toBe(1);
    expect(realm.issued()).toBeGreaterThanOrEqual(1);
  });

  it('gets an anonymous token when the realm allows anonymous pulls', async () => {
    await using realm = await startTokenRealm();
    await using secured = await startRegistry({ tokenAuth: realm });
    const token = realm.mint([{ type: 'repository', name: 'acme/public', actions: ['pull', 'push'] }]);
    const pushed = await push(secured, 'acme/public', '1', await buildFixture('v1'), {
      authorization: `Bearer ${token}`,
    });
    const runtime = isolated();
    await expect(runtime.fetch(pushed.ref)).resolves.toMatchObject({ digest: pushed.layerDigest });
    expect(runtime.stats().tokenRequests).toBe(1);
  });

  it('answers fetch.unauthorized when the realm refuses the credentials', async () => {
    await using realm = await startTokenRealm({ users: { ci: 'secret' } });
    await using secured = await startRegistry({ tokenAuth: realm });
    const runtime = isolated({ auth: () => ({ username: 'ci', password: 'wrong' }) });
    const error = await rejection(runtime.fetch(`${secured.host}/acme/private:1`));
    expect(hasCode(error, 'fetch.unauthorized')).toBe(true);
    expect(realm.refused()).toBe(1);
  });

  it('answers fetch.unauthorized for a token the registry does not trust', async () => {
    await using realm = await startTokenRealm();
    await using secured = await startRegistry({ tokenAuth: realm });
    const runtime = isolated({ auth: () => ({ bearer: 'not-a-jwt' }) });
    expect(hasCode(await rejection(runtime.fetch(`${secured.host}/acme/private:1`)), 'fetch.unauthorized')).toBe(true);
  });
});
