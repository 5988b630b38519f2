// Public barrel: every export is named here on purpose (no `export *` of implementation files).
// Sections are kept per area so parallel work edits only its own block.

// --- errors
export {
  CutoverError,
  ERROR_CODES,
  hasCode,
  isCutoverError,
  isErrorCode,
  notProvided,
  toCutoverError,
} from './errors';
export type { CutoverErrorOptions, ErrorCode, Issue, SerializedError } from './errors';

// --- protocol
export {
  AppRevision,
  ComponentSpec,
  ConfigValues,
  Digest,
  DirectedLink,
  Id,
  LinkSpec,
  ProviderSpec,
  Scale,
  SecretRef,
  Spread,
  linkKey,
} from './protocol/spec';
export type {
  AppRevisionInput,
  ComponentSpecInput,
  LinkSpecInput,
  ProviderSpecInput,
  RevisionComponent,
  RevisionProvider,
} from './protocol/spec';
export {
  ApplyPhase,
  ComponentInventory,
  ComponentStatus,
  GateCounters,
  GateStats,
  HostInventory,
  LastApply,
  LatencySummary,
} from './protocol/inventory';
export {
  Accepted,
  ComponentApplied,
  ComponentApply,
  ComponentChanged,
  ComponentDelete,
  ComponentFailed,
  ControlReply,
  ErrorReply,
  HostControl,
  HostHeartbeat,
  HostLost,
  HostReport,
  InventoryReply,
  InventoryRequest,
  Message,
  Ok,
  PROTOCOL_VERSION,
  ProviderApply,
  ProviderDelete,
  ProviderLinkDelete,
  ProviderLinkPut,
} from './protocol/messages';
export type { MessageInput, MessageOf, MessageType } from './protocol/messages';
export { BUCKET_NAMES, buckets, subjects } from './protocol/subjects';
export type { BucketName } from './protocol/subjects';
export { canonicalJson, sha256Hex, specHash } from './protocol/hash';
export { decode, encode, parseJson, parseWith, toIssues } from './protocol/decode';
// --- manifest (issue 4)
// --- ports
export { systemClock, waitUntil } from './ports/clock';
export type { Clock } from './ports/clock';
export type {
  MessageHandler,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  Transport,
  TransportMessage,
  TransportSubscription,
} from './ports/transport';
export { MAX_VALUE_BYTES } from './ports/store';
export type { PutOptions, StateStore, StoreChange, StoreEntry, StoreWatch, WatchOptions } from './ports/store';
export type { Artifact, ComponentInstance, ComponentRuntime, FetchOptions, Validated } from './ports/runtime';
export type { LinkCallOptions, LinkProvider, LinkProviderFactory, ProviderContext, ProviderRegistry } from './ports/provider';
// --- lease (memory adapter work)
// --- host (issue 5)
// --- orchestrator (issue 6)
// --- analysis & strategies (issue 9)
// --- inspect & diagrams (issue 7)
