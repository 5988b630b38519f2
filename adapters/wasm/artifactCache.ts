/** Bytes by digest, shared by every runtime that holds it, so a second host in a process never downloads again. */
export interface ArtifactCache {
  /** Verified blob bytes by `sha256:` digest. */
  readonly blobs: Map<string, Uint8Array>;
  /** Manifest digest → digest of its wasm layer, so a pinned reference needs no request at all. */
  readonly manifests: Map<string, string>;
  /** Compiled, test-instantiated forms by blob digest, so a second host does not compile again. */
  readonly compiled: Map<string, Promise<CompiledArtifact>>;
}

/** What validation produced for one blob digest. */
export interface CompiledArtifact {
  readonly kind: 'core' | 'component';
  readonly operations: readonly string[];
  readonly handle: unknown;
}

/** A fresh, empty cache (tests and embedders that want isolation). */
export function createArtifactCache(): ArtifactCache {
  return { blobs: new Map(), manifests: new Map(), compiled: new Map() };
}

/** The process-wide cache runtimes use unless given their own. */
export const sharedArtifactCache: ArtifactCache = createArtifactCache();
