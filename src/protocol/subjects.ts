/** Subject builders for docs/wire.md; every subject in cutover is made here. */
import { CutoverError } from '../errors';

const token = (name: string, value: string): string => {
  if (value.length === 0 || /[\s.*>]/.test(value)) {
    throw new CutoverError(
      'transport.invalidSubject',
      `invalid ${name} "${value}": subject tokens must be non-empty without spaces, ".", "*" or ">"`,
    );
  }
  return value;
};

const ctl = (lattice: string) => `wasmbus.ctl.v2alpha1.${token('lattice', lattice)}`;

export const subjects = {
  componentApply: (lattice: string, hostId: string) =>
    `${ctl(lattice)}.host.${token('hostId', hostId)}.component.apply`,
  componentDelete: (lattice: string, hostId: string) =>
    `${ctl(lattice)}.host.${token('hostId', hostId)}.component.delete`,
  /** Blue-green: promote a host's standby instance. */
  componentPromote: (lattice: string, hostId: string) =>
    `${ctl(lattice)}.host.${token('hostId', hostId)}.component.promote`,
  /** Blue-green: drop a standby, or switch back to the retained instance. */
  componentRevert: (lattice: string, hostId: string) =>
    `${ctl(lattice)}.host.${token('hostId', hostId)}.component.revert`,
  providerApply: (lattice: string, hostId: string) => `${ctl(lattice)}.host.${token('hostId', hostId)}.provider.apply`,
  providerDelete: (lattice: string, hostId: string) =>
    `${ctl(lattice)}.host.${token('hostId', hostId)}.provider.delete`,
  /** Takeover: raise the host's fencing token for an app (see `host.fence`). */
  hostFence: (lattice: string, hostId: string) => `${ctl(lattice)}.host.${token('hostId', hostId)}.fence`,
  inventory: (lattice: string, hostId: string) => `${ctl(lattice)}.host.${token('hostId', hostId)}.inventory`,
  /** Everything addressed to one host (a host subscribes to this one subject). */
  hostControl: (lattice: string, hostId: string) => `${ctl(lattice)}.host.${token('hostId', hostId)}.>`,
  hostsPing: (lattice: string) => `${ctl(lattice)}.hosts.ping`,
  hostEvents: (lattice: string, hostId: string) =>
    `wasmbus.evt.v2alpha1.${token('lattice', lattice)}.${token('hostId', hostId)}`,
  allHostEvents: (lattice: string) => `wasmbus.evt.v2alpha1.${token('lattice', lattice)}.*`,
  linkPut: (lattice: string, providerId: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('providerId', providerId)}.linkdefs.put`,
  linkDelete: (lattice: string, providerId: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('providerId', providerId)}.linkdefs.del`,
  invoke: (lattice: string, componentId: string, operation: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('componentId', componentId)}.${token('operation', operation)}`,
  /** All operations of one component: hosts subscribe in a queue group named after the component. */
  invokeAll: (lattice: string, componentId: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('componentId', componentId)}.*`,
  /**
   * Blue-green preview of one operation: the rpc subject with a trailing `preview` token. Only hosts holding a
   * standby of the component subscribe (queue group `{componentId}.preview`), and the standby answers.
   */
  invokePreview: (lattice: string, componentId: string, operation: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('componentId', componentId)}.${token('operation', operation)}.preview`,
  /** All preview operations of one component (see {@link subjects.invokePreview}). */
  invokePreviewAll: (lattice: string, componentId: string) =>
    `wasmbus.rpc.${token('lattice', lattice)}.${token('componentId', componentId)}.*.preview`,
  api: (lattice: string, op: string) => `cutover.api.v1alpha1.${token('lattice', lattice)}.${token('op', op)}`,
  apiAll: (lattice: string) => `cutover.api.v1alpha1.${token('lattice', lattice)}.*`,
  /** One orchestrator's own API subject: a request for an app another orchestrator drives is forwarded here. */
  apiDirect: (lattice: string, holder: string, op: string) =>
    `cutover.api.v1alpha1.${token('lattice', lattice)}.${token('op', op)}.${token('holder', holder)}`,
  /** Every op of one orchestrator's own API subject (see {@link subjects.apiDirect}). */
  apiDirectAll: (lattice: string, holder: string) =>
    `cutover.api.v1alpha1.${token('lattice', lattice)}.*.${token('holder', holder)}`,
  rolloutEvents: (lattice: string, rolloutId: string) =>
    `cutover.evt.v1alpha1.${token('lattice', lattice)}.rollout.${token('rolloutId', rolloutId)}`,
  allRolloutEvents: (lattice: string) => `cutover.evt.v1alpha1.${token('lattice', lattice)}.rollout.*`,
} as const;

/** Bucket names of docs/wire.md for a lattice. */
export const buckets = {
  latticedata: (lattice: string) => `LATTICEDATA_${token('lattice', lattice)}`,
  configdata: (lattice: string) => `CONFIGDATA_${token('lattice', lattice)}`,
  cutover: (lattice: string) => `CUTOVER_${token('lattice', lattice)}`,
} as const;

/** The logical buckets a StateStore holds for one lattice. */
export type BucketName = keyof typeof buckets;
export const BUCKET_NAMES = ['latticedata', 'configdata', 'cutover'] as const satisfies readonly BucketName[];
