// cutover/adapters/wasm: the Node ComponentRuntime (file/OCI fetch, digest, compile, instantiate).
export { createArtifactCache, sharedArtifactCache } from './artifactCache';
export type { ArtifactCache, CompiledArtifact } from './artifactCache';
export { JCO_PACKAGE } from './componentModule';
export { createWasmRuntime, DEFAULT_MAX_BYTES } from './createWasmRuntime';
export type { WasmRuntime, WasmRuntimeOptions } from './createWasmRuntime';
export { sha256Digest, verifyDigest } from './digest';
export { fixtureModule, fixtureModules, writeFixtureModules } from './fixtures';
export type { FixtureModuleName } from './fixtures';
export { parseImageRef } from './imageRef';
export type { FileRef, ImageRef, OciRef } from './imageRef';
export {
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  OCI_MANIFEST_MEDIA_TYPE,
  WASM_CONFIG_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPE,
  WASM_LAYER_MEDIA_TYPES,
} from './mediaTypes';
export { parseChallenge, registryBaseUrl } from './ociClient';
export type { FetchStats, RegistryAuth, RegistryCredentials } from './ociClient';
