// `--metrics HOST:PORT`: registers the OpenTelemetry metrics SDK with its Prometheus exporter as the global
// meter provider, serving /metrics. The SDK is loaded here only, by dynamic import, when the flag is given:
// the library itself depends on `@opentelemetry/api` alone.
import { type MeterProvider, metrics } from '@opentelemetry/api';
import { CutoverError } from '../../errors';

/** A running /metrics endpoint; `close` stops serving and unregisters the SDK. */
export interface MetricsEndpoint {
  /** `http://HOST:PORT/metrics`: where Prometheus scrapes. */
  readonly url: string;
  close(): Promise<void>;
}

/** The packages `--metrics` needs besides cutover's own dependencies. */
export const METRICS_PACKAGES = ['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus'] as const;

/** Reads `HOST:PORT` (`:9464` or `9464` listen on 127.0.0.1); refuses anything else with `config.invalid`. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(text.trim());
  const port = m === null ? Number.NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CutoverError('config.invalid', `--metrics: "${text}" is not HOST:PORT (e.g. 127.0.0.1:9464)`);
  }
  const host = m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

async function load<T>(name: (typeof METRICS_PACKAGES)[number]): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    throw new CutoverError(
      'config.invalid',
      `--metrics needs ${METRICS_PACKAGES.join(' and ')}; install them with: npm install ${METRICS_PACKAGES.join(' ')}`,
      { cause: e },
    );
  }
}

interface SdkMetrics {
  MeterProvider: new (options: { readers: unknown[] }) => MeterProvider & { shutdown(): Promise<void> };
}
interface ExporterPrometheus {
  PrometheusExporter: new (options: {
    host?: string;
    port?: number;
    endpoint?: string;
    preventServerStart?: boolean;
  }) => { startServer(): Promise<void>; stopServer(): Promise<void> };
}

/**
 * Serves /metrics on `listen` (`HOST:PORT`) through the OpenTelemetry Prometheus exporter and registers the
 * SDK globally, so every cutover instrument made from now on records. Call it before creating hosts or
 * orchestrators.
 * @example
 * const endpoint = await serveMetrics('127.0.0.1:9464'); // scrape endpoint.url
 */
export async function serveMetrics(listen: string): Promise<MetricsEndpoint> {
  const { host, port } = parseListen(listen);
  const sdk = await load<SdkMetrics>('@opentelemetry/sdk-metrics');
  const prom = await load<ExporterPrometheus>('@opentelemetry/exporter-prometheus');
  const exporter = new prom.PrometheusExporter({ host, port, endpoint: '/metrics', preventServerStart: true });
  try {
    await exporter.startServer();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CutoverError('config.invalid', `--metrics: cannot listen on ${host}:${port}: ${why}`, { cause: e });
  }
  const provider = new sdk.MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/metrics`,
    async close() {
      metrics.disable();
      await provider.shutdown().catch(() => undefined);
      await exporter.stopServer().catch(() => undefined);
    },
  };
}
