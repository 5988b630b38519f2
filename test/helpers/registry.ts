import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The command that installs the registry binary the OCI tests need. */
export const REGISTRY_INSTALL_HINT = 'apt-get install -y docker-registry';
const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** docker-registry's `auth.token` config: the realm that signs tokens and the cert the registry trusts. */
export interface RegistryTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  /** PEM bundle of the certificates whose keys sign tokens (`rootcertbundle`). */
  certPath: string;
}

export interface RegistryOptions {
  tokenAuth?: RegistryTokenAuth;
  /** How long to wait for `/v2/` to answer (default 15 s). */
  startTimeoutMs?: number;
}

/** A running docker-registry (distribution 2.8) on a free loopback port; `await using` kills it and removes its files. */
export interface TestRegistry extends AsyncDisposable {
  /** `127.0.0.1:<port>`: the registry part of an image reference. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Filesystem storage root (to corrupt a blob on purpose). */
  readonly rootDir: string;
  /** Path of a stored blob's data file, as the filesystem driver lays it out. */
  blobPath(digest: string): string;
  stop(): Promise<void>;
}

/** Finds a free loopback port (the OS picks; the registry binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Starts a real `docker-registry`; fails (never skips) when the binary is missing.
 * @example
 * await using registry = await startRegistry();
 * await push(registry, 'acme/api', '1.0.0', wasmBytes);
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(`docker-registry not found at ${REGISTRY_BINARY}: install it with \`${REGISTRY_INSTALL_HINT}\``);
  }
  const dir = await mkdtemp(join(tmpdir(), 'cutover-registry-'));
  const rootDir = join(dir, 'storage');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    'storage:',
    `  filesystem: { rootdirectory: ${JSON.stringify(rootDir)} }`,
    '  delete: { enabled: true }',
    '  maintenance: { uploadpurging: { enabled: false } }',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: cutover-test-secret',
  ];
  const auth = options.tokenAuth;
  if (auth) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(auth.realm)}`,
      `    service: ${JSON.stringify(auth.service)}`,
      `    issuer: ${JSON.stringify(auth.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(auth.certPath)}`,
    );
  }
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited with ${child.exitCode}: ${output.trim()}`);
    }
    const answered = await fetch(`${url}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${url}/v2/: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    rootDir,
    blobPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(rootDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

export interface PushOptions {
  /** `Authorization` header for every request (e.g. `Bearer <token>` from a token realm). */
  authorization?: string;
  layerMediaType?: string;
  configMediaType?: string;
}

/** Digests of what {@link push} stored. */
export interface Pushed {
  manifestDigest: string;
  manifestSize: number;
  layerDigest: string;
  configDigest: string;
  /** `127.0.0.1:<port>/<repo>:<tag>` */
  ref: string;
}

const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Pushes a wasm artifact (CNCF wasm-oci layout: wasm config + `application/wasm` layer + OCI manifest)
 * over the registry HTTP API with monolithic blob uploads.
 */
export async function push(
  registry: Pick<TestRegistry, 'url' | 'host'>,
  repo: string,
  tag: string,
  wasm: Uint8Array,
  options: PushOptions = {},
): Promise<Pushed> {
  const headers: Record<string, string> = options.authorization ? { authorization: options.authorization } : {};
  const config = new TextEncoder().encode(
    JSON.stringify({
      created: '2026-01-01T00:00:00Z',
      architecture: 'wasm',
      os: 'wasip1',
      layerDigests: [digestOf(wasm)],
    }),
  );
  const uploadBlob = async (bytes: Uint8Array): Promise<string> => {
    const digest = digestOf(bytes);
    const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    await start.body?.cancel();
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw new Error(`blob upload start failed: ${start.status}`);
    const target = new URL(location, registry.url);
    target.searchParams.set('digest', digest);
    const put = await fetch(target, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    await put.body?.cancel();
    if (put.status !== 201) throw new Error(`blob upload of ${digest} failed: ${put.status}`);
    return digest;
  };
  const configDigest = await uploadBlob(config);
  const layerDigest = await uploadBlob(wasm);
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: options.configMediaType ?? 'application/vnd.wasm.config.v0+json',
        digest: configDigest,
        size: config.byteLength,
      },
      layers: [{ mediaType: options.layerMediaType ?? 'application/wasm', digest: layerDigest, size: wasm.byteLength }],
    }),
  );
  const put = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`manifest put failed: ${put.status} ${text}`);
  return {
    manifestDigest: digestOf(manifest),
    manifestSize: manifest.byteLength,
    layerDigest,
    configDigest,
    ref: `${registry.host}/${repo}:${tag}`,
  };
}

/** Puts an OCI image index pointing at pushed manifests (what multi-platform pushes produce). */
export async function pushIndex(
  registry: Pick<TestRegistry, 'url' | 'host'>,
  repo: string,
  tag: string,
  manifests: readonly { digest: string; size: number; platform?: { os: string; architecture: string } }[],
  options: Pick<PushOptions, 'authorization'> = {},
): Promise<{ indexDigest: string; ref: string }> {
  const body = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: manifests.map((m) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m })),
    }),
  );
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: {
      ...(options.authorization ? { authorization: options.authorization } : {}),
      'content-type': 'application/vnd.oci.image.index.v1+json',
    },
    body,
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`index put failed: ${res.status} ${text}`);
  return { indexDigest: digestOf(body), ref: `${registry.host}/${repo}:${tag}` };
}
