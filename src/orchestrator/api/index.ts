// The orchestrator API: wire schemas, the server over an Orchestrator, and the client.
export { createApiClient } from './createApiClient';
export type { ApiClient, ApiClientOptions, RolloutWatch, RolloutWatchOptions } from './createApiClient';
export { serveOrchestratorApi } from './serveOrchestratorApi';
export type { OrchestratorApi, OrchestratorApiOptions } from './serveOrchestratorApi';
export {
  API_OPS,
  AbortReply,
  AbortRequest,
  ApiAppStatus,
  ApiMessage,
  ApiReply,
  ApiRequest,
  ApiRolloutView,
  DeployReply,
  DeployRequest,
  HistoryReply,
  HistoryRequest,
  PauseReply,
  PauseRequest,
  PromoteReply,
  PromoteRequest,
  ResumeReply,
  ResumeRequest,
  RetryReply,
  RetryRequest,
  RolloutEventMessage,
  RolloutReply,
  RolloutRequest,
  StatusReply,
  StatusRequest,
  UndoReply,
  UndoRequest,
} from './messages';
export type { ApiOp, ApiReplyOf, ApiRequestInput } from './messages';
