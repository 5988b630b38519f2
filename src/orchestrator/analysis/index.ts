// Analysis providers that need no outside service, plus the webhook and Prometheus ones.
export { createWebhookProvider } from './createWebhookProvider';
export type { WebhookProviderOptions, WebhookRequest } from './createWebhookProvider';
export { createPrometheusProvider, renderPromQuery } from './createPrometheusProvider';
export type { PrometheusProviderOptions } from './createPrometheusProvider';
export { errorRateProvider } from './errorRateProvider';
export { gateWindow } from './gateWindow';
export type { GateSample, GateWindow } from './gateWindow';
export { latencyP99Provider } from './latencyP99Provider';
