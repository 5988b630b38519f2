import type { ComponentSpec } from '../protocol/spec';

/** Fetched bytes of a component, with the sha256 digest actually computed over them. */
export interface Artifact {
  readonly ref: string;
  readonly digest: string;
  readonly bytes: Uint8Array;
}

/** A compiled, test-instantiated artifact, ready to be instantiated for serving. */
export interface Validated {
  readonly digest: string;
  readonly kind: 'core' | 'component';
  /** Operations the artifact exports. */
  readonly operations: readonly string[];
  /** Runtime-private compiled form. */
  readonly handle: unknown;
}

/** A serving instance of a component. */
export interface ComponentInstance {
  invoke(operation: string, payload: Uint8Array): Promise<Uint8Array>;
  dispose(): void | Promise<void>;
}

export interface FetchOptions {
  signal?: AbortSignal;
}

/**
 * Turns an image reference into serving instances. Errors are CutoverErrors: `fetch.failed` (retryable),
 * `fetch.notFound`, `digest.mismatch`, `validate.failed`, `validate.unsupported`, `instantiate.failed`.
 */
export interface ComponentRuntime {
  fetch(ref: string, options?: FetchOptions): Promise<Artifact>;
  validate(artifact: Artifact, spec: ComponentSpec): Promise<Validated>;
  instantiate(validated: Validated, spec: ComponentSpec): Promise<ComponentInstance>;
}
