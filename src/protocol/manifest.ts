// The wadm manifest reader's public surface (the layout names this file); its parts live in `manifest/`, one
// concept per file: `schema` (the document's shape), `rules` (wadm's cross-document checks), `components`
// and `links` (each entry and trait to cutover specs), `revision` (conversion, hashing, assembly),
// `findings` (paths, issues, warnings), `context` (one build's shared state) and `parseManifest` (the order
// they run in). This file holds no logic and must stay the only way in from outside that folder.
export { type ParsedManifest, parseManifest } from './manifest/parseManifest';
export { formatPath } from './manifest/findings';
export { MANIFEST_LIMITS, checkManifestLimits } from './manifest/limits';
export { KNOWN_INTERFACES, wadmComponentId } from './manifest/rules';
export {
  CONFIG_REFS_ANNOTATION,
  CONTENT_VERSION_LENGTH,
  LINK_CONFIG_REFS_ANNOTATION,
  LINK_SECRET_REFS_ANNOTATION,
  revisionContentHash,
} from './manifest/revision';
export {
  WadmConfigProperty,
  WadmLinkProperty,
  WadmManifest,
  WadmScalerProperty,
  WadmSecretProperty,
} from './manifest/schema';
