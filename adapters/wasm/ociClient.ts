import { CutoverError } from 'cutover';
import type { ArtifactCache } from './artifactCache';
import { sha256Digest, verifyDigest } from './digest';
import type { OciRef } from './imageRef';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, WASM_LAYER_MEDIA_TYPES } from './mediaTypes';

/** Credentials for a registry: basic (sent to the token realm, or as Basic) or a ready bearer token. */
export type RegistryCredentials = { username: string; password: string } | { bearer: string };

/** Looks up credentials for a registry host (as written in the reference, before mirrors). */
export type RegistryAuth = (
  registry: string,
) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;

/** Counters of one runtime's registry traffic, for tests and diagnostics. */
export interface FetchStats {
  /** HTTP requests sent (registry and token realm). */
  requests: number;
  manifestRequests: number;
  blobRequests: number;
  tokenRequests: number;
  /** Artifacts served from the digest cache without downloading the blob. */
  cacheHits: number;
  bytesDownloaded: number;
}

export interface OciClientOptions {
  mirrors: Readonly<Record<string, string>>;
  insecureRegistries: readonly string[];
  auth: RegistryAuth | undefined;
  maxBytes: number;
  fetch: typeof globalThis.fetch;
  cache: ArtifactCache;
  stats: FetchStats;
  cacheDir?: string;
}

/** Reads and writes verified blobs in `cacheDir`. */
export interface DiskCache {
  read(dir: string, digest: string): Promise<Uint8Array | undefined>;
  write(dir: string, digest: string, bytes: Uint8Array): Promise<void>;
}

export interface OciPull {
  /** Digest of the wasm layer (what Artifact.digest carries). */
  digest: string;
  /** Digest of the image manifest the layer came from. */
  manifestDigest: string;
  bytes: Uint8Array;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string };
}

interface Manifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|localhost|\[::1\]|::1)$/i;

/** http for loopback, configured mirrors and insecure registries; https otherwise (an explicit scheme wins). */
export function registryBaseUrl(
  ref: OciRef,
  options: Pick<OciClientOptions, 'mirrors' | 'insecureRegistries'>,
): string {
  const mirror = options.mirrors[ref.registry];
  const target = mirror ?? (ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry);
  if (/^https?:\/\//.test(target)) return target.replace(/\/+$/, '');
  const host = hostOf(target);
  const insecure =
    mirror !== undefined ||
    LOOPBACK.test(host) ||
    options.insecureRegistries.includes(target) ||
    options.insecureRegistries.includes(ref.registry);
  return `${insecure ? 'http' : 'https'}://${target}`;
}

function hostOf(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1);
  const colon = hostPort.lastIndexOf(':');
  return colon >= 0 && hostPort.indexOf(':') === colon ? hostPort.slice(0, colon) : hostPort;
}

/** Pulls the wasm layer of an image over the OCI distribution API, verifying every digest. */
export async function pullWasm(
  ref: OciRef,
  options: OciClientOptions,
  signal: AbortSignal | undefined,
  disk?: DiskCache,
): Promise<OciPull> {
  const name = display(ref);
  if (ref.digest !== undefined) {
    const layer = options.cache.manifests.get(ref.digest);
    const bytes = layer === undefined ? undefined : options.cache.blobs.get(layer);
    if (layer !== undefined && bytes !== undefined) {
      options.stats.cacheHits += 1;
      return { digest: layer, manifestDigest: ref.digest, bytes };
    }
  }
  const session = new RegistrySession(ref, options, signal);
  let { manifest, digest: manifestDigest } = await session.manifest(ref.digest ?? ref.tag ?? 'latest', ref.digest);
  if (isIndex(manifest)) {
    const chosen = chooseFromIndex(manifest.manifests ?? []);
    if (!chosen) throw new CutoverError('fetch.notFound', `image index of "${name}" lists no manifest`);
    ({ manifest, digest: manifestDigest } = await session.manifest(chosen.digest, chosen.digest));
  }
  const layer = chooseLayer(manifest.layers ?? []);
  if (!layer) {
    throw new CutoverError('fetch.notFound', `image "${name}" has no wasm layer (${WASM_LAYER_MEDIA_TYPES[0]})`);
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(layer.digest)) {
    throw new CutoverError('fetch.failed', `image "${name}" has a layer with unsupported digest "${layer.digest}"`, {
      retryable: false,
    });
  }
  if (layer.size !== undefined && layer.size > options.maxBytes) {
    throw new CutoverError(
      'validate.failed',
      `image "${name}" layer is oversized: ${layer.size} bytes > ${options.maxBytes}`,
    );
  }
  options.cache.manifests.set(manifestDigest, layer.digest);
  const cached =
    options.cache.blobs.get(layer.digest) ??
    (options.cacheDir && disk ? await disk.read(options.cacheDir, layer.digest) : undefined);
  if (cached) {
    options.stats.cacheHits += 1;
    options.cache.blobs.set(layer.digest, cached);
    return { digest: layer.digest, manifestDigest, bytes: cached };
  }
  const bytes = await session.blob(layer.digest);
  options.cache.blobs.set(layer.digest, bytes);
  if (options.cacheDir && disk) await disk.write(options.cacheDir, layer.digest, bytes).catch(() => undefined);
  return { digest: layer.digest, manifestDigest, bytes };
}

