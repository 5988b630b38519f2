// The telemetry flags of the long-running commands (`orchestrator`, `host`, `demo`): `--metrics HOST:PORT`
// serves /metrics through the OpenTelemetry Prometheus exporter (loaded only then), and `--notify-webhook URL`
// (orchestrator and demo) POSTs every rollout notification to a URL.
import type { OptionTable } from '../args';
import { CutoverError } from '../../errors';
import { createWebhookNotifier, type WebhookNotifier } from '../../observability/webhookNotifier';
import { type MetricsEndpoint, serveMetrics } from './metrics';

/** `--metrics HOST:PORT`. */
export const METRICS_OPTIONS = {
  metrics: {
    type: 'string',
    value: 'HOST:PORT',
    help: 'serve Prometheus metrics (OpenTelemetry) on http://HOST:PORT/metrics',
    env: 'CUTOVER_METRICS',
  },
} as const satisfies OptionTable;

/** `--notify-webhook URL`. */
export const NOTIFY_OPTIONS = {
  'notify-webhook': {
    type: 'string',
    value: 'URL',
    help: 'POST every rollout phase change, pause, analysis verdict and outcome as JSON to URL',
    env: 'CUTOVER_NOTIFY_WEBHOOK',
  },
} as const satisfies OptionTable;

/** What the telemetry flags started; `close` ends them (after the orchestrator or host closed). */
export interface CliTelemetry {
  metrics: MetricsEndpoint | undefined;
  notify: WebhookNotifier | undefined;
  close(): Promise<void>;
}

/**
 * Starts what `--metrics` and `--notify-webhook` ask for. Call it before creating hosts or orchestrators, so
 * their instruments are made on the SDK's meter provider.
 * @example
 * const telemetry = await startCliTelemetry({ metrics: values.metrics, notifyWebhook: values['notify-webhook'] });
 */
export async function startCliTelemetry(flags: {
  metrics?: string | undefined;
  notifyWebhook?: string | undefined;
}): Promise<CliTelemetry> {
  let notify: WebhookNotifier | undefined;
  if (flags.notifyWebhook !== undefined) {
    let url: URL;
    try {
      url = new URL(flags.notifyWebhook);
    } catch (e) {
      throw new CutoverError('config.invalid', `--notify-webhook: "${flags.notifyWebhook}" is not a url`, { cause: e });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CutoverError('config.invalid', `--notify-webhook: "${flags.notifyWebhook}" is not an http(s) url`);
    }
    notify = createWebhookNotifier({ url: url.href });
  }
  const metrics = flags.metrics === undefined ? undefined : await serveMetrics(flags.metrics);
  return {
    metrics,
    notify,
    async close() {
      if (notify !== undefined) {
        // Give queued notifications a moment to leave, then stop.
        await Promise.race([notify.flush(), new Promise((r) => setTimeout(r, 2_000).unref())]);
        notify.close();
      }
      await metrics?.close();
    },
  };
}
