// Public surface of `cutover/adapters/providers`: built-in LinkProviders.
export { createMemoryProvider, createProviderRegistry } from './memoryProvider';
export type { MemoryProvider, MemoryProviderOptions } from './memoryProvider';
export {
  createHttpServerProvider,
  HTTP_SERVER_BUILTIN_IMAGE,
  HTTP_SERVER_DEFAULT_ADDRESS,
  type HttpServerProvider,
  type HttpServerProviderOptions,
  isHttpServerImage,
} from './httpServerProvider';
