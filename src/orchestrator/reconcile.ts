import { type CurrentPlacement, type HostInfo, type Placement, place } from '../../machines/rollout/plan';
import { isCutoverError } from '../errors';
import type { HostInventory } from '../protocol/inventory';
import type { AppRevision, ComponentSpec, ProviderSpec } from '../protocol/spec';
import { type LatticeClient, appWorkloads, isHostLost } from './latticeClient';

/** Hosts and the app's current placement from inventories. */
export function observe(
  inventories: readonly HostInventory[],
  app: string,
  opts: { markPending: boolean },
): { hosts: HostInfo[]; current: CurrentPlacement } {
  const hosts: HostInfo[] = [];
  const current: Record<string, Record<string, { kind: 'component' | 'provider'; hash?: string }>> = {};
  for (const inv of inventories) {
    const mine = appWorkloads(inv, app);
    const unavailable = mine.some(
      (c) => c.servingHash === undefined || c.status === 'failed' || c.status === 'unhealthy',
    );
    hosts.push({ hostId: inv.hostId, labels: inv.labels, ...(unavailable ? { unavailable } : {}) });
    if (mine.length === 0) continue;
    const w: Record<string, { kind: 'component' | 'provider'; hash?: string }> = {};
    for (const c of mine) {
      if (c.status === 'stopped') continue;
      // An apply of another version in flight makes the workload "not on target", so it is re-applied
      // (the host supersedes the in-flight apply at its next safe point).
      const inFlight = opts.markPending && c.pending !== undefined && c.pending.hash !== c.servingHash;
      const hash = inFlight ? `${c.servingHash ?? 'none'}+${c.pending?.hash}` : c.servingHash;
      w[c.id] = hash === undefined ? { kind: c.kind } : { kind: c.kind, hash };
    }
    current[inv.hostId] = w;
  }
  return { hosts, current };
}

export function specOf(
  revision: AppRevision,
  kind: 'component' | 'provider',
  id: string,
): ComponentSpec | ProviderSpec | undefined {
  return kind === 'component'
    ? revision.components.find((c) => c.spec.id === id)?.spec
    : revision.providers.find((p) => p.spec.id === id)?.spec;
}

export interface ReconcileResult {
  /** Nothing left to do: every host runs exactly what the placement wants. */
  clean: boolean;
  failed: { hostId: string; id: string; code: string; reason: string } | null;
  lost: string[];
  sent: number;
  placement: Placement;
}

/** One fenced control message, as `LatticeClient.control` takes it. */
export type ControlOp = Parameters<LatticeClient['control']>[3];

/** Sends one control message to one host of the app; the sender holds the lease token (and any check before it). */
export type HostSend = (hostId: string, op: ControlOp) => Promise<void>;

/**
 * Drives every host of the app toward `revision` (null: remove everything), level-triggered: re-sends only what
 * is neither serving nor in flight, reports a host's failed apply of the wanted hash. Providers are applied before
 * components, components deleted before providers. Every control message goes through `toHost`, which carries the
 * lease checks (a rollout's `effects/send.ts`, or the scaler pass's live-lease sender); inventories come from
 * `client`.
 */
export async function reconcileThrough(
  client: Pick<LatticeClient, 'ping'>,
  app: string,
  revision: AppRevision | null,
  toHost: HostSend,
  opts: { send: boolean; inventories?: HostInventory[] },
): Promise<ReconcileResult> {
  const inventories = opts.inventories ?? (await client.ping());
  const byHost = new Map(inventories.map((i) => [i.hostId, i]));
  const { hosts, current } = observe(inventories, app, { markPending: true });
  const placement = place(revision, hosts, current);
  let clean = true;
  let failed: ReconcileResult['failed'] = null;
  const lost: string[] = [];
  let sent = 0;
  // Most hosts of a large lattice have nothing to do: only the others get a (sequential) sender of their own.
  const busy = Object.entries(placement.hosts).filter(
    ([, d]) => d.install.length + d.upgrade.length + d.remove.length > 0,
  );
  await Promise.all(
    busy.map(async ([hostId, diff]) => {
      const inv = byHost.get(hostId);
      const comp = (kind: string, id: string) => inv?.components.find((c) => c.id === id && c.kind === kind);
      const applies = [...diff.install, ...diff.upgrade].sort((a, b) =>
        a.kind === b.kind ? 0 : a.kind === 'provider' ? -1 : 1,
      );
      const removes = [...diff.remove].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'component' ? -1 : 1));
      if (applies.length + removes.length > 0) clean = false;
      try {
        for (const ref of applies) {
          const c = comp(ref.kind, ref.id);
          if (c?.pending?.hash === ref.hash) continue;
          if (c?.lastApply?.hash === ref.hash && c.lastApply.outcome === 'failed' && c.servingHash !== ref.hash) {
            failed ??= {
              hostId,
              id: ref.id,
              code: c.lastApply.code ?? 'apply.failed',
              reason: c.lastApply.reason ?? 'apply failed',
            };
            continue;
          }
          if (!opts.send || !revision) continue;
          const spec = specOf(revision, ref.kind, ref.id);
          if (!spec) continue;
          await toHost(
            hostId,
            ref.kind === 'component'
              ? { type: 'component.apply', spec: spec as ComponentSpec }
              : { type: 'provider.apply', spec },
          );
          sent++;
        }
        for (const ref of removes) {
          const c = comp(ref.kind, ref.id);
          if (!opts.send || c?.status === 'stopping') continue;
          await toHost(
            hostId,
            ref.kind === 'component'
              ? { type: 'component.delete', componentId: ref.id }
              : { type: 'provider.delete', providerId: ref.id },
          );
          sent++;
        }
      } catch (e) {
        if (isHostLost(e)) lost.push(hostId);
        else if (isCutoverError(e) && e.code === 'lease.stale') throw e;
        else
          failed ??= {
            hostId,
            id: '',
            code: isCutoverError(e) ? e.code : 'invoke.failed',
            reason: String((e as Error).message),
          };
      }
    }),
  );
  return { clean, failed, lost, sent, placement };
}
