// A lattice on one real nats-server (JetStream) whose server is stopped for a while in the middle of a rollout:
// three hosts, an orchestrator and a client under load, each on its own connection that reconnects forever.
// `outageDuring` runs one rollout, kills nats-server at the chosen moment (forward apply or rollback), brings it
// back after `outageMs` and reports what happened; the test files assert on it.
import {
  CutoverError,
  type Host,
  type Orchestrator,
  type RolloutHandle,
  type RolloutOutput,
  type Transport,
  createHost,
  createOrchestrator,
  invokeRemote,
  specHash,
} from 'cutover';
import { type MemoryRuntime, createMemoryRuntime } from 'cutover/adapters/memory';
import { createNatsStore, createNatsTransport } from 'cutover/adapters/nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revision } from '../fixtures/orchestrator';
import { type NatsServerHandle, sleep, startNatsServer } from '../helpers/natsServer';

export const LATTICE = 'outage';
const PACED = { type: 'rolling', maxParallel: 1, maxUnavailable: 1, pauseAfterBatch: { durationMs: 500 } } as const;
const RECONNECT = { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 } as const;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** What one outage run saw. */
export interface OutageReport {
  outcome: RolloutOutput;
  outageMs: number;
  /** From nats-server being back to the rollout's outcome (ms). */
  continuedAfterMs: number;
  /** Client calls: answered, and refused or timed out while the server was away (never accepted by a host). */
  calls: { answered: number; failed: number };
  /** Host gates: calls accepted and answered; accepted − answered is what was lost. */
  gate: { accepted: number; answered: number };
  serving: Array<string | undefined>;
  /** `TransportUnavailable` / `StoreUnavailable` conditions the rollout's view carried during the outage. */
  conditions: string[];
}

/** The outage lattice: one server, three hosts (h3 cannot validate "bad" versions), an orchestrator, a client. */
export interface OutageRig extends AsyncDisposable {
  server: NatsServerHandle;
  orchestrator: Orchestrator;
  hosts: Host[];
  /** Deploys `version` (completing), for the state a scenario starts from. */
  install(version: string): Promise<void>;
  outageDuring(when: 'apply' | 'rollback', version: string, outageMs: number): Promise<OutageReport>;
  hashOf(version: string): string;
}

const app = (v: string) => revision({ app: 'shop', version: v, components: [{ id: 'api', image: `mem://api:${v}` }] });

function runtimeFor(hostId: string): MemoryRuntime {
  const runtime = createMemoryRuntime();
  for (const v of ['1', '2', '3', '4', 'bad1', 'bad2']) {
    runtime.publish(`mem://api:${v}`, {
      version: v,
      operations: { handle: (p) => enc.encode(`v${v}:${dec.decode(p)}`) },
      // A broken version fails on the last host only, so the rollback has hosts to put back.
      ...(v.startsWith('bad') && hostId === 'h3' ? { validateError: 'bad magic number' } : {}),
    });
  }
  return runtime;
}

