import {
  type Artifact,
  type Clock,
  type ComponentInstance,
  type ComponentRuntime,
  type ComponentSpec,
  CutoverError,
  type FetchOptions,
  type Validated,
  canonicalJson,
  sha256Hex,
  systemClock,
  toCutoverError,
} from 'cutover';

/** An operation of a memory image: bytes in, bytes out. */
export type MemoryOperation = (payload: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** A component image served by a memory runtime, in place of wasm bytes. */
export interface MemoryImage {
  version: string;
  operations: Record<string, MemoryOperation>;
  /** When set, `validate` fails with `validate.failed` and this message. */
  validateError?: string;
  /** When set, `instantiate` fails with `instantiate.failed` and this message. */
  instantiateError?: string;
  /** When set, `fetch` fails with the retryable `fetch.failed` and this message. */
  fetchError?: string;
  /** How long a fetch takes, on the runtime's clock. */
  fetchDelayMs?: number;
}

/** Options of {@link createMemoryRuntime}. */
export interface MemoryRuntimeOptions {
  /** Images by reference, as if published with {@link MemoryRuntime.publish}. */
  images?: Record<string, MemoryImage>;
  /** Clock for `fetchDelayMs` (default: the system clock). */
  clock?: Clock;
}

/** A real ComponentRuntime without wasm: images are functions, digests are sha256 of a deterministic encoding. */
export interface MemoryRuntime extends ComponentRuntime {
  /** Publishes (or moves, like a tag) `ref` to `image`; returns the image's digest. */
  publish(ref: string, image: MemoryImage): string;
  /** The digest `fetch(ref)` would return now; `fetch.notFound` when unpublished. */
  digestOf(ref: string): string;
  /** Calls of `fetch`, in total and per reference as given. */
  readonly fetches: number;
  fetchesOf(ref: string): number;
  /** Calls of `validate`. */
  readonly validations: number;
  /** Calls of `instantiate` that returned an instance. */
  readonly instantiations: number;
  /** Instances not yet disposed. */
  readonly live: number;
}

interface Published {
  readonly digest: string;
  readonly bytes: Uint8Array;
  readonly image: MemoryImage;
}

const PINNED = /@(sha256:[0-9a-f]{64})$/;
const encoder = new TextEncoder();

class MemoryInstance implements ComponentInstance {
  #disposed = false;
  readonly #image: MemoryImage;
  readonly #componentId: string;
  readonly #onDispose: () => void;

  constructor(image: MemoryImage, componentId: string, onDispose: () => void) {
    this.#image = image;
    this.#componentId = componentId;
    this.#onDispose = onDispose;
  }

  async invoke(operation: string, payload: Uint8Array): Promise<Uint8Array> {
    const componentId = this.#componentId;
    if (this.#disposed) {
      throw new CutoverError('invoke.failed', `instance of "${componentId}" is disposed`, { componentId });
    }
    const op = Object.hasOwn(this.#image.operations, operation) ? this.#image.operations[operation] : undefined;
    if (op === undefined) {
      throw new CutoverError('invoke.notFound', `"${componentId}" has no operation "${operation}"`, { componentId });
    }
    try {
      return await op(payload);
    } catch (error) {
      throw toCutoverError(error, 'invoke.failed');
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#onDispose();
  }
}

class Runtime implements MemoryRuntime {
  readonly #clock: Clock;
  readonly #tags = new Map<string, Published>();
  /** Content-addressed: an artifact fetched before a tag moved still validates to what it was. */
  readonly #blobs = new Map<string, Published>();
  readonly #fetchesOf = new Map<string, number>();
  readonly #validated = new WeakSet<Validated>();
  readonly #count = { fetches: 0, validations: 0, instantiations: 0, live: 0 };

  get fetches(): number {
    return this.#count.fetches;
  }
  get validations(): number {
    return this.#count.validations;
  }
  get instantiations(): number {
    return this.#count.instantiations;
  }
  get live(): number {
    return this.#count.live;
  }

  constructor(options: MemoryRuntimeOptions) {
    this.#clock = options.clock ?? systemClock;
    for (const [ref, image] of Object.entries(options.images ?? {})) this.publish(ref, image);
  }

  publish(ref: string, image: MemoryImage): string {
    const base = ref.replace(PINNED, '');
    const bytes = encoder.encode(
      `cutover-memory-image\n${canonicalJson({ ref: base, version: image.version, operations: Object.keys(image.operations).sort() })}`,
    );
    const published: Published = { digest: `sha256:${sha256Hex(bytes)}`, bytes, image };
    this.#tags.set(base, published);
    this.#blobs.set(published.digest, published);
    return published.digest;
  }

  digestOf(ref: string): string {
    return this.#lookup(ref).digest;
  }

  fetchesOf(ref: string): number {
    return this.#fetchesOf.get(ref) ?? 0;
  }

  #lookup(ref: string): Published {
    const published = this.#tags.get(ref.replace(PINNED, ''));
    if (published === undefined) throw new CutoverError('fetch.notFound', `image "${ref}" not found`);
    return published;
  }

  async fetch(ref: string, options: FetchOptions = {}): Promise<Artifact> {
    this.#count.fetches++;
    this.#fetchesOf.set(ref, this.fetchesOf(ref) + 1);
    const published = this.#lookup(ref);
    const { image } = published;
    if (image.fetchDelayMs !== undefined && image.fetchDelayMs > 0)
      await this.#delay(image.fetchDelayMs, ref, options.signal);
    if (options.signal?.aborted) throw new CutoverError('aborted', `fetch of "${ref}" aborted`);
    if (image.fetchError !== undefined) throw new CutoverError('fetch.failed', image.fetchError);
    const pinned = PINNED.exec(ref)?.[1];
    if (pinned !== undefined && pinned !== published.digest) {
      throw new CutoverError('digest.mismatch', `image "${ref}" has digest ${published.digest}`);
    }
    return { ref, digest: published.digest, bytes: published.bytes.slice() };
  }

  #delay(ms: number, ref: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#clock.clearTimeout(handle);
        reject(new CutoverError('aborted', `fetch of "${ref}" aborted`));
      };
      const handle = this.#clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async validate(artifact: Artifact, spec: ComponentSpec): Promise<Validated> {
    this.#count.validations++;
    const actual = `sha256:${sha256Hex(artifact.bytes)}`;
    if (actual !== artifact.digest) {
      throw new CutoverError(
        'digest.mismatch',
        `artifact "${artifact.ref}" hashes to ${actual}, not ${artifact.digest}`,
        {
          componentId: spec.id,
        },
      );
    }
    if (spec.digest !== undefined && spec.digest !== actual) {
      throw new CutoverError(
        'digest.mismatch',
        `"${spec.id}" wants ${spec.digest}, image "${artifact.ref}" is ${actual}`,
        {
          componentId: spec.id,
        },
      );
    }
    const published = this.#blobs.get(actual);
    if (published === undefined) {
      throw new CutoverError('validate.failed', `artifact "${artifact.ref}" is not a memory image`, {
        componentId: spec.id,
      });
    }
    if (published.image.validateError !== undefined) {
      throw new CutoverError('validate.failed', published.image.validateError, { componentId: spec.id });
    }
    const validated: Validated = {
      digest: actual,
      kind: 'component',
      operations: Object.keys(published.image.operations).sort(),
      handle: published,
    };
    this.#validated.add(validated);
    return validated;
  }

  async instantiate(validated: Validated, spec: ComponentSpec): Promise<ComponentInstance> {
    const published = this.#validated.has(validated) ? this.#blobs.get(validated.digest) : undefined;
    if (published === undefined) {
      throw new CutoverError('instantiate.failed', `"${spec.id}" was not validated by this runtime`, {
        componentId: spec.id,
      });
    }
    if (published.image.instantiateError !== undefined) {
      throw new CutoverError('instantiate.failed', published.image.instantiateError, { componentId: spec.id });
    }
    this.#count.instantiations++;
    this.#count.live++;
    return new MemoryInstance(published.image, spec.id, () => this.#count.live--);
  }
}

/**
 * A real in-memory ComponentRuntime for tests and benchmarks without wasm.
 * @example
 * const runtime = createMemoryRuntime({ images: { 'reg/echo:1': { version: '1', operations: { echo: (p) => p } } } });
 */
export function createMemoryRuntime(options: MemoryRuntimeOptions = {}): MemoryRuntime {
  return new Runtime(options);
}
