import type { LinkSpec, ProviderSpec } from '../protocol/spec';

/** What a host gives a provider: a way to call components through their gates. */
export interface ProviderContext {
  readonly hostId: string;
  readonly lattice: string;
  /** Invoke a linked component through its invocation gate (never around it). */
  invoke(componentId: string, operation: string, payload: Uint8Array): Promise<Uint8Array>;
  /** Rewrites a link address by the host's bindMap (e.g. `0.0.0.0:8080` → `127.0.0.1:0`). */
  mapAddress(address: string): string;
}

export interface LinkCallOptions {
  signal?: AbortSignal;
}

/**
 * A running capability provider instance. `putLink` / `deleteLink` answer with success or a coded
 * CutoverError (`link.failed` with a reason such as "address in use"); they may be slow or never answer,
 * so callers bound them with a timeout.
 */
export interface LinkProvider {
  readonly id: string;
  putLink(link: LinkSpec, options?: LinkCallOptions): Promise<void>;
  deleteLink(link: LinkSpec, options?: LinkCallOptions): Promise<void>;
  /** Links this instance holds now. */
  links(): readonly LinkSpec[];
  stop(): Promise<void>;
}

/** Starts a provider instance for a spec. */
export type LinkProviderFactory = (spec: ProviderSpec, context: ProviderContext) => Promise<LinkProvider>;

/** Chooses a factory for a provider image; the host falls back to its default when none matches. */
export interface ProviderRegistry {
  resolve(imageRef: string): LinkProviderFactory | undefined;
}
