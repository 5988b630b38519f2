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
  ComponentPromote,
  ComponentRevert,
  ComponentChanged,
  ComponentDelete,
  ComponentFailed,
  ControlReply,
  ErrorReply,
  HostControl,
  HostFence,
  HostFenced,
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
export {
  CONFIG_REFS_ANNOTATION,
  CONTENT_VERSION_LENGTH,
  KNOWN_INTERFACES,
  LINK_CONFIG_REFS_ANNOTATION,
  LINK_SECRET_REFS_ANNOTATION,
  WadmLinkProperty,
  WadmManifest,
  WadmScalerProperty,
  formatPath,
  parseManifest,
  revisionContentHash,
  wadmComponentId,
} from './protocol/manifest';
export type { ParsedManifest } from './protocol/manifest';
export { diffRevisions } from './protocol/diff';
export type {
  ConfigScope,
  ConfigValueChange,
  EntityChange,
  EntityDiff,
  KeyChanges,
  LinkChange,
  LinkField,
  RevisionDiff,
  SpecField,
} from './protocol/diff';
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
export type {
  LinkCallOptions,
  LinkProvider,
  LinkProviderFactory,
  ProviderContext,
  ProviderRegistry,
} from './ports/provider';
// --- lease (memory adapter work)
export { LeaseRecord, createLeases, leaseKey } from './orchestrator/lease';
export type { Lease, LeaseOptions, Leases } from './orchestrator/lease';
// --- host (issue 5)
export { createHost } from './host/createHost';
export type { Host, HostOptions, HostOutcome } from './host/createHost';
export { Gate } from './host/gate';
export type { GateOptions, GateTarget, GateTotals } from './host/gate';
export { Histogram } from './host/histogram';
export { decodeInvokeReply, encodeInvokeError, encodeInvokeOk, invokeRemote } from './host/invokeReply';
export type { RemoteInvokeOptions } from './host/invokeReply';
export type { InvokeOptions } from './host/createHost';
export { peerOf, planLinks } from './host/planLinks';
export type { LinkPlan, LinkSwap } from './host/planLinks';
export { statusOf } from './host/statusOf';
// --- orchestrator (issue 6)
export { Amount, BatchAnalysis, BatchPause, HostOrder, RollingStrategy, Strategy } from './protocol/strategy';
export type { StrategyInput } from './protocol/strategy';
export {
  Condition,
  RolloutContext,
  RolloutInput,
  RolloutKind,
  RolloutOutcome,
  RolloutOutput,
} from './protocol/rollout';
export { createOrchestrator } from './orchestrator/createOrchestrator';
export type {
  AppStatus,
  DeployOptions,
  Orchestrator,
  OrchestratorOptions,
  RolloutHandle,
  RolloutView,
} from './orchestrator/createOrchestrator';
export { HistoryEntry, RevisionRecord, RolloutRecord, keyToken } from './orchestrator/records';
/** The zod schemas of what the orchestrator reports (schemas/*.schema.json are generated from them). */
export {
  AppStatus as AppStatusSchema,
  HistoryEntry as HistoryEntrySchema,
  RolloutView as RolloutViewSchema,
} from './orchestrator/viewSchemas';
export type {
  AnalysisRunView,
  BatchView,
  HeldView,
  MeasurementView,
  PauseView,
  PromotionView,
  RolloutStep,
  StepKind,
  StrategyType,
  VersionRef,
  Versions,
  WorkloadState,
} from './orchestrator/viewSchemas';
export { formatStatus } from './orchestrator/formatStatus';
export {
  API_OPS,
  ApiAppStatus,
  ApiMessage,
  ApiReply,
  ApiRequest,
  ApiRolloutView,
  RolloutEventMessage,
  createApiClient,
  serveOrchestratorApi,
} from './orchestrator/api/index';
export type {
  ApiClient,
  ApiClientOptions,
  ApiOp,
  ApiReplyOf,
  ApiRequestInput,
  OrchestratorApi,
  OrchestratorApiOptions,
  RolloutWatch,
  RolloutWatchOptions,
} from './orchestrator/api/index';
// --- analysis & strategies (issue 9)
export {
  AnalysisCondition,
  AnalysisMeasurement,
  AnalysisProviderName,
  AnalysisSpec,
  BackgroundAnalysis,
  BlueGreenStrategy,
  CanaryStep,
  CanaryStrategy,
  HostCount,
  HostLimit,
  NoDataPolicy,
  OnConflict,
  WebhookSpec,
  analysisMetric,
} from './protocol/strategies';
export type {
  AnalysisSpecInput,
  BackgroundAnalysisInput,
  BlueGreenStrategyInput,
  CanaryStrategyInput,
  Percentage,
} from './protocol/strategies';
export type { AnalysisContext, AnalysisProvider, MeasureResult } from './ports/analysis';
export {
  createPrometheusProvider,
  createWebhookProvider,
  errorRateProvider,
  gateWindow,
  latencyP99Provider,
  renderPromQuery,
} from './orchestrator/analysis/index';
export {
  METRICS,
  NOTIFICATION_TYPES,
  NotificationEvent,
  TELEMETRY_SCOPE,
  createWebhookNotifier,
} from './observability/index';
export type {
  Notify,
  WebhookNotifier,
  WebhookNotifierOptions,
  WebhookNotifierStats,
} from './observability/index';
export type {
  GateSample,
  GateWindow,
  PrometheusProviderOptions,
  WebhookProviderOptions,
  WebhookRequest,
} from './orchestrator/analysis/index';
export {
  canarySchedule,
  orderCanaryHosts,
  planCanary,
  resolveCanaryStep,
  resolveHostCount,
} from '../machines/rollout/canary';
export type {
  BackgroundStart,
  CanaryGate,
  CanaryHost,
  CanaryPlan,
  CanaryPlanOptions,
  CanarySchedule,
  CanaryScheduleOptions,
  PlannedCanaryStep,
} from '../machines/rollout/canary';
export { blueGreenSchedule } from '../machines/rollout/blueGreen';
export type { BlueGreenSchedule } from '../machines/rollout/blueGreen';
export {
  addressesConflict,
  checkGuardrails,
  configAddresses,
  conflictError,
  describeConflict,
  findGuardrails,
  normalizeAddress,
} from '../machines/rollout/guardrails';
export type {
  Coexistence,
  ConflictFinding,
  GuardrailDecision,
  GuardrailFinding,
  GuardrailHost,
  GuardrailInput,
  GuardrailWorkload,
  ListenAddress,
  SwapFinding,
} from '../machines/rollout/guardrails';
export { analysisVerdict, judgeMeasurement, nextMeasurementAt } from '../machines/rollout/analysisVerdict';
export type {
  AnalysisCounts,
  AnalysisStatus,
  AnalysisVerdict,
  AnalysisVerdictSpec,
  MeasurementOutcome,
} from '../machines/rollout/analysisVerdict';
// --- inspect & diagrams (issue 7)
export {
  DEFAULT_INSPECTOR_URL,
  createInspector,
  inspectFromFlag,
  machineGraph,
  toDot,
  toMermaid,
  transitionLabel,
} from './inspect/index';
export type {
  DotOptions,
  GraphState,
  GraphStateType,
  GraphTransition,
  GraphTriggerKind,
  Inspector,
  InspectorOptions,
  MachineGraph,
  MermaidOptions,
} from './inspect/index';
