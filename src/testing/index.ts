// Public surface of `cutover/testing`: path selection, coverage and replay for any statechart, the
// component machine's path model, and the test kit (docs/testing.md). A composition root: it may import adapters.
export { selectPaths } from './selectPaths';
export type { PathInput, PathSelection, PathStep, SelectPathsOptions, SelectedPath } from './selectPaths';
export { replayPath } from './replayPath';
export type { ReplayDriver, ReplayOptions } from './replayPath';
export { formatCoverage, isFullyCovered, walkCoverage } from './coverage';
export type { Coverage } from './coverage';
export { countsForCoverage, machineStates, machineTransitions, transitionKey } from './machineGraph';
export {
  componentEvents,
  componentGuardState,
  componentInputs,
  componentPathOptions,
  modelImageRef,
  modelKeepOldForMs,
  modelSpec,
} from './componentModel';
// The test kit for embedders: a simulated clock, a lattice of real memory hosts with fault handles, a load
// generator. Nothing here loads NATS or wasm.
export { SimulatedClock, createSimulatedClock, settle } from './simulatedClock';
export type { RunAllOptions } from './simulatedClock';
export { drive, until } from './drive';
export type { DriveOptions } from './drive';
export { createTestLattice } from './createTestLattice';
export type { LatticeFaults, LostHost, TestHost, TestLattice, TestLatticeOptions } from './createTestLattice';
export { faultHandle, slowTransport, switchableStore } from './faults';
export type { FaultHandle, SwitchableStore } from './faults';
export type { HostFaultOptions } from './faultyRuntime';
export { createLoadGenerator } from './loadGenerator';
export type { LoadFigures, LoadGenerator, LoadGeneratorOptions, LoadVerdict } from './loadGenerator';
export { testRevision } from './revision';
export type { RevisionDraft, WorkloadDraft } from './revision';
