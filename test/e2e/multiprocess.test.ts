// Over 400 lines on purpose: every test shares one nats-server, registry and set of processes (started once per
// file, as they take seconds each), so splitting the file would start them again.
// The lattice across processes: a real nats-server (JetStream) and docker-registry, one `cutover
// orchestrator` and three `cutover host` processes, driven by the `cutover` CLI and the API client.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type ApiClient,
  type AppStatus,
  CutoverError,
  ErrorReply,
  InventoryReply,
  type Transport,
  createApiClient,
  decode,
  encode,
  invokeRemote,
  parseManifest,
  subjects,
} from 'cutover';
import { createNatsTransport } from 'cutover/adapters/nats';
import { fixtureModule } from 'cutover/adapters/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpus } from '../fixtures/orchestrator';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { type TestRegistry, push, startRegistry } from '../helpers/registry';
import { type CliProcess, killAll, runCli, startCli } from './cliProcess';

const LATTICE = 'e2e';
const APP = 'updateapp';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OUTDATED = corpus('wadm__tests__fixtures__manifests__outdatedapp.yaml');
const UPGRADED = corpus('wadm__tests__fixtures__manifests__upgradedapp.yaml');
const DOG = parseManifest(UPGRADED).revision.components.find((c) => c.name === 'dog-fetcher')?.spec.id ?? 'missing';
/** Pauses between single-host batches: long enough to act mid-rollout, short enough to stay fast. */
const PACED = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: { durationMs: 1500 } } as const;

/** upgradedapp with another dog-fetcher tag (and optional extra YAML for dog-fetcher's traits and the components). */
function upgradedWith(dogTag: string, extra: { dogTraits?: string; components?: string } = {}): string {
  let text = UPGRADED.replace('dog-fetcher-rust:0.1.1', `dog-fetcher-rust:${dogTag}`);
  if (extra.dogTraits !== undefined)
    text = text.replace('            instances: 5\n', `            instances: 5\n${extra.dogTraits}`);
  if (extra.components !== undefined) text = `${text.trimEnd()}\n${extra.components}`;
  return text;
}

