import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import {
  type Artifact,
  type ComponentInstance,
  type ComponentRuntime,
  type ComponentSpec,
  CutoverError,
  type FetchOptions,
  type Validated,
} from 'cutover';
import { type ArtifactCache, type CompiledArtifact, sharedArtifactCache } from './artifactCache';
import { type ComponentHandle, instantiateComponent, validateComponent } from './componentModule';
import { type CoreHandle, instantiateCore, message, validateCore } from './coreModule';
import { sha256Digest } from './digest';
import { type FileRef, parseImageRef } from './imageRef';
import { abortError, type FetchStats, pullWasm, type RegistryAuth } from './ociClient';
import { readDiskCache, writeDiskCache } from './diskCache';
import { inspectHeader } from './wasmHeader';

/** Default largest artifact accepted: 50 MiB. */
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;

/** Options of {@link createWasmRuntime}. */
export interface WasmRuntimeOptions {
  /** Registry host → mirror (`{ 'ghcr.io': '127.0.0.1:5000' }`); mirrors use http unless given `https://`. */
  mirrors?: Readonly<Record<string, string>>;
  /** Registries (`host:port`) reached over plain http besides loopback and mirrors. */
  insecureRegistries?: readonly string[];
  /** Credentials per registry (as written in the reference); anonymous when absent. */
  auth?: RegistryAuth;
  /** Directory keeping verified blobs by digest across processes. */
  cacheDir?: string;
  /** Largest artifact (and layer) accepted; larger is `validate.failed`. Default 50 MiB. */
  maxBytes?: number;
  /** The fetch used for registries (defaults to the global fetch). */
  fetch?: typeof globalThis.fetch;
  /** Base directory of `file://./relative` references (default: the working directory). */
  baseDir?: string;
  /** Digest cache; defaults to one shared by every runtime in the process. */
  cache?: ArtifactCache;
  /** In-memory artifacts by exact reference (e.g. `{ 'builtin://v1': bytes }`), served before anything else. */
  artifacts?: Readonly<Record<string, Uint8Array>>;
}

/** A {@link ComponentRuntime} for Node with counters of its fetch traffic. */
export interface WasmRuntime extends ComponentRuntime {
  /** A copy of this runtime's counters. */
  stats(): FetchStats;
}

/**
 * The Node ComponentRuntime: file/OCI fetch with sha256 verification and a digest cache, WebAssembly
 * compile + test instantiation of core modules (the core-module ABI in docs/architecture.md) and, through jco, component binaries.
 * @example
 * const runtime = createWasmRuntime({ mirrors: { 'ghcr.io': '127.0.0.1:5000' } });
 * const artifact = await runtime.fetch('ghcr.io/acme/api:1.0.0');
 * const instance = await runtime.instantiate(await runtime.validate(artifact, spec), spec);
 */
export function createWasmRuntime(options: WasmRuntimeOptions = {}): WasmRuntime {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const cache = options.cache ?? sharedArtifactCache;
  const stats: FetchStats = {
    requests: 0,
    manifestRequests: 0,
    blobRequests: 0,
    tokenRequests: 0,
    cacheHits: 0,
    bytesDownloaded: 0,
  };
  const client = {
    mirrors: options.mirrors ?? {},
    insecureRegistries: options.insecureRegistries ?? [],
    auth: options.auth,
    maxBytes,
    fetch: options.fetch ?? globalThis.fetch,
    cache,
    stats,
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
  };
  // Which manifest an artifact came from, so a spec pinned to the image (manifest) digest also verifies.
  const manifestOf = new WeakMap<Artifact, string>();

  async function fetchFile(ref: string, file: FileRef, signal: AbortSignal | undefined): Promise<Artifact> {
    const path =
      file.relative || !isAbsolute(file.path) ? resolve(options.baseDir ?? process.cwd(), file.path) : file.path;
    try {
      const info = await stat(path);
      if (info.size > maxBytes)
        throw new CutoverError('validate.failed', `"${ref}" is oversized: ${info.size} bytes > ${maxBytes}`);
      const bytes = new Uint8Array(await readFile(path, signal ? { signal } : {}));
      return { ref, digest: sha256Digest(bytes), bytes };
    } catch (cause) {
      if (cause instanceof CutoverError) throw cause;
      if (signal?.aborted) throw abortError(signal, ref);
      const code = (cause as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new CutoverError('fetch.notFound', `"${ref}" not found at ${path}`, { cause });
      throw new CutoverError('fetch.failed', `cannot read "${ref}": ${message(cause)}`, {
        cause,
        retryable: code === 'EMFILE' || code === 'EBUSY' || code === 'EAGAIN',
      });
    }
  }

  return {
    async fetch(ref: string, fetchOptions: FetchOptions = {}): Promise<Artifact> {
      const { signal } = fetchOptions;
      if (signal?.aborted) throw abortError(signal, ref);
      const preloaded = options.artifacts?.[ref];
      if (preloaded) return { ref, digest: sha256Digest(preloaded), bytes: preloaded };
      const parsed = parseImageRef(ref);
      if (parsed.kind === 'file') return fetchFile(ref, parsed, signal);
      const pulled = await pullWasm(parsed, client, signal, { read: readDiskCache, write: writeDiskCache });
      const artifact: Artifact = { ref, digest: pulled.digest, bytes: pulled.bytes };
      manifestOf.set(artifact, pulled.manifestDigest);
      return artifact;
    },

    async validate(artifact: Artifact, spec: ComponentSpec): Promise<Validated> {
      if (spec.digest !== undefined && spec.digest !== artifact.digest && spec.digest !== manifestOf.get(artifact)) {
        throw new CutoverError(
          'digest.mismatch',
          `"${spec.imageRef}": spec pins "${spec.digest}", fetched "${artifact.digest}"`,
          {
            componentId: spec.id,
          },
        );
      }
      const kind = inspectHeader(artifact.bytes, maxBytes, artifact.ref);
      // Bytes are verified against their digest on fetch; a preloaded artifact is rehashed so a lie cannot poison the cache.
      const digest = sha256Digest(artifact.bytes);
      if (digest !== artifact.digest) {
        throw new CutoverError(
          'digest.mismatch',
          `"${artifact.ref}": artifact claims "${artifact.digest}", bytes hash to "${digest}"`,
        );
      }
      let compiled = cache.compiled.get(digest);
      if (!compiled) {
        compiled = (
          kind === 'core' ? validateCore(artifact.bytes, artifact.ref) : validateComponent(artifact.bytes, artifact.ref)
        ).then((v): CompiledArtifact => ({ kind, operations: v.operations, handle: v.handle }));
        cache.compiled.set(digest, compiled);
        compiled.catch(() => cache.compiled.delete(digest));
      }
      const done = await compiled;
      return { digest, kind: done.kind, operations: done.operations, handle: done.handle };
    },

    async instantiate(validated: Validated, spec: ComponentSpec): Promise<ComponentInstance> {
      const handle = validated.handle;
      if (isCoreHandle(handle)) return instantiateCore(handle, spec.id);
      if (isComponentHandle(handle)) return instantiateComponent(handle, spec.id);
      throw new CutoverError('instantiate.failed', `"${spec.id}": artifact was not validated by this runtime`, {
        componentId: spec.id,
      });
    },

    stats: () => ({ ...stats }),
  };
}

function isCoreHandle(value: unknown): value is CoreHandle {
  return (
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'core' && 'module' in value
  );
}

function isComponentHandle(value: unknown): value is ComponentHandle {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'component' &&
    'instantiate' in value
  );
}