function display(ref: OciRef): string {
  return `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
}

function isIndex(m: Manifest): boolean {
  return (
    (m.mediaType !== undefined && INDEX_MEDIA_TYPES.includes(m.mediaType)) || (m.manifests !== undefined && !m.layers)
  );
}

function chooseFromIndex(entries: readonly Descriptor[]): Descriptor | undefined {
  return (
    entries.find((d) => d.platform?.architecture === 'wasm' || d.platform?.os?.startsWith('wasi') === true) ??
    entries[0]
  );
}

function chooseLayer(layers: readonly Descriptor[]): Descriptor | undefined {
  const wasm = layers.find((l) => l.mediaType !== undefined && WASM_LAYER_MEDIA_TYPES.includes(l.mediaType));
  return wasm ?? (layers.length === 1 ? layers[0] : undefined);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    if (p[1]) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** Bearer tokens by registry and scope, kept for the life of the runtime. */
const tokenKey = (registry: string, scope: string) => `${registry} ${scope}`;

class RegistrySession {
  private readonly base: string;
  private readonly name: string;
  private authorization: string | undefined;

  constructor(
    private readonly ref: OciRef,
    private readonly options: OciClientOptions,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.base = registryBaseUrl(ref, options);
    this.name = display(ref);
  }

  async manifest(reference: string, expected: string | undefined): Promise<{ manifest: Manifest; digest: string }> {
    this.options.stats.manifestRequests += 1;
    const res = await this.get(`/v2/${this.ref.repository}/manifests/${reference}`, MANIFEST_MEDIA_TYPES.join(', '));
    const body = await readLimited(res, 4 * 1024 * 1024, `manifest of "${this.name}"`, this.signal);
    const digest = expected
      ? verifyDigest(expected, body, `manifest of "${this.name}"`)
      : verifyHeader(res.headers.get('docker-content-digest'), body, `manifest of "${this.name}"`);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(body)) as Manifest;
    } catch (cause) {
      throw new CutoverError('fetch.failed', `manifest of "${this.name}" is not json`, { cause, retryable: false });
    }
    if (manifest.mediaType === undefined) {
      const type = res.headers.get('content-type')?.split(';')[0]?.trim();
      if (type) manifest.mediaType = type;
    }
    return { manifest, digest };
  }

  async blob(digest: string): Promise<Uint8Array> {
    this.options.stats.blobRequests += 1;
    const res = await this.get(`/v2/${this.ref.repository}/blobs/${digest}`, 'application/octet-stream, */*');
    const bytes = await readLimited(res, this.options.maxBytes, `layer of "${this.name}"`, this.signal);
    this.options.stats.bytesDownloaded += bytes.byteLength;
    verifyDigest(digest, bytes, `layer of "${this.name}"`);
    return bytes;
  }

  private async get(path: string, accept: string): Promise<Response> {
    let res = await this.send(`${this.base}${path}`, accept, this.authorization);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
      await res.body?.cancel();
      this.authorization = await this.authorize(challenge);
      if (this.authorization === undefined) {
        throw new CutoverError(
          'fetch.unauthorized',
          `registry "${this.ref.registry}" requires credentials for "${this.name}"`,
        );
      }
      res = await this.send(`${this.base}${path}`, accept, this.authorization);
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new CutoverError(
          'fetch.unauthorized',
          `registry "${this.ref.registry}" refused the credentials for "${this.name}"`,
        );
      }
    }
    if (res.ok) return res;
    await res.body?.cancel();
    if (res.status === 404)
      throw new CutoverError('fetch.notFound', `"${this.name}" not found (${path.split('/').at(-2)})`);
    if (res.status === 403)
      throw new CutoverError('fetch.unauthorized', `registry "${this.ref.registry}" forbids "${this.name}"`);
    throw new CutoverError(
      'fetch.failed',
      `registry "${this.ref.registry}" answered ${res.status} for "${this.name}"`,
      {
        retryable: res.status >= 500 || res.status === 429 || res.status === 408,
      },
    );
  }

  private async authorize(challenge: Challenge | undefined): Promise<string | undefined> {
    const credentials = await this.options.auth?.(this.ref.registry);
    if (challenge?.scheme === 'basic') {
      return credentials && 'username' in credentials ? `Basic ${basic(credentials)}` : undefined;
    }
    if (challenge?.scheme !== 'bearer') return undefined;
    if (credentials && 'bearer' in credentials) return `Bearer ${credentials.bearer}`;
    const realm = challenge.params.realm;
    if (!realm) return undefined;
    const scope = challenge.params.scope ?? `repository:${this.ref.repository}:pull`;
    const key = tokenKey(this.ref.registry, scope);
    const known = tokens.get(this.options)?.get(key);
    if (known) return `Bearer ${known}`;
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    this.options.stats.tokenRequests += 1;
    const res = await this.send(url.href, 'application/json', credentials ? `Basic ${basic(credentials)}` : undefined);
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new CutoverError('fetch.failed', `token realm "${url.origin}" answered ${res.status}`, {
        retryable: res.status >= 500,
      });
    }
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const token =
      typeof body.token === 'string'
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : undefined;
    if (token === undefined) return undefined;
    let perRuntime = tokens.get(this.options);
    if (!perRuntime) tokens.set(this.options, (perRuntime = new Map()));
    perRuntime.set(key, token);
    return `Bearer ${token}`;
  }

  private async send(url: string, accept: string, authorization: string | undefined): Promise<Response> {
    this.signal?.throwIfAborted();
    this.options.stats.requests += 1;
    const headers: Record<string, string> = { accept };
    if (authorization) headers.authorization = authorization;
    try {
      return await this.options.fetch(url, {
        headers,
        redirect: 'follow',
        ...(this.signal ? { signal: this.signal } : {}),
      });
    } catch (cause) {
      if (this.signal?.aborted) throw abortError(this.signal, this.name);
      const code = errorCode(cause);
      throw new CutoverError(
        'fetch.failed',
        `registry "${this.ref.registry}" unreachable at ${new URL(url).host}${code ? ` (${code})` : ''}`,
        {
          cause,
          retryable: true,
        },
      );
    }
  }
}

const tokens = new WeakMap<OciClientOptions, Map<string, string>>();

function basic(c: { username: string; password: string }): string {
  return Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

function verifyHeader(header: string | null, body: Uint8Array, what: string): string {
  if (header && /^sha256:/.test(header)) return verifyDigest(header, body, what);
  return sha256Digest(body);
}

function errorCode(e: unknown): string | undefined {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/** The error for an aborted fetch: `timeout` when the signal timed out, `aborted` otherwise. */
export function abortError(signal: AbortSignal, what: string): CutoverError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new CutoverError(
    timedOut ? 'timeout' : 'aborted',
    `fetch of "${what}" ${timedOut ? 'timed out' : 'aborted'}`,
    {
      cause: reason,
    },
  );
}

async function readLimited(
  res: Response,
  max: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw new CutoverError('validate.failed', `${what} is oversized: ${declared} bytes > ${max}`);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > max) {
        throw new CutoverError('validate.failed', `${what} is oversized: more than ${max} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (cause instanceof CutoverError) throw cause;
    if (signal?.aborted) throw abortError(signal, what);
    throw new CutoverError('fetch.failed', `${what}: download interrupted`, { cause, retryable: true });
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
