// Public surface of `cutover/adapters/memory`: in-process Transport, StateStore and ComponentRuntime.
export { createMemoryBus } from './createMemoryBus';
export type { MemoryBus, MemoryBusOptions, MemoryConnection } from './createMemoryBus';
export { createMemoryTransport } from './createMemoryTransport';
export { createMemoryStore } from './createMemoryStore';
export type { MemoryStore, MemoryStoreOptions } from './createMemoryStore';
export { assertKvKey } from './kvKey';
export { createMemoryRuntime } from './createMemoryRuntime';
export type { MemoryImage, MemoryOperation, MemoryRuntime, MemoryRuntimeOptions } from './createMemoryRuntime';
