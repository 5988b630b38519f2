// Logs of the long-running commands: JSON lines with time, level, component, host or rollout when
// `--log-format json`, the lines people read otherwise; and `--metrics` on real CLI processes (a host and an
// orchestrator on a real nats-server) serving /metrics for a real Prometheus.
import type { NotificationEvent } from 'cutover';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, logFormatOf, logNotifications } from '../../src/cli/telemetry/log';
import { type CliProcess, killAll, startCli } from '../e2e/cliProcess';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { freePort, type PrometheusServerHandle, startPrometheus } from '../helpers/prometheusServer';

function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    sinks: { out: { write: (t: string) => out.push(t) }, err: { write: (t: string) => err.push(t) } },
  };
}

describe('logger', () => {
  it('writes one JSON object a line with an ISO time, the level, its fields and the message', () => {
    const s = sinks();
    const log = createLogger('json', { component: 'host', host: 'h1' }, s.sinks, () => Date.UTC(2026, 0, 2, 3, 4, 5));
    log.info('host h1 ready');
    log.child({ app: 'shop' }).warn('slow', { rollout: 'r1', skipped: undefined });
    expect(s.out.map((l) => JSON.parse(l))).toEqual([
      { time: '2026-01-02T03:04:05.000Z', level: 'info', component: 'host', host: 'h1', msg: 'host h1 ready' },
      {
        time: '2026-01-02T03:04:05.000Z',
        level: 'warn',
        component: 'host',
        host: 'h1',
        app: 'shop',
        rollout: 'r1',
        msg: 'slow',
      },
    ]);
    expect(s.out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('writes the bare lines people read when pretty, warnings on stderr', () => {
    const s = sinks();
    const log = createLogger('pretty', { component: 'orchestrator' }, s.sinks);
    log.info('orchestrator ready (lattice default, 0 problems)');
    log.warn('cutover orchestrator: cannot pin');
    expect(s.out).toEqual(['orchestrator ready (lattice default, 0 problems)\n']);
    expect(s.err).toEqual(['cutover orchestrator: cannot pin\n']);
  });

  it('refuses a format other than pretty or json with config.invalid', () => {
    expect(logFormatOf(undefined)).toBe('pretty');
    expect(logFormatOf('json')).toBe('json');
    expect(() => logFormatOf('xml')).toThrow(expect.objectContaining({ code: 'config.invalid' }));
  });

  it('logs rollout notifications with the app and rollout id as fields', () => {
    const s = sinks();
    const event: NotificationEvent = {
      schema: 1,
      seq: 3,
      at: 0,
      lattice: 'default',
      orchestrator: 'o1',
      rolloutId: 'r1',
      app: 'shop',
      targetVersion: '2',
      stableVersion: '1',
      type: 'rollout.phase',
      from: 'progressing.applying',
      to: 'progressing.verifying',
      batch: 1,
      batches: 3,
    };
    logNotifications(createLogger('json', { component: 'orchestrator' }, s.sinks, () => 0))(event);
    expect(JSON.parse(s.out[0] ?? '{}')).toMatchObject({
      level: 'info',
      event: 'rollout.phase',
      app: 'shop',
      rollout: 'r1',
      from: 'progressing.applying',
      to: 'progressing.verifying',
      msg: 'rollout r1 shop: progressing.applying → progressing.verifying',
    });
  });
});

describe('cutover host and orchestrator with --log-format json and --metrics (real processes, NATS, Prometheus)', () => {
  let nats: NatsServerHandle;
  let prom: PrometheusServerHandle;
  let host: CliProcess;
  let orchestrator: CliProcess;
  let hostMetrics = '';
  let orchestratorMetrics = '';

  beforeAll(async () => {
    nats = await startNatsServer();
    hostMetrics = `127.0.0.1:${await freePort()}`;
    orchestratorMetrics = `127.0.0.1:${await freePort()}`;
    const common = ['--nats', nats.url, '--log-format', 'json'];
    host = startCli('host', ['host', '--id', 'h1', '--metrics', hostMetrics, ...common]);
    orchestrator = startCli('orchestrator', ['orchestrator', '--metrics', orchestratorMetrics, ...common]);
    await host.waitFor(/"msg":"host h1 ready"/, 60_000);
    await orchestrator.waitFor(/"msg":"orchestrator ready/, 60_000);
    prom = await startPrometheus({ targets: [hostMetrics, orchestratorMetrics] });
  });

  afterAll(async () => {
    await killAll();
    await prom?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('writes JSON lines with a timestamp, level, component and host', () => {
    const lines = host
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const ready = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'host h1 ready');
    expect(ready).toMatchObject({ level: 'info', component: 'host', host: 'h1', lattice: 'default' });
    expect(String(ready?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(orchestrator.output()).toMatch(/"level":"info","component":"orchestrator"/);
  });

  it('serves /metrics that a real Prometheus scrapes from both processes', async () => {
    const up = await prom.waitFor('up{job="cutover"}', (s) => s.length === 2 && s.every((x) => x.value === 1));
    console.log(`prometheus scraped: ${up.map((s) => s.metric.instance).join(', ')}`);
    const info = await prom.waitFor('target_info', (s) => s.length === 2);
    expect(info.every((s) => s.metric.telemetry_sdk_name === 'opentelemetry')).toBe(true);
  });
});
