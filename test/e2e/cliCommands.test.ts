// The app commands of the CLI against a real lattice: a nats-server (JetStream), a docker-registry, one
// `cutover orchestrator` and two `cutover host` processes, driven by `cutover deploy|list|get|status|set
// image|delete` as real processes. Tags deployed through the CLI end up pinned to their digest.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiClient, InventoryReply, type Transport, createApiClient, decode, encode, subjects } from 'cutover';
import { createNatsTransport } from 'cutover/adapters/nats';
import { fixtureModule, sha256Digest } from 'cutover/adapters/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from '../helpers/natsServer';
import { type TestRegistry, push, startRegistry } from '../helpers/registry';
import { type CliProcess, killAll, runCli, startCli } from './cliProcess';

const LATTICE = 'clicmd';
const APP = 'shop';
/** Single-host batches, held after the first until a person promotes: a rollout that waits for the test. */
const HELD = '{"type":"rolling","maxParallel":1,"maxUnavailable":1,"pauseAfterBatch":{}}';
const BYTES = { '1.0.0': 'v1', '2.0.0': 'v2', '3.0.0': 'v3', '4.0.0': 'v1' } as const;

describe('cutover app commands on a real lattice', () => {
  let server: NatsServerHandle;
  let registry: TestRegistry;
  let dir: string;
  let orchestrator: CliProcess;
  let transport: Transport;
  let api: ApiClient;
  let natsArgs: string[];
  let held: string;
  const image = (version: keyof typeof BYTES) => `${registry.host}/acme/api:${version}`;
  const digestOf = (version: keyof typeof BYTES) => sha256Digest(fixtureModule(BYTES[version]));
  const cli = (args: string[]) => runCli([...args, ...natsArgs]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cutover-cli-'));
    [server, registry] = await Promise.all([startNatsServer(), startRegistry()]);
    natsArgs = ['--nats', server.url, '--lattice', LATTICE];
    for (const [tag, module] of Object.entries(BYTES)) await push(registry, 'acme/api', tag, fixtureModule(module));
    held = join(dir, 'held.json');
    await writeFile(held, HELD);
    orchestrator = startCli('orchestrator', [
      'orchestrator',
      ...natsArgs,
      '--heartbeat-ms',
      '200',
      '--lease-ttl-ms',
      '3000',
      '--holder',
      'o1',
    ]);
    const hosts = ['h1', 'h2'].map((id) => startCli(id, ['host', ...natsArgs, '--id', id, '--heartbeat-ms', '500']));
    await Promise.all([
      orchestrator.waitFor(/^orchestrator ready/),
      ...hosts.map((h) => h.waitFor(new RegExp(`^host ${h.name} ready`))),
    ]);
    const nc = await server.connect({ maxReconnectAttempts: -1, reconnectTimeWait: 250 });
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

  it('deploys with --wait, following the rollout to completed (exit 0), with the tag pinned to its digest', async () => {
    const manifest = join(dir, 'shop.yaml');
    await writeFile(
      manifest,
      [
        'apiVersion: core.oam.dev/v1beta1',
        'kind: Application',
        `metadata: { name: ${APP}, annotations: { version: 1.0.0 } }`,
        'spec:',
        '  components:',
        '    - name: api',
        '      type: component',
        `      properties: { image: "${image('1.0.0')}" }`,
        '      traits:',
        '        - { type: spreadscaler, properties: { instances: 2 } }',
        '',
      ].join('\n'),
    );
    const run = await cli(['deploy', manifest, '--wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^rollout \S+ completed$/m);
    expect(run.stdout).toMatch(/^app shop {2}deployed/m);
    const stored = await api.revision(APP);
    const spec = stored.components[0]?.spec;
    expect(spec?.imageRef).toBe(image('1.0.0'));
    expect(spec?.digest).toBe(digestOf('1.0.0'));
    expect(`${spec?.imageRef}@${spec?.digest}`).toMatch(/:1\.0\.0@sha256:[0-9a-f]{64}$/);
    expect(orchestrator.output()).not.toContain('cannot pin');
  }, 90_000);

  it('lists the apps with their phase and versions, as text and JSON', async () => {
    const [text, json] = await Promise.all([cli(['list']), cli(['list', '--json'])]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^APP\s+PHASE\s+STABLE\s+TARGET/);
    expect(text.stdout).toMatch(/^shop\s+deployed\s+1\.0\.0\s+1\.0\.0\s/m);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ app: APP, phase: 'deployed', stableVersion: '1.0.0' }),
    ]);
  }, 60_000);

  it('exits 0 for the status of a deployed app and 1 for an unknown one', async () => {
    const [known, unknown, get] = await Promise.all([
      cli(['status', APP]),
      cli(['status', 'nosuchapp']),
      cli(['get', APP]),
    ]);
    expect(known.code, known.stderr).toBe(0);
    expect(known.stdout).toMatch(/^ {2}h1 {2}shop-api {2}1\.0\.0 {2}running verified$/m);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('app nosuchapp: unknown');
    expect(get.code).toBe(0);
    expect(get.stdout).toBe(known.stdout);
  }, 60_000);

  it('takes its connection from CUTOVER_NATS_URL, CUTOVER_LATTICE and CUTOVER_NATS_CREDS', async () => {
    const [fromEnv, wrongUrl, flagWins, missingCreds] = await Promise.all([
      runCli(['status', APP], 60_000, { env: { CUTOVER_NATS_URL: server.url, CUTOVER_LATTICE: LATTICE } }),
      runCli(['status', APP], 60_000, { env: { CUTOVER_NATS_URL: 'nats://127.0.0.1:1', CUTOVER_LATTICE: LATTICE } }),
      runCli(['status', APP, '--nats', server.url], 60_000, {
        env: { CUTOVER_NATS_URL: 'nats://127.0.0.1:1', CUTOVER_LATTICE: LATTICE },
      }),
      runCli(['status', APP], 60_000, { env: { CUTOVER_NATS_CREDS: join(dir, 'absent.creds') } }),
    ]);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toMatch(/^app shop {2}deployed/);
    expect(wrongUrl.code).toBe(1);
    expect(wrongUrl.stderr).toMatch(/^cutover: transport\.closed: cannot connect to "nats:\/\/127\.0\.0\.1:1"/);
    expect(flagWins.code, flagWins.stderr).toBe(0);
    expect(missingCreds.code).toBe(2);
    expect(missingCreds.stderr).toMatch(/cannot read --creds ".*absent\.creds"/);
  }, 60_000);

  it('sets one image: a new revision from stable, rolled out, every other field kept', async () => {
    const before = await api.revision(APP);
    const run = await cli(['set', 'image', APP, 'api', image('2.0.0'), '--version', '2.0.0', '--wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^rollout \S+ completed$/m);
    const after = await api.revision(APP);
    expect(after.version).toBe('2.0.0');
    expect(after.components[0]?.spec.imageRef).toBe(image('2.0.0'));
    expect(after.components[0]?.spec.digest).toBe(digestOf('2.0.0'));
    expect(after.components[0]?.scale).toEqual(before.components[0]?.scale);
    expect((await api.status(APP)).stableVersion).toBe('2.0.0');
    const unknown = await cli(['set', 'image', APP, 'nope', image('3.0.0')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^cutover: spec\.invalid: "shop" has no component "nope" \(components: api\)/);
  }, 90_000);

  it('re-attaches to a running rollout with get --watch: Ctrl-C exits 130, a second watch ends with exit 0', async () => {
    const start = await cli(['set', 'image', APP, 'api', image('3.0.0'), '--version', '3.0.0', '--strategy', held]);
    expect(start.code, start.stderr).toBe(0);
    const first = startCli('watch-1', ['get', APP, '--watch', ...natsArgs]);
    await first.waitFor(/rollout \S+ shop 3\.0\.0: .*paused \(step\)/, 60_000);
    const interrupted = await first.kill('SIGINT');
    expect(interrupted.code, first.output()).toBe(130);
    expect(first.output()).toContain(`follow it again with: cutover get ${APP} --watch`);
    const second = startCli('watch-2', ['get', APP, '--watch', ...natsArgs]);
    await second.waitFor(/rollout \S+ shop 3\.0\.0: .*paused \(step\)/, 60_000);
    expect((await cli(['promote', APP, '--full'])).code).toBe(0);
    const ended = await second.exited;
    expect(ended.code, second.output()).toBe(0);
    expect(second.output()).toMatch(/^rollout \S+ completed$/m);
    expect(second.output()).toMatch(/^app shop {2}deployed {2}stable 3\.0\.0/m);
  }, 120_000);

  it('gives up waiting at --timeout with exit 1 while the rollout goes on, and refuses to delete the app meanwhile', async () => {
    const run = await cli([
      'set',
      'image',
      APP,
      'api',
      image('4.0.0'),
      '--version',
      '4.0.0',
      '--strategy',
      held,
      '--wait',
      '--timeout',
      '2s',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/gave up waiting for rollout \S+ after 2s; it goes on/);
    const refused = await cli(['delete', APP]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^cutover: rollout\.invalidCommand: .*in progress/);
    expect((await cli(['promote', APP, '--full'])).code).toBe(0);
    const watch = await cli(['get', APP, '--watch']);
    expect(watch.code, watch.stderr).toBe(0);
    expect((await api.status(APP)).stableVersion).toBe('4.0.0');
  }, 120_000);

  it('deletes an app: undeployed from every host and forgotten', async () => {
    const deleted = await cli(['delete', APP]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/^deleted shop \(\d+ workload deletes sent, \d+ records removed\)$/m);
    const [list, status] = await Promise.all([cli(['list']), cli(['status', APP])]);
    expect(list.stdout).toBe(`no apps on lattice "${LATTICE}"\n`);
    expect(status.code).toBe(1);
    for (const hostId of ['h1', 'h2']) {
      const reply = decode(
        await transport.request(subjects.inventory(LATTICE, hostId), encode({ type: 'host.inventory', version: 1 }), {
          timeoutMs: 5_000,
        }),
        InventoryReply,
      );
      expect(
        reply.inventory.components.filter((c) => c.app === APP),
        hostId,
      ).toEqual([]);
    }
    const again = await cli(['delete', APP]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^cutover: rollout\.notFound: app "shop" is not deployed/);
  }, 120_000);

  it('refuses a provider image it does not know, unless --provider-standin maps it, and then says so in its inventory', async () => {
    const manifest = join(dir, 'vault.yaml');
    await writeFile(
      manifest,
      [
        'apiVersion: core.oam.dev/v1beta1',
        'kind: Application',
        'metadata: { name: vault, annotations: { version: 1.0.0 } }',
        'spec:',
        '  components:',
        '    - name: secrets',
        '      type: capability',
        '      properties: { image: "ghcr.io/example/vault-provider:1.0.0" }',
        '      traits:',
        '        - { type: spreadscaler, properties: { instances: 1 } }',
        '',
      ].join('\n'),
    );
    const refused = await cli(['deploy', manifest, '--wait']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      /^rollout \S+ (failed|rolledBack): .*no provider for image "ghcr\.io\/example\/vault-provider:1\.0\.0"/m,
    );
    const standin = startCli('h3', [
      'host',
      ...natsArgs,
      '--id',
      'h3',
      '--provider-standin',
      'ghcr.io/example/vault-provider',
    ]);
    await standin.waitFor(/^host h3 ready \(in-memory stand-in for providers ghcr\.io\/example\/vault-provider\)/);
    const inventory = async (hostId: string) =>
      decode(
        await transport.request(subjects.inventory(LATTICE, hostId), encode({ type: 'host.inventory', version: 1 }), {
          timeoutMs: 5_000,
        }),
        InventoryReply,
      ).inventory;
    expect((await inventory('h3')).labels['cutover/provider-standins']).toBe('ghcr.io/example/vault-provider');
    expect((await inventory('h1')).labels['cutover/provider-standins']).toBeUndefined();
  }, 120_000);
});
