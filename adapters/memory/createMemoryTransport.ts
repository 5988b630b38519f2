import type { MemoryBusOptions, MemoryConnection } from './createMemoryBus';
import { createMemoryBus } from './createMemoryBus';

/**
 * A transport on a bus of its own: one connection, handy when one process plays every part.
 * @example
 * await using transport = createMemoryTransport();
 * transport.subscribe('greet.*', (msg) => msg.data);
 */
export function createMemoryTransport(options: MemoryBusOptions = {}): MemoryConnection {
  return createMemoryBus(options).connect();
}
