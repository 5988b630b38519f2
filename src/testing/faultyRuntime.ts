// The per-host faults of a test lattice: a ComponentRuntime wrapper in front of the real memory runtime
// (validation fails on one host, downloads never finish or take longer, a version answers with errors or
// late) and the link refusals of a host's memory providers. The runtime itself stays real: the wrapper only
// adds the fault, then delegates.
import { CutoverError } from '../errors';
import type { Clock } from '../ports/clock';
import type { Artifact, ComponentInstance, ComponentRuntime, FetchOptions, Validated } from '../ports/runtime';
import type { ComponentSpec, LinkSpec } from '../protocol/spec';
import { type FaultHandle, faultHandle } from './faults';

const PINNED = /@sha256:[0-9a-f]{64}$/;
/** An image reference without its `@sha256:…` pin: faults name images as published. */
export const imageOf = (ref: string): string => ref.replace(PINNED, '');

interface HostFault {
  readonly hostId: string;
  /** Undefined: every image. */
  readonly image: string | undefined;
  readonly handle: FaultHandle;
}

interface Validation extends HostFault {
  readonly message: string;
}
interface Slow extends HostFault {
  readonly ms: number;
}
interface Stuck extends HostFault {
  readonly cleared: Promise<void>;
}
interface Refusal {
  readonly hostId: string;
  readonly reason: string;
  readonly match: (link: LinkSpec) => boolean;
  readonly handle: FaultHandle;
}
interface VersionFault {
  readonly image: string;
  readonly hostId: string | undefined;
  readonly errorRate: number;
  readonly latencyMs: number;
  readonly handle: FaultHandle;
  calls: number;
}

/** Options shared by the per-host faults of {@link FaultTable}. */
export interface HostFaultOptions {
  /** Only this image (as published, without a digest pin); default: every image. */
  image?: string;
}

function live<T extends { handle: FaultHandle }>(list: T[]): T[] {
  for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.handle.active) list.splice(i, 1);
  return list;
}

const matches = (f: HostFault, hostId: string, ref: string) =>
  f.hostId === hostId && (f.image === undefined || f.image === imageOf(ref));

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new CutoverError('aborted', `${what} aborted`));
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(new CutoverError('aborted', `${what} aborted`));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rejects with `aborted` when `signal` aborts; never resolves. */
function aborted(signal: AbortSignal | undefined, what: string): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    const fail = () => reject(new CutoverError('aborted', `${what} aborted`));
    if (signal?.aborted) fail();
    else signal?.addEventListener('abort', fail, { once: true });
  });
}

/** Every fault a test lattice can put on its hosts and versions, consulted by their runtimes and providers. */
export class FaultTable {
  readonly #clock: Clock;
  readonly #validation: Validation[] = [];
  readonly #slow: Slow[] = [];
  readonly #stuck: Stuck[] = [];
  readonly #refusals: Refusal[] = [];
  readonly #versions: VersionFault[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  failValidation(hostId: string, options: HostFaultOptions & { message?: string } = {}): FaultHandle {
    const handle = faultHandle(`validation fails on "${hostId}"${of(options.image)}`);
    this.#validation.push({ hostId, image: options.image, message: options.message ?? 'bad magic number', handle });
    return handle;
  }

  neverReady(hostId: string, options: HostFaultOptions = {}): FaultHandle {
    let wake = () => undefined as void;
    const cleared = new Promise<void>((r) => (wake = r));
    const handle = faultHandle(`"${hostId}" never gets ready${of(options.image)}`, () => wake());
    this.#stuck.push({ hostId, image: options.image, handle, cleared });
    return handle;
  }

  slowDownload(hostId: string, ms: number, options: HostFaultOptions = {}): FaultHandle {
    const handle = faultHandle(`downloads on "${hostId}" take ${ms} ms more${of(options.image)}`);
    this.#slow.push({ hostId, image: options.image, ms, handle });
    return handle;
  }

  refuseLinks(hostId: string, options: { reason?: string; match?: (link: LinkSpec) => boolean } = {}): FaultHandle {
    const reason = options.reason ?? 'refused by the test';
    const handle = faultHandle(`providers on "${hostId}" refuse links: ${reason}`);
    this.#refusals.push({ hostId, reason, match: options.match ?? (() => true), handle });
    return handle;
  }

  version(
    image: string,
    fault: { errorRate?: number; latencyMs?: number; hostId?: string },
    description: string,
  ): FaultHandle {
    const handle = faultHandle(description);
    this.#versions.push({
      image: imageOf(image),
      hostId: fault.hostId,
      errorRate: fault.errorRate ?? 0,
      latencyMs: fault.latencyMs ?? 0,
      handle,
      calls: 0,
    });
    return handle;
  }

  /** Why a host's provider refuses `link` now, or undefined. */
  refusal(hostId: string, link: LinkSpec): string | undefined {
    return live(this.#refusals).find((r) => r.hostId === hostId && r.match(link))?.reason;
  }

  /** `runtime` as host `hostId` sees it, with this table's faults in front. */
  runtimeFor(hostId: string, runtime: ComponentRuntime): ComponentRuntime {
    return {
      fetch: async (ref: string, options: FetchOptions = {}): Promise<Artifact> => {
        for (const stuck of live(this.#stuck).filter((f) => matches(f, hostId, ref))) {
          await Promise.race([stuck.cleared, aborted(options.signal, `fetch of "${ref}"`)]);
        }
        const extra = live(this.#slow)
          .filter((f) => matches(f, hostId, ref))
          .reduce((sum, f) => sum + f.ms, 0);
        if (extra > 0) await sleep(this.#clock, extra, options.signal, `fetch of "${ref}"`);
        return runtime.fetch(ref, options);
      },
      validate: async (artifact: Artifact, spec: ComponentSpec): Promise<Validated> => {
        const failure = live(this.#validation).find((f) => matches(f, hostId, artifact.ref));
        if (failure !== undefined) {
          throw new CutoverError('validate.failed', failure.message, { componentId: spec.id, hostId });
        }
        return runtime.validate(artifact, spec);
      },
      instantiate: async (validated: Validated, spec: ComponentSpec): Promise<ComponentInstance> => {
        const instance = await runtime.instantiate(validated, spec);
        return this.#instance(instance, hostId, imageOf(spec.imageRef), spec.id);
      },
    };
  }

  #instance(inner: ComponentInstance, hostId: string, image: string, componentId: string): ComponentInstance {
    return {
      invoke: async (operation, payload) => {
        const faults = live(this.#versions).filter(
          (f) => f.image === image && (f.hostId === undefined || f.hostId === hostId),
        );
        const latency = faults.reduce((sum, f) => sum + f.latencyMs, 0);
        if (latency > 0) await sleep(this.#clock, latency, undefined, `call of "${componentId}"`);
        for (const f of faults) {
          if (f.errorRate <= 0) continue;
          f.calls++;
          // Deterministic spread: call n fails when the running count of due failures goes up.
          if (Math.floor(f.calls * f.errorRate) > Math.floor((f.calls - 1) * f.errorRate)) {
            throw new CutoverError('invoke.failed', `"${componentId}" failed (injected error of "${image}")`, {
              componentId,
              hostId,
            });
          }
        }
        return inner.invoke(operation, payload);
      },
      dispose: () => inner.dispose(),
    };
  }
}

const of = (image: string | undefined) => (image === undefined ? '' : ` for "${image}"`);
