// Observability of cutover: rollout notifications (the `notify` option and a webhook notifier), and the
// OpenTelemetry metrics table.
export { NOTIFICATION_TYPES, NotificationEvent, Notifier } from './notifications';
export type { AnalysisNote, Notify, ViewFacts } from './notifications';
export { createWebhookNotifier } from './webhookNotifier';
export type { WebhookNotifier, WebhookNotifierOptions, WebhookNotifierStats } from './webhookNotifier';
export { METRICS, TELEMETRY_SCOPE } from './telemetry';
