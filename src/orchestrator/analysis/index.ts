// Analysis providers that need no outside service, plus the webhook one.
export { createWebhookProvider } from './createWebhookProvider';
export type { WebhookProviderOptions, WebhookRequest } from './createWebhookProvider';
export { errorRateProvider } from './errorRateProvider';
export { gateWindow } from './gateWindow';
export type { GateSample, GateWindow } from './gateWindow';
export { latencyP99Provider } from './latencyP99Provider';
