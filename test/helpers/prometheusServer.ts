import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The command that installs the server binary the Prometheus tests need. */
export const PROMETHEUS_INSTALL_HINT = 'apt-get update && apt-get install -y prometheus';

export interface PrometheusServerOptions {
  /** `host:port` addresses Prometheus scrapes `/metrics` from, every second. */
  targets: readonly string[];
  /** How long to wait for `/-/ready` (default 20 s). */
  startTimeoutMs?: number;
  /** Path of the server binary (default: `prometheus` on PATH or /usr/bin/prometheus). */
  binary?: string;
}

/** One sample of an instant query, as numbers. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** A running Prometheus on a random loopback port; `await using` kills it and removes its files. */
export interface PrometheusServerHandle extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: the `address` of a prometheus analysis. */
  readonly url: string;
  /** Temp directory holding the config and the TSDB. */
  readonly dir: string;
  readonly running: boolean;
  /** The last 8 kB the server wrote. */
  readonly output: string;
  /** Runs an instant query; rejects on an error answer. A vector comes back as its samples, a scalar as one. */
  query(promql: string): Promise<PromSample[]>;
  /** Polls `query` until `pred` holds on its samples (real time; default 20 s), returning them. */
  waitFor(promql: string, pred: (samples: PromSample[]) => boolean, timeoutMs?: number): Promise<PromSample[]>;
  /** Kills the process (SIGKILL by default) and waits for it to exit; the TSDB is kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The config text: every target scraped each second. */
export function prometheusConfig(targets: readonly string[]): string {
  return [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: cutover',
    '    scrape_interval: 1s',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

/**
 * Starts a real Prometheus for one test file with a generated config (scrape interval 1 s) and its TSDB in
 * a temp dir; fails (never skips) when the binary is missing.
 * @example
 * await using prom = await startPrometheus({ targets: [`127.0.0.1:${exporterPort}`] });
 * await prom.waitFor('up', (s) => s.length > 0);
 */
export async function startPrometheus(options: PrometheusServerOptions): Promise<PrometheusServerHandle> {
  const binary = findPrometheus(options.binary);
  const dir = await mkdtemp(join(tmpdir(), 'cutover-prometheus-'));
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  await writeFile(join(dir, 'prometheus.yml'), prometheusConfig(options.targets));
  let proc: ChildProcess | undefined;
  let output = '';
  let running = false;
  let exited: Promise<void> = Promise.resolve();
  let url = '';
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (running) proc?.kill(signal);
    await exited;
  };
  const reap = () => {
    if (running) proc?.kill('SIGKILL');
  };
  process.once('exit', reap);
  try {
    // A free port can be taken between probing and binding: try again on another one.
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      output = '';
      proc = spawn(
        binary,
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running = true;
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-8_000);
      };
      proc.stdout?.on('data', keep);
      proc.stderr?.on('data', keep);
      const child = proc;
      exited = new Promise<void>((resolve) => {
        child.once('exit', () => {
          running = false;
          resolve();
        });
        child.once('error', (err) => {
          running = false;
          output += `\n${err.message}`;
          resolve();
        });
      });
      if (await ready(url, () => running, timeoutMs)) break;
      await kill();
      if (attempt >= 2 || !/address already in use/.test(output)) {
        throw new Error(`prometheus did not become ready within ${timeoutMs} ms:\n${output}`);
      }
    }
  } catch (err) {
    process.off('exit', reap);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const query = async (promql: string): Promise<PromSample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${promql}: ${body.error}`);
    if (body.data.resultType === 'scalar') {
      const [, v] = body.data.result as [number, string];
      return [{ metric: {}, value: Number(v) }];
    }
    const vector = body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    return vector.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  };

  return {
    url,
    dir,
    get running() {
      return running;
    },
    get output() {
      return output;
    },
    query,
    async waitFor(promql, pred, waitMs = 20_000) {
      const deadline = Date.now() + waitMs;
      let last: PromSample[] = [];
      while (Date.now() < deadline) {
        last = await query(promql);
        if (pred(last)) return last;
        await sleep(250);
      }
      throw new Error(`${promql} never held within ${waitMs} ms; last: ${JSON.stringify(last)}`);
    },
    kill,
    async [Symbol.asyncDispose]() {
      process.off('exit', reap);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The prometheus binary, or an error naming how to install it (tests fail rather than skip without it). */
export function findPrometheus(explicit: string | undefined): string {
  if (explicit !== undefined) {
    if (existsSync(explicit)) return explicit;
    throw new Error(`prometheus not found at "${explicit}"; install it with: ${PROMETHEUS_INSTALL_HINT}`);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) {
    if (d.length === 0) continue;
    const candidate = join(d, 'prometheus');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`prometheus is not installed; install it with: ${PROMETHEUS_INSTALL_HINT}`);
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : -1;
      server.close(() => resolve(port));
    });
  });
}

async function ready(url: string, alive: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.text();
      if (res.ok) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