/** Starts the rig; `await using` stops everything. */
export async function startOutageRig(): Promise<OutageRig> {
  const server = await startNatsServer();
  const hosts: Host[] = [];
  for (const hostId of ['h1', 'h2', 'h3']) {
    const nc = await server.connect({ name: `host ${hostId}`, ...RECONNECT });
    hosts.push(
      await createHost({
        hostId,
        lattice: LATTICE,
        transport: createNatsTransport(nc),
        runtime: runtimeFor(hostId),
        heartbeatMs: 500,
      }),
    );
  }
  const onc = await server.connect({ name: 'orchestrator', ...RECONNECT });
  const orchestrator = await createOrchestrator({
    lattice: LATTICE,
    transport: createNatsTransport(onc),
    store: createNatsStore(onc, { lattice: LATTICE, timeoutMs: 2_000 }),
    holder: 'o1',
    heartbeatMs: 200,
    leaseTtlMs: 6_000,
    requestTimeoutMs: 2_000,
    scalers: false,
  });
  const client: Transport = createNatsTransport(await server.connect({ name: 'client', ...RECONNECT }));
  const hashOf = (v: string) => specHash({ id: 'api', app: 'shop', imageRef: `mem://api:${v}` });

  const load = () => {
    const calls = { answered: 0, failed: 0 };
    let running = true;
    const workers = [0, 1, 2].map(async (n) => {
      for (let i = 0; running; i++) {
        try {
          await invokeRemote(client, LATTICE, 'api', 'handle', enc.encode(`${n}.${i}`), 3_000);
          calls.answered++;
        } catch (e) {
          if (!(e instanceof CutoverError)) throw e;
          calls.failed++;
          await sleep(50);
        }
      }
    });
    const stop = async () => {
      running = false;
      await Promise.all(workers);
      return calls;
    };
    return { calls, stop };
  };

  const gateTotals = () => {
    let accepted = 0;
    let answered = 0;
    for (const h of hosts) {
      for (const c of h.inventory().components) {
        for (const g of Object.values(c.gate?.byHash ?? {})) {
          accepted += g.accepted;
          answered += g.answered;
        }
      }
    }
    return { accepted, answered };
  };

  const waitFor = async (what: string, pred: () => boolean, ms = 30_000) => {
    const until = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  };

  return {
    server,
    orchestrator,
    hosts,
    hashOf,
    install: async (version) => {
      const out = await (await orchestrator.deploy(app(version))).done;
      if (out.outcome !== 'completed') throw new Error(`install ${version}: ${out.outcome} ${out.reason}`);
    },
    outageDuring: async (when, version, outageMs) => {
      const calls = load();
      await sleep(300);
      const handle: RolloutHandle = await orchestrator.deploy(app(version), { strategy: PACED });
      const conditions = new Set<string>();
      const unsubscribe = handle.subscribe((v) => {
        for (const c of v.conditions as unknown[]) {
          const type = typeof c === 'string' ? c : (c as { type: string; status: boolean }).type;
          const active = typeof c === 'string' || (c as { status: boolean }).status;
          if (active && /Unavailable$/.test(type)) conditions.add(type);
        }
      });
      if (when === 'apply') await waitFor('the first batch', () => handle.snapshot().batch >= 1);
      else await waitFor('the rollback', () => handle.snapshot().state.startsWith('rollingBack'));
      await server.kill();
      await sleep(outageMs);
      await server.restart();
      const backAt = Date.now();
      const outcome = await handle.done;
      const continuedAfterMs = Date.now() - backAt;
      unsubscribe();
      await sleep(500);
      const tally = await calls.stop();
      return {
        outcome,
        outageMs,
        continuedAfterMs,
        calls: tally,
        gate: gateTotals(),
        serving: hosts.map((h) => h.inventory().components.find((c) => c.id === 'api')?.servingHash),
        conditions: [...conditions],
      };
    },
    [Symbol.asyncDispose]: async () => {
      await orchestrator.close();
      await client.close();
      for (const h of hosts) await h.stop();
      await server[Symbol.asyncDispose]();
    },
  };
}

/**
 * The outage suite of one kind: nats-server stopped for 15 s and for 45 s while a rollout to each of
 * `versions` runs; each must end `outcome` with every host serving `finalVersion(version)` exactly, no call a
 * host accepted left unanswered, and the waiting shown as a condition.
 */
export function outageSuite(
  when: 'apply' | 'rollback',
  versions: readonly [string, string],
  outcome: 'completed' | 'rolledBack',
  finalVersion: (version: string) => string,
): void {
  describe(`outage during a ${when === 'apply' ? 'rolling apply' : 'rollback'}`, () => {
    let rig: OutageRig;
    beforeAll(async () => {
      rig = await startOutageRig();
      await rig.install('1');
    });
    afterAll(async () => {
      await rig?.[Symbol.asyncDispose]();
    });

    it.each([
      [15_000, versions[0]],
      [45_000, versions[1]],
    ])(`waits out %i ms without NATS and ends ${outcome} (%s)`, { timeout: 120_000 }, async (outageMs, version) => {
      const r = await rig.outageDuring(when, version, outageMs);
      const lost = r.gate.accepted - r.gate.answered;
      const { reason } = r.outcome;
      const { calls, gate, continuedAfterMs, conditions } = r;
      console.log(
        JSON.stringify({
          scenario: when,
          outageMs,
          outcome: r.outcome.outcome,
          reason,
          continuedAfterMs,
          calls,
          gate,
          lost,
          conditions,
        }),
      );
      expect(r.outcome.outcome, reason ?? '').toBe(outcome);
      const want = rig.hashOf(finalVersion(version));
      expect(r.serving).toEqual([want, want, want]);
      expect(lost).toBe(0);
      // While it waited, the rollout said so.
      expect(r.conditions).toContain('TransportUnavailable');
      expect(r.calls.answered).toBeGreaterThan(0);
    });
  });
}
