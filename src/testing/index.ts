// Public surface of `cutover/testing`: path selection, coverage and replay for any statechart, plus the
// component machine's path model. A composition root: it may import adapters.
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
