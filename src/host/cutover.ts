/**
 * The gate-closed part of a component cut-over: drain the gate, swap the changed links, switch the gate to the
 * new instance, reopen it, and only then publish what changed. `start` runs it straight through as a
 * `CutoverRun` the machine's effects follow; `swapLinks`, `replaceInstance` and `releasePause` are its steps,
 * also used on their own when the machine runs a step without a run (a retried swap, a revert). It must not
 * take a machine step, set a timer or build a report while the gate is closed, and it never undoes anything:
 * restoring is the `restoreLinks` effect's job.
 */
import type { Desired } from '../../machines/component/types';
import { CutoverError } from '../errors';
import type { ComponentSpec } from '../protocol/spec';
import { type HostContext, need } from './context';
import type { Gate } from './gate';
import type { Links } from './links';
import type { LinkSwap } from './planLinks';
import type { Reports } from './reports';
import type { Attempt, Slot, Slots } from './slots';

/**
 * A component cut-over's gate-closed sequence (drain → swap links → switch instance → reopen), run straight
 * through by the host; the machine follows it state by state once it is over (`pausing` waits for the whole
 * run, `swappingLinks` and `replacing` take their stage's outcome), so no machine step runs while the gate is
 * closed: a macrostep would sit in the same microtask queue, between the link calls.
 */
export interface CutoverRun {
  /** The run is over, whatever its outcome. */
  readonly settled: Promise<void>;
  /** Every changed link swapped; rejects with the first refusal (`touched` says how far it got). */
  readonly swapped: Promise<void>;
  /** The new instance serves and the gate is open again. */
  readonly replaced: Promise<void>;
  /** Stops waiting for in-flight calls: the drain deadline passed (they still finish on the old instance). */
  skipDrain(): void;
}

/** The cut-overs of one host's components. */
export class Cutover {
  constructor(
    private readonly ctx: HostContext,
    private readonly slots: Slots,
    private readonly links: Links,
    private readonly reports: Reports,
  ) {}

  /**
   * Runs the gate-closed sequence of a component cut-over straight through. The gate closes a microtask later,
   * once the macrostep that entered `pausing` (and its observers) is done, so none of it counts as pause.
   */
  start(slot: Slot, attempt: Attempt, target: Desired, gate: Gate): CutoverRun {
    const { ctx } = this;
    let proceed: () => void = () => undefined;
    const drained = new Promise<void>((resolve) => {
      proceed = resolve;
    });
    queueMicrotask(() => gate.pause().then(proceed));
    // A stopping host closed its gates for good and disposes every instance: nothing is swapped or switched in.
    const going = () => ctx.stopped || slot.actor.getSnapshot().status !== 'active';
    const lost = () => new CutoverError('host.lost', `host "${ctx.hostId}" is stopping`, { hostId: ctx.hostId });
    const swapped = drained.then(() => {
      if (going()) throw lost();
      return this.swapLinks(attempt, 0);
    });
    const replaced = swapped.then(() => {
      if (going()) throw lost();
      return this.replaceInstance(slot, target);
    });
    // Their effects report them; a run the machine left behind (a stopped actor) has no one to tell.
    swapped.catch(() => undefined);
    const settled = replaced.then(
      () => undefined,
      () => undefined,
    );
    return { settled, swapped, replaced, skipDrain: () => proceed() };
  }

  /** Swaps every changed link of `attempt` from `from` on, in the plan's order; `touched` tells a restore how far. */
  async swapLinks(attempt: Attempt, from: number): Promise<void> {
    const swaps = attempt.plan.swap;
    for (let i = from; i < swaps.length; i++) {
      const swap: LinkSwap = need(this.ctx, swaps[i], `swap ${i}`);
      attempt.touched = i + 1;
      if (swap.from !== undefined) await this.links.component('delete', swap.from);
      if (swap.to !== undefined) await this.links.component('put', swap.to);
    }
  }

  /** Points the gate at the new instance and reopens it: the buffer drains (in arrival order) in the same tick. */
  async replaceInstance(slot: Slot, target: Desired): Promise<void> {
    // Started in linking (an instantiate failure still surfaces here, inside the cut-over, and restores).
    const existing = slot.instances.get(target.hash);
    const prepared =
      existing === undefined
        ? (slot.prepared.get(target.hash) ?? this.slots.prepare(slot, target.hash, target.spec as ComponentSpec))
        : undefined;
    slot.prepared.delete(target.hash);
    const instance = existing ?? (await need(this.ctx, prepared, 'the prepared instance'));
    slot.instances.set(target.hash, instance);
    const gate = need(this.ctx, slot.gate, 'the gate');
    gate.reopen();
    gate.setTarget({ hash: target.hash, invoke: (op, payload) => instance.invoke(op, payload) });
    // Nothing after this can fail: waiting for the `resuming` macrostep would only keep the gate closed longer.
    this.releasePause(slot);
  }

  /** Reopens a gate this slot's cut-over closed, then publishes what changed while it was closed. */
  releasePause(slot: Slot): void {
    if (!slot.pauseHeld) return;
    slot.pauseHeld = false;
    slot.gate?.resume();
    this.reports.changed(slot);
  }
}
