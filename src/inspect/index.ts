// Diagrams from machine definitions and the Stately inspector wiring (issue 7). No adapters here.
export { machineGraph, transitionLabel } from './machineGraph';
export type { GraphState, GraphStateType, GraphTransition, GraphTriggerKind, MachineGraph } from './machineGraph';
export { toMermaid } from './toMermaid';
export type { MermaidOptions } from './toMermaid';
export { toDot } from './toDot';
export type { DotOptions } from './toDot';
export { DEFAULT_INSPECTOR_URL, createInspector } from './createInspector';
export type { Inspector, InspectorOptions } from './createInspector';
export { inspectFromFlag } from './inspectFromFlag';