describe('multi-process lattice', () => {
  let server: NatsServerHandle;
  let registry: TestRegistry;
  let dir: string;
  let orchestrator: CliProcess;
  const hosts = new Map<string, CliProcess>();
  let nc: NatsConnection;
  let transport: Transport;
  let api: ApiClient;
  let natsArgs: string[];

  const hostArgs = (id: string, extra: string[] = []) => [
    'host',
    ...natsArgs,
    '--id',
    id,
    '--labels',
    `zone=${id}`,
    '--registry-mirror',
    `ghcr.io=${registry.host}`,
    '--bind-map',
    '0.0.0.0:8080=127.0.0.1:0',
    '--bind-map',
    '0.0.0.0:8081=127.0.0.1:0',
    '--bind-map',
    '0.0.0.0:8082=127.0.0.1:0',
    '--heartbeat-ms',
    '500',
    // The manifests name capability providers (keyvalue-redis, vault) no host here runs: map them to the
    // in-memory stand-in on purpose, as an operator must (hosts refuse unknown provider images otherwise).
    '--provider-standin',
    '*',
    ...extra,
  ];
  const startHost = async (id: string, extra: string[] = []) => {
    const proc = startCli(id, hostArgs(id, extra));
    hosts.set(id, proc);
    await proc.waitFor(new RegExp(`^host ${id} ready`));
    return proc;
  };
  const orchestratorArgs = () => [
    'orchestrator',
    ...natsArgs,
    '--heartbeat-ms',
    '200',
    '--lease-ttl-ms',
    '3000',
    '--request-timeout-ms',
    '2000',
    '--holder',
    'orch-1',
  ];
  const startOrchestrator = async () => {
    orchestrator = startCli('orchestrator', orchestratorArgs());
    await orchestrator.waitFor(/^orchestrator ready/);
  };
  const manifestFile = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const cli = (args: string[]) => runCli([...args, ...natsArgs]);
  const status = (): Promise<AppStatus> => api.status(APP);
  /** What each host serves for dog-fetcher, by host. */
  const dogHashes = async () =>
    Object.fromEntries(
      (await status()).hosts.map((h) => [h.hostId, h.workloads.find((w) => w.id === DOG)?.servingHash ?? null]),
    );

  /** Four clients invoking dog-fetcher back to back until stopped: answered, refused (by code) and lost. */
  const invocations = () => {
    const tally = { ok: 0, lost: 0, refused: [] as string[], replies: new Set<string>(), lostSentAt: [] as number[] };
    let running = true;
    const worker = async (n: number) => {
      for (let i = 0; running; i++) {
        const sentAt = Date.now();
        try {
          const reply = await invokeRemote(
            transport,
            LATTICE,
            DOG,
            'handle',
            new TextEncoder().encode(`${n}.${i}`),
            10_000,
          );
          tally.ok++;
          tally.replies.add(new TextDecoder().decode(reply).slice(0, 3));
        } catch (error) {
          if (error instanceof CutoverError && error.code === 'transport.timeout') {
            tally.lost++;
            tally.lostSentAt.push(sentAt);
          } else tally.refused.push(error instanceof CutoverError ? error.code : String(error));
        }
      }
    };
    const all = Promise.all([0, 1, 2, 3].map(worker));
    return {
      tally,
      stop: async () => {
        running = false;
        await all;
        return tally;
      },
    };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cutover-e2e-'));
    [server, registry] = await Promise.all([startNatsServer(), startRegistry()]);
    natsArgs = ['--nats', server.url, '--lattice', LATTICE];
    const images: Array<[string, string, 'v1' | 'v2' | 'v3']> = [
      ['wasmcloud/components/dog-fetcher-rust', '0.1.0', 'v1'],
      ['wasmcloud/components/dog-fetcher-rust', '0.1.1', 'v2'],
      ['wasmcloud/components/dog-fetcher-rust', '0.1.2', 'v3'],
      ['wasmcloud/components/dog-fetcher-rust', '0.1.3', 'v1'],
      ['wasmcloud/components/dog-fetcher-rust', '0.1.4', 'v3'],
      ['wasmcloud/components/dog-fetcher-rust', '0.1.5', 'v2'],
      ['wasmcloud/components/http-hello-world-rust', '0.1.0', 'v1'],
      ['wasmcloud/components/http-keyvalue-counter-rust', '0.1.0', 'v1'],
      ['wasmcloud/components/echo-messaging-rust', '0.1.0', 'v3'],
    ];
    for (const [repo, tag, module] of images) await push(registry, repo, tag, fixtureModule(module));
    await Promise.all([
      startOrchestrator(),
      startHost('h1'),
      startHost('h2'),
      startHost('h3', ['--refuse-link', 'secrets']),
    ]);
    nc = await server.connect({ maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    transport = createNatsTransport(nc);
    api = createApiClient(transport, { lattice: LATTICE, timeoutMs: 10_000 });
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await killAll();
    await server?.[Symbol.asyncDispose]();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('deploys outdatedapp with `cutover deploy --wait` and every host serves it', async () => {
    const run = await cli(['deploy', await manifestFile('outdated.yaml', OUTDATED), '--wait']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/rollout \S+ completed/);
    expect(run.code).toBe(0);
    const now = await status();
    expect(now.phase).toBe('deployed');
    expect(now.hosts.map((h) => h.hostId).sort()).toEqual([...HOSTS]);
    expect(now.hosts.flatMap((h) => h.workloads.map((w) => w.on))).not.toContain('other');
    const reply = await invokeRemote(transport, LATTICE, DOG, 'handle', new TextEncoder().encode('woof'), 5_000);
    expect(new TextDecoder().decode(reply)).toBe('v1:woof');
  });

  it('rolls out upgradedapp while a client invokes, and loses nothing', async () => {
    const load = invocations();
    const strategy = await manifestFile(
      'paced.yaml',
      JSON.stringify({ type: 'rolling', maxParallel: 1, maxUnavailable: 1 }),
    );
    const run = await cli(['deploy', await manifestFile('upgraded.yaml', UPGRADED), '--strategy', strategy, '--wait']);
    const tally = await load.stop();
    expect(run.stdout).toMatch(/progressing/);
    expect(run.stdout).toMatch(/rollout \S+ completed/);
    expect(run.code).toBe(0);
    expect(tally.lost).toBe(0);
    expect(tally.refused).toEqual([]);
    expect(tally.ok).toBeGreaterThan(0);
    expect([...tally.replies].sort()).toEqual(['v1:', 'v2:']);
    const now = await status();
    expect(now.stableVersion).toBe(parseManifest(UPGRADED).revision.version);
    expect(
      now.hosts.flatMap((h) => h.workloads.map((w) => `${w.id}:${w.on}`)).filter((w) => !w.endsWith(':stable')),
    ).toEqual([]);
    expect(now.hosts.flatMap((h) => h.workloads.map((w) => w.id))).not.toContain(`${APP}-kvcounter`);
    const history = await cli(['history', APP]);
    expect(history.code).toBe(0);
    expect(history.stdout.trim().split('\n')).toHaveLength(2);
    const shown = await cli(['status', APP]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^app ${APP} +deployed +stable `, 'm'));
  });

  it('rolls back everywhere when one host refuses a link', async () => {
    const before = await dogHashes();
    const refused = upgradedWith('0.1.2', {
      dogTraits: [
        '        - type: link',
        '          properties:',
        '            name: secrets',
        '            target:',
        '              name: vault',
        '            namespace: wasi',
        '            package: keyvalue',
        '            interfaces:',
        '              - store',
        '',
      ].join('\n'),
      components: [
        '    - name: vault',
        '      type: capability',
        '      properties:',
        '        image: ghcr.io/example/vault-provider:1.0.0',
        '',
      ].join('\n'),
    });
    const strategy = await manifestFile(
      'one.json',
      JSON.stringify({ type: 'rolling', maxParallel: 1, maxUnavailable: 1 }),
    );
    const run = await cli([
      'deploy',
      await manifestFile('refused.yaml', refused),
      '--strategy',
      strategy,
      '--wait',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const output = JSON.parse(run.stdout) as { outcome: string; reason: string };
    expect(output.outcome).toBe('rolledBack');
    expect(output.reason).toMatch(/secrets/);
    expect(output.reason).toMatch(/refused/);
    expect(run.stderr).toMatch(/rollingBack/);
    expect(await dogHashes()).toEqual(before);
    const now = await status();
    expect(now.phase).toBe('rolledBack');
    expect(
      now.hosts.flatMap((h) => h.workloads.filter((w) => w.on !== 'stable').map((w) => `${h.hostId}/${w.id}`)),
    ).toEqual([]);
    const reply = await invokeRemote(transport, LATTICE, DOG, 'handle', new TextEncoder().encode('x'), 5_000);
    expect(new TextDecoder().decode(reply)).toBe('v2:x');
  });

  it('answers a malformed message on every control subject with a coded error, and the host carries on', async () => {
    const ask = async (subject: string, body: Uint8Array) =>
      decode(await transport.request(subject, body, { timeoutMs: 5_000 }), ErrorReply);
    const garbage = new TextEncoder().encode('{"type":');
    const wrong = encode({ type: 'component.apply', version: 1, app: APP, leaseToken: 1, spec: { id: 'x' } });
    for (const hostId of HOSTS) {
      for (const subject of [
        subjects.componentApply(LATTICE, hostId),
        subjects.componentDelete(LATTICE, hostId),
        subjects.providerApply(LATTICE, hostId),
        subjects.providerDelete(LATTICE, hostId),
        subjects.inventory(LATTICE, hostId),
      ]) {
        expect((await ask(subject, garbage)).code).toBe('message.invalid');
        const reply = await ask(subject, wrong);
        expect(reply.code).toBe('message.invalid');
        expect(reply.issues?.length).toBeGreaterThan(0);
      }
      const inventory = decode(
        await transport.request(subjects.inventory(LATTICE, hostId), encode({ type: 'host.inventory', version: 1 }), {
          timeoutMs: 5_000,
        }),
        InventoryReply,
      );
      expect(inventory.inventory.components.filter((c) => c.app === APP).map((c) => c.status)).not.toContain('failed');
    }
    for (const op of ['deploy', 'status', 'pause', 'undo'])
      expect((await ask(subjects.api(LATTICE, op), garbage)).code).toBe('message.invalid');
    expect((await status()).phase).toBe('rolledBack');
    const reply = await invokeRemote(transport, LATTICE, DOG, 'handle', new TextEncoder().encode('still'), 5_000);
    expect(new TextDecoder().decode(reply)).toBe('v2:still');
  });

  it('prints status and history as JSON, refusals as `cutover: <code>: <message>`, usage errors with exit 2', async () => {
    const invalid = await manifestFile(
      'invalid.yaml',
      'apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {}\nspec: {}\n',
    );
    const history = await api.history(APP);
    const [statusJson, historyJson, pause, deploy, usage, unreachable] = await Promise.all([
      cli(['status', APP, '--json']),
      cli(['history', APP, '--json']),
      cli(['pause', APP]),
      cli(['deploy', invalid, '--wait']),
      runCli(['host', ...natsArgs]),
      runCli(['status', APP, '--nats', 'nats://127.0.0.1:1', '--lattice', LATTICE]),
    ]);
    // A rolled-back app answers, and exits 1 (docs/cli.md, exit codes): its last rollout did not go through.
    expect(statusJson.code).toBe(1);
    expect(JSON.parse(statusJson.stdout)).toMatchObject({ app: APP, phase: 'rolledBack', paused: false });
    expect(historyJson.code).toBe(0);
    expect(JSON.parse(historyJson.stdout)).toEqual(history);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(new RegExp(`^cutover: rollout\\.invalidCommand: .*"${APP}"`));
    expect(deploy.code).toBe(1);
    expect(deploy.stderr).toMatch(/^cutover: manifest\.invalid: /);
    expect(deploy.stderr).toMatch(/\n {2}- metadata\.name: /);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^cutover host: missing --id\nusage: cutover host/);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^cutover: transport\.closed: cannot connect to "nats:\/\/127\.0\.0\.1:1"/);
    expect(await api.history(APP)).toEqual(history);
  });

  it('resumes a rollout from KV after the orchestrator is SIGKILLed mid-rollout', async () => {
    const started = await api.deploy(upgradedWith('0.1.3'), { strategy: PACED });
    const views: string[] = [];
    const watch = api.watch(started.id, (v) => views.push(`${v.state}@${v.batch}`), { pollMs: 250 });
    await until(async () => {
      const { rollout } = await api.rollout(started.id);
      return rollout.batch >= 1 && !rollout.done;
    });
    const killed = await orchestrator.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.code).toBeNull();
    await startOrchestrator();
    const output = await watch.done;
    expect(output.outcome).toBe('completed');
    await orchestrator.waitFor(new RegExp(`^rollout ${started.id} ${APP} completed`));
    expect(Object.values(await dogHashes()).every((h) => h !== null)).toBe(true);
    expect(
      (await status()).hosts.flatMap((h) => h.workloads.filter((w) => w.on !== 'stable').map((w) => w.id)),
    ).toEqual([]);
    const reply = await invokeRemote(transport, LATTICE, DOG, 'handle', new TextEncoder().encode('k'), 5_000);
    expect(new TextDecoder().decode(reply)).toBe('v1:k');
  });

  it('lets only the lease holder drive; a second orchestrator takes over when the first dies, and fences it', {
    timeout: 60_000,
  }, async () => {
    // Pauses that wait for a person keep the rollout in flight for as long as this test needs.
    const held = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: {} } as const;
    const started = await api.deploy(upgradedWith('0.1.0'), { strategy: held });
    await until(async () => (await api.rollout(started.id)).rollout.state === 'progressing.stepPause');
    const leaseOf = async (hostId: string) =>
      decode(
        await transport.request(subjects.inventory(LATTICE, hostId), encode({ type: 'host.inventory', version: 1 }), {
          timeoutMs: 5_000,
        }),
        InventoryReply,
      ).inventory.leases[APP];
    const token = (await leaseOf('h1')) ?? 0;
    expect(token).toBeGreaterThan(0);
    const second = startCli('orchestrator-2', [...orchestratorArgs().slice(0, -1), 'orch-2']);
    try {
      await second.waitFor(/^orchestrator ready/);
      await new Promise((r) => setTimeout(r, 2_000));
      // While orch-1 lives, orch-2 leaves its rollout alone: no takeover, no new token on any host.
      expect(second.output()).not.toMatch(/taking over/);
      expect(await Promise.all(HOSTS.map(leaseOf))).toEqual([token, token, token]);
      await orchestrator.kill('SIGKILL');
      await second.waitFor(new RegExp(`^orchestrator taking over ${started.id}`));
      await until(async () => (await api.rollout(started.id)).rollout.state === 'progressing.stepPause');
      const watch = api.watch(started.id, () => undefined, { pollMs: 250 });
      await api.promote(APP, { full: true });
      const output = await watch.done;
      expect(output.outcome).toBe('completed');
      await second.waitFor(new RegExp(`^rollout ${started.id} ${APP} completed`));
      // The new holder fenced the hosts it applied to with a higher token, so the dead one's token is refused
      // there (hosts verified before the takeover are not applied again, so they still know the old token).
      const tokens = await Promise.all(HOSTS.map(leaseOf));
      expect(tokens.every((t) => t !== undefined && t >= token)).toBe(true);
      const fenced = HOSTS.find((_, i) => (tokens[i] ?? 0) > token);
      expect(fenced).toBeDefined();
      const spec = parseManifest(UPGRADED).revision.components.find((c) => c.name === 'dog-fetcher')?.spec;
      const stale = decode(
        await transport.request(
          subjects.componentApply(LATTICE, fenced ?? 'h3'),
          encode({ type: 'component.apply', version: 1, app: APP, leaseToken: token, spec }),
          { timeoutMs: 5_000 },
        ),
        ErrorReply,
      );
      expect(stale.code).toBe('lease.stale');
      const reply = await invokeRemote(transport, LATTICE, DOG, 'handle', new TextEncoder().encode('o'), 5_000);
      expect(new TextDecoder().decode(reply)).toBe('v1:o');
    } finally {
      // Back to one orchestrator (orch-1) for what follows: orch-2 releases the lease as it stops.
      await second.kill('SIGTERM');
      if (!orchestrator.running) await startOrchestrator();
    }
  });

  // A restart loses what NATS had in flight: a KV write that landed unanswered is adopted (persister.test.ts),
  // a request to a host that timed out is sent again, and a fresh orchestrator's ping waits for every host
  // (latticeClient.test.ts), so no apply goes missing and no host is left out of the plan.
  it('finishes a rollout when nats-server restarts in the middle', { timeout: 45_000, retry: 0 }, async () => {
    const started = await api.deploy(upgradedWith('0.1.4'), { strategy: PACED });
    const watch = api.watch(started.id, () => undefined, { pollMs: 250 });
    await until(async () => {
      const { rollout } = await api.rollout(started.id);
      return rollout.batch >= 1 && !rollout.done;
    });
    const pid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(pid);
    const output = await watch.done;
    expect(['completed', 'rolledBack']).toContain(output.outcome);
    const now = await status();
    expect(now.hosts.map((h) => h.hostId).sort()).toEqual([...HOSTS]);
    expect(now.hosts.flatMap((h) => h.workloads.filter((w) => w.on !== 'stable').map((w) => w.id))).toEqual([]);
  });

  // A host that stops refuses what its gates hold and whatever NATS still routes to it (host.lost), so no
  // call is lost at any moment, before or after the process is gone. A host lost before its batch is not a
  // failure (docs/rollout-semantics.md, "Lost hosts"): it uses up maxUnavailable, is named in HostLost, and the
  // rollout goes on over the hosts that are there.
  it('goes on when an untouched host process dies mid-rollout, names it in HostLost, and the others serve every call', async () => {
    const before = await dogHashes();
    const started = await api.deploy(upgradedWith('0.1.5'), { strategy: PACED });
    const watch = api.watch(started.id, () => undefined, { pollMs: 250 });
    await until(async () => {
      const { rollout } = await api.rollout(started.id);
      return rollout.batch >= 1 && !rollout.done;
    });
    const load = invocations();
    await until(async () => load.tally.ok > 20);
    // Batches of one host in id order: h3 is last, so it has not been sent anything yet.
    const h3 = hosts.get('h3');
    await h3?.kill('SIGTERM');
    expect(h3?.output()).toMatch(/host h3 stopped/);
    const output = await watch.done;
    const okBefore = load.tally.ok;
    await until(async () => load.tally.ok > okBefore + 20);
    const tally = await load.stop();
    expect(output.outcome).toBe('completed');
    const { rollout } = await api.rollout(started.id);
    const lost = rollout.conditions.find((c) => c.type === 'HostLost');
    expect(lost?.hosts).toEqual(['h3']);
    // The host closes its gates before leaving the rpc subjects: whatever reached it is refused with a code.
    expect(tally.lostSentAt).toEqual([]);
    expect(tally.refused.filter((code) => !['host.lost', 'gate.closed'].includes(code))).toEqual([]);
    const after = await dogHashes();
    expect(Object.keys(after).sort()).toEqual(['h1', 'h2']);
    expect(after.h1).not.toBe(before.h1);
    expect(after.h2).toBe(after.h1);
  });
});

/** Polls `check` until it holds (real time: these are real processes). */
async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not there yet (a restarting server or orchestrator).
    }
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 100));
  }
}
