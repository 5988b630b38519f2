/**
 * What a component workload does in each effect of the component machine: fetch and validate the artifact,
 * put the new links and prepare the instance (`linking`), hand the gate-closed part to a cut-over run
 * (`pausing`, `swappingLinks`, `replacing`), then serve, restore after a failure, dispose old instances, stop.
 * It decides nothing itself (the machine does) and must not publish reports or touch another slot; link calls
 * go through `Links`, the gate-closed steps through `Cutover`.
 */
import { CutoverError, toCutoverError } from '../../errors';
import { type ComponentSpec, linkKey } from '../../protocol/spec';
import { type HostContext, need } from '../context';
import type { Cutover } from '../cutover';
import type { Invocations } from '../invoke';
import type { Links } from '../links';
import { planLinks } from '../planLinks';
import { type Attempt, type Slot, type Slots, discardPrepared } from '../slots';
import { type Effects, deadlineEffect } from './machine';

/** The parts of a host the component effects call. */
export interface ComponentEffectParts {
  readonly ctx: HostContext;
  readonly slots: Slots;
  readonly links: Links;
  readonly cutover: Cutover;
  readonly invocations: Invocations;
}

/** The effect table of component workloads on one host. */
export function componentEffects({ ctx, slots, links, cutover, invocations }: ComponentEffectParts): Effects {
  const { runtime, clock } = ctx;
  return {
    // A host holds at most a serving, a standby and a retained instance of a component: a newer apply
    // disposes the older standby or retained one (leaving `retained` for a new target forgets it; its
    // instance goes here, once its calls in flight are answered), so v2 retained, v3 serving and v4 applied
    // never run as three live versions. Best effort: an instance that will not go never fails the apply.
    admit: async (slot, input) => {
      const keep = new Set([input.serving?.hash, input.target?.hash].filter((h): h is string => h !== undefined));
      await disposeOthers(slot, keep).catch(() => undefined);
    },
    fetch: async (slot, input, { signal }) => {
      const target = need(ctx, input.target, 'the target spec');
      const artifact = await runtime.fetch(target.spec.imageRef, { signal });
      if (target.spec.digest !== undefined && artifact.digest !== target.spec.digest) {
        throw new CutoverError(
          'digest.mismatch',
          `"${target.spec.imageRef}" has digest ${artifact.digest}, expected ${target.spec.digest}`,
        );
      }
      slot.artifacts.set(target.hash, artifact);
    },
    validate: async (slot, input) => {
      const target = need(ctx, input.target, 'the target spec');
      const artifact = need(ctx, slot.artifacts.get(target.hash), 'the fetched artifact');
      slot.validated.set(target.hash, await runtime.validate(artifact, target.spec as ComponentSpec));
    },
    putLinks: async (slot, input) => {
      const target = need(ctx, input.target, 'the target spec');
      // A revert to a retained version reuses its instance: nothing is downloaded, validated or started.
      if (!slot.instances.has(target.hash)) slots.prepare(slot, target.hash, target.spec as ComponentSpec);
      const plan = planLinks(slot.links, target.spec.links);
      const attempt: Attempt = { hash: target.hash, plan, added: [], touched: 0, moves: [], pausedGates: [] };
      slot.attempt = attempt;
      try {
        for (const link of plan.add) {
          await links.component('put', link);
          attempt.added.push(link);
        }
        if (target.standby === true && input.serving !== undefined) {
          // Standby: the new instance runs beside the serving one (preview calls only) before any promote.
          const prepared = slot.prepared.get(target.hash);
          if (prepared !== undefined) {
            slot.prepared.delete(target.hash);
            slot.instances.set(target.hash, await prepared);
          }
          // Listen for preview calls before the standby is reported, so a caller that reacts to the report
          // finds a responder (NATS handles one connection's SUB and PUB in order).
          invocations.syncPreview(slot, true);
        }
      } catch (error) {
        await links.undoAdded(attempt);
        throw error;
      }
      return { at: clock.now(), swaps: plan.swap.length };
    },
    pauseGate: async (slot, input, { onStop }) => {
      const gate = need(ctx, slot.gate, 'the gate');
      const attempt = slot.attempt;
      if (slot.pauseHeld) return gate.idle();
      slot.pauseHeld = true;
      if (attempt === undefined || input.target === undefined) return gate.pause();
      const run = cutover.start(slot, attempt, input.target, gate);
      attempt.run = run;
      // Left before the run is over: the drain deadline passed, and the swaps go ahead anyway.
      onStop(run.skipDrain);
      return run.settled;
    },
    swapLink: async (slot, input) => {
      const attempt = need(ctx, slot.attempt, 'the apply in flight');
      if (attempt.run !== undefined && input.index === 0) {
        attempt.run.skipDrain();
        return attempt.run.swapped;
      }
      await cutover.swapLinks(attempt, input.index);
    },
    instantiate: async (slot, input) => {
      const run = slot.attempt?.run;
      if (run !== undefined) {
        // No swaps, and the drain deadline passed: the run goes ahead without waiting for in-flight calls.
        run.skipDrain();
        return run.replaced;
      }
      await cutover.replaceInstance(slot, need(ctx, input.target, 'the target spec'));
    },
    resumeGate: async (slot, input) => {
      const target = need(ctx, input.target, 'the target spec');
      // First what can fail (the transport refusing the subscription): the restore then still has the attempt.
      invocations.serve(slot);
      slot.links = [...target.spec.links];
      slot.attempt = undefined;
      cutover.releasePause(slot);
    },
    restoreLinks: async (slot, input) => {
      const attempt = slot.attempt;
      const problems: string[] = [];
      // A pause that failed may leave its gate-closed run going (it never rejects): undo it once it is over.
      await attempt?.run?.settled;
      try {
        if (attempt !== undefined) {
          for (let i = attempt.touched - 1; i >= 0; i--) {
            const swap = attempt.plan.swap[i];
            if (swap === undefined) continue;
            try {
              if (swap.to !== undefined) await links.component('delete', swap.to).catch(() => undefined);
              if (swap.from !== undefined) await links.component('put', swap.from);
            } catch (error) {
              problems.push(toCutoverError(error).message);
            }
          }
          problems.push(...(await links.undoAdded(attempt)));
        }
      } finally {
        // The old instance serves again whatever happened to the links: calls are never stranded.
        const old = input.serving === undefined ? undefined : slot.instances.get(input.serving.hash);
        const gate = slot.gate;
        if (
          gate !== undefined &&
          input.serving !== undefined &&
          old !== undefined &&
          gate.servingHash !== input.serving.hash
        ) {
          gate.setTarget({ hash: input.serving.hash, invoke: (op, payload) => old.invoke(op, payload) });
        }
        if (
          gate !== undefined &&
          input.serving === undefined &&
          input.target !== undefined &&
          gate.servingHash === input.target.hash
        ) {
          gate.setTarget(undefined);
        }
        cutover.releasePause(slot);
        slot.attempt = undefined;
      }
      if (problems.length > 0) throw new CutoverError('link.failed', problems.join('; '));
    },
    disposeInstance: async (slot, input) => {
      await disposeOthers(slot, new Set(input.keep === undefined ? [] : [input.keep]));
    },
    stop: async (slot) => {
      discardPrepared(slot, undefined);
      await slot.gate?.close(
        new CutoverError('gate.closed', `component "${slot.id}" is stopping`, {
          componentId: slot.id,
          hostId: ctx.hostId,
        }),
      );
      slot.invokeSub?.unsubscribe();
      slot.invokeSub = undefined;
      for (const link of [...slot.links].sort((a, b) => (linkKey(a) < linkKey(b) ? 1 : -1))) {
        await links.component('delete', link).catch(() => undefined);
      }
      slot.links = [];
      slot.gate?.setTarget(undefined);
      for (const [hash, instance] of [...slot.instances]) {
        slot.instances.delete(hash);
        // Best effort: a stop always finishes, so a broken instance cannot keep a component alive.
        await Promise.resolve()
          .then(() => instance.dispose())
          .catch(() => undefined);
      }
      slot.artifacts.clear();
      slot.validated.clear();
    },
    deadline: deadlineEffect(clock),
  };
}

/**
 * Disposes every instance of `slot` but those of `keep` and the one the gate dispatches to (each once its calls
 * in flight are answered), with the artifacts and validated modules of the others and instances prepared for them.
 */
async function disposeOthers(slot: Slot, keep: ReadonlySet<string>): Promise<void> {
  for (const [hash, prepared] of [...slot.prepared]) {
    if (keep.has(hash)) continue;
    slot.prepared.delete(hash);
    prepared.then(
      (i) => i.dispose(),
      () => undefined,
    );
  }
  for (const [hash, instance] of [...slot.instances]) {
    if (keep.has(hash) || hash === slot.gate?.servingHash) continue;
    await slot.gate?.idle(hash);
    slot.instances.delete(hash);
    await instance.dispose();
  }
  for (const hash of [...slot.artifacts.keys()]) if (!keep.has(hash)) slot.artifacts.delete(hash);
  for (const hash of [...slot.validated.keys()]) if (!keep.has(hash)) slot.validated.delete(hash);
}
