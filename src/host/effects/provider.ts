/**
 * What a provider workload does in each effect of the component machine. Its "instance" is a `LinkProvider`
 * made by the factory its image resolves to; a first install puts the links components parked for it, and an
 * upgrade moves every link from the old provider to the new one while the gates of the components on those
 * links are paused. It decides nothing itself (the machine does) and must not change a component slot's
 * links or instances, only pause and resume their gates around a move.
 */
import { CutoverError, toCutoverError } from '../../errors';
import type { LinkProvider, ProviderContext } from '../../ports/provider';
import { type LinkSpec, type ProviderSpec, linkKey } from '../../protocol/spec';
import { type HostContext, need } from '../context';
import type { Gate } from '../gate';
import type { Links } from '../links';
import type { Reports } from '../reports';
import type { Attempt, Slot, Slots } from '../slots';
import { type Effects, deadlineEffect } from './machine';

/** The parts of a host the provider effects call. */
export interface ProviderEffectParts {
  readonly ctx: HostContext;
  readonly slots: Slots;
  readonly links: Links;
  readonly reports: Reports;
  /** What each provider made here is given (host identity, invoke, address map). */
  readonly providerContext: ProviderContext;
}

/** The effect table of provider workloads on one host. */
export function providerEffects({ ctx, slots, links, reports, providerContext }: ProviderEffectParts): Effects {
  const { options, clock } = ctx;

  /** The gates of the components at the other end of `moved` links. */
  const gatesOf = (moved: readonly LinkSpec[], providerId: string): Gate[] => {
    const ids = new Set(moved.map((l) => (l.source === providerId ? l.target : l.source)));
    return [...ids].flatMap((id) => slots.component(id)?.gate ?? []);
  };

  /** Resumes the gates the move paused (if this slot holds them), then publishes what changed meanwhile. */
  const releasePause = (slot: Slot, attempt: Attempt | undefined) => {
    if (!slot.pauseHeld) return;
    slot.pauseHeld = false;
    for (const g of attempt?.pausedGates ?? []) g.resume();
    reports.changed(slot);
  };

  return {
    admit: async () => {},
    fetch: async (slot, input) => {
      const target = need(ctx, input.target, 'the target spec');
      const factory = options.providers?.resolve(target.spec.imageRef) ?? options.defaultProvider;
      if (factory === undefined)
        throw new CutoverError('fetch.notFound', `no provider for image "${target.spec.imageRef}"`);
      slot.factories.set(target.hash, factory);
    },
    validate: async () => {},
    putLinks: async (slot, input) => {
      const target = need(ctx, input.target, 'the target spec');
      const factory = need(ctx, slot.factories.get(target.hash), 'the provider factory');
      let instance: LinkProvider;
      try {
        instance = await factory(target.spec as ProviderSpec, providerContext);
      } catch (error) {
        throw toCutoverError(error, 'provider.failed');
      }
      slot.providerInstances.set(target.hash, instance);
      const old = input.serving === undefined ? undefined : slot.providerInstances.get(input.serving.hash);
      const moves = old === undefined ? [] : [...old.links()].sort((a, b) => (linkKey(a) < linkKey(b) ? -1 : 1));
      const attempt: Attempt = {
        hash: target.hash,
        plan: { add: [], swap: [], keep: [] },
        added: [],
        touched: 0,
        moves,
        pausedGates: [],
      };
      slot.attempt = attempt;
      if (old === undefined) {
        // A first install picks up links recorded while the provider was missing.
        try {
          for (const link of links.parkedFor(slot.id)) await links.call(instance, 'put', link);
        } catch (error) {
          slot.providerInstances.delete(target.hash);
          await instance.stop();
          throw error;
        }
      }
      return { at: clock.now(), swaps: moves.length };
    },
    pauseGate: async (slot) => {
      const attempt = need(ctx, slot.attempt, 'the apply in flight');
      if (!slot.pauseHeld) {
        slot.pauseHeld = true;
        attempt.pausedGates = gatesOf(attempt.moves, slot.id);
        await Promise.all(attempt.pausedGates.map((g) => g.pause()));
      } else await Promise.all(attempt.pausedGates.map((g) => g.idle()));
    },
    swapLink: async (slot, input) => {
      const attempt = need(ctx, slot.attempt, 'the apply in flight');
      const old = need(ctx, input.serving && slot.providerInstances.get(input.serving.hash), 'the old provider');
      const next = need(ctx, input.target && slot.providerInstances.get(input.target.hash), 'the new provider');
      for (let i = input.index; i < attempt.moves.length; i++) {
        const link = need(ctx, attempt.moves[i], `link ${i}`);
        attempt.touched = i + 1;
        await links.call(old, 'delete', link);
        await links.call(next, 'put', link);
      }
    },
    instantiate: async () => {},
    resumeGate: async (slot) => {
      const attempt = slot.attempt;
      slot.attempt = undefined;
      releasePause(slot, attempt);
    },
    restoreLinks: async (slot, input) => {
      const attempt = slot.attempt;
      const problems: string[] = [];
      const old = input.serving === undefined ? undefined : slot.providerInstances.get(input.serving.hash);
      const next = input.target === undefined ? undefined : slot.providerInstances.get(input.target.hash);
      try {
        if (attempt !== undefined && old !== undefined) {
          for (let i = attempt.touched - 1; i >= 0; i--) {
            const link = attempt.moves[i];
            if (link === undefined) continue;
            if (next !== undefined) await links.call(next, 'delete', link).catch(() => undefined);
            await links.call(old, 'put', link).catch((error: unknown) => problems.push(toCutoverError(error).message));
          }
        }
      } finally {
        releasePause(slot, attempt);
        slot.attempt = undefined;
      }
      if (problems.length > 0) throw new CutoverError('link.failed', problems.join('; '));
    },
    disposeInstance: async (slot, input) => {
      for (const [hash, instance] of [...slot.providerInstances]) {
        if (hash === input.keep) continue;
        slot.providerInstances.delete(hash);
        await instance.stop();
      }
      for (const hash of [...slot.factories.keys()]) if (hash !== input.keep) slot.factories.delete(hash);
    },
    stop: async (slot) => {
      for (const [hash, instance] of [...slot.providerInstances]) {
        slot.providerInstances.delete(hash);
        await instance.stop().catch(() => undefined);
      }
    },
    deadline: deadlineEffect(clock),
  };
}
