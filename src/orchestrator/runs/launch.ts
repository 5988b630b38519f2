/**
 * One rollout's run: its `rollout` actor (new, or restored from a stored snapshot) with the effects wired
 * in, the persister that writes every snapshot to the rollout's record, the listeners and events that
 * announce each change, and the `done` promise that resolves once the outcome is stored and recorded in
 * history. It creates a run but does not start, register or stop it (that is `Runs`, in `runs.ts`); it must not
 * touch leases, other runs or hosts except through the effects it is given.
 */
import { type Actor, type Snapshot, createActor } from 'xstate';
import { rolloutMachine } from '../../../machines/rollout/rolloutMachine';
import { type CutoverError, toCutoverError } from '../../errors';
import type { Clock } from '../../ports/clock';
import type { StateStore } from '../../ports/store';
import type { Transport } from '../../ports/transport';
import { encode } from '../../protocol/decode';
import type { RolloutInput, RolloutKind, RolloutOutput } from '../../protocol/rollout';
import { subjects } from '../../protocol/subjects';
import { untilAvailable, patientStore } from '../patientStore';
import { Persister } from '../persister';
import { RolloutRecord, keys } from '../records';
import { type EffectContext, rolloutEffects } from '../effects';
import { endAnalyses } from '../effects/analysis';
import { viewOf } from '../status';
import type { OrchestratorOptions, RolloutHandle, RolloutView } from '../types';

/** A rollout's identity, as its record stores it. */
export interface RunMeta {
  id: string;
  app: string;
  kind: RolloutKind;
  parent: string | null;
  supersedes: string | null;
  createdAt: number;
}

/** A rollout this orchestrator drives. */
export interface Run extends RunMeta {
  actor: Actor<typeof rolloutMachine>;
  persister: Persister;
  listeners: Set<(v: RolloutView) => void>;
  done: Promise<RolloutOutput>;
  handle: RolloutHandle;
  /** Ends every wait of its effects (store outages, lease renewals): called when the run stops here. */
  stopEffects(): void;
}

/** How a run starts: fresh from its input, or restored from a stored snapshot. */
export type RunStart = { input: RolloutInput } | { snapshot: Snapshot<unknown>; input: RolloutInput };

/** Writes and snapshot sizes of finished runs, for benchmarks. */
export interface RunStats {
  snapshotWrites: number;
  largestSnapshotBytes: number;
}

/** What a run is created with; `effects` also records history and publishes its events. */
export interface LaunchContext {
  store: StateStore;
  clock: Clock;
  effects: EffectContext;
  inspect: OrchestratorOptions['inspect'];
  stats: RunStats;
  problem(e: CutoverError): void;
}

/** What the run's owner does when the run is lost or finishes. */
export interface RunHooks {
  /** Another writer changed the rollout's record: the run must stop here (the problem is reported already). */
  onConflict(run: Run): void;
  /** The run is final, its record flushed and its history entry written. */
  onFinished(run: Run): void;
}

/** Publishes rollout events on the lattice's subject; best effort, as the store holds the truth. */
export function rolloutPublisher(transport: Transport, lattice: string): (rolloutId: string, value: unknown) => void {
  return (rolloutId, value) => {
    try {
      transport.publish(subjects.rolloutEvents(lattice, rolloutId), encode(value));
    } catch {
      // Events are best effort; the store holds the truth.
    }
  };
}

/** Creates (or restores) the actor of a rollout, wired to persistence, events and history; not started yet. */
export function createRun(o: LaunchContext, meta: RunMeta, revision: number, start: RunStart, hooks: RunHooks): Run {
  const { clock, stats } = o;
  const listeners = new Set<(v: RolloutView) => void>();
  let run!: Run;
  const persister = new Persister(o.store, keys.rollout(meta.id), revision, (e) => {
    o.problem(toCutoverError(e, 'store.conflict'));
    hooks.onConflict(run);
  });
  // The run's effects wait out store outages (in every phase) until the run stops here.
  const halt = new AbortController();
  const wait = { clock, outages: o.effects.outages, kind: 'store' as const, signal: halt.signal };
  const effects: EffectContext = {
    ...o.effects,
    store: patientStore(o.effects.store, clock, o.effects.outages, halt.signal),
    loadRevision: (app, version, pin) => untilAvailable(() => o.effects.loadRevision(app, version, pin), wait),
    recordHistory: (app, rolloutId, outcome, reason) =>
      untilAvailable(() => o.effects.recordHistory(app, rolloutId, outcome, reason), wait),
  };
  const recordOf = (): RolloutRecord => ({
    schema: 1,
    id: meta.id,
    app: meta.app,
    kind: meta.kind,
    parent: meta.parent,
    supersedes: meta.supersedes,
    createdAt: meta.createdAt,
    updatedAt: clock.now(),
    snapshot: RolloutRecord.shape.snapshot.parse(actor.getPersistedSnapshot()),
  });
  // The snapshot last handed to the persister: an effect starts before subscribers hear of the state that
  // invoked it, so `durable` schedules the current one itself when it is newer.
  let scheduledFor: unknown;
  const durable = async (signal: AbortSignal) => {
    const snap = actor.getSnapshot();
    if (snap !== scheduledFor) {
      scheduledFor = snap;
      persister.schedule(recordOf());
    }
    await persister.flush({ signal });
  };
  const machine = rolloutMachine.provide({
    actors: rolloutEffects(effects, {
      supersedes: meta.supersedes,
      persister,
      durable,
      progress: (e) => run.actor.send({ type: 'rollout.progress', ...e }),
    }),
  });
  const inspect = o.inspect;
  const actor = !('snapshot' in start)
    ? createActor(machine, inspect ? { input: start.input, inspect } : { input: start.input })
    : createActor(
        machine,
        inspect
          ? { snapshot: start.snapshot, input: start.input, inspect }
          : { snapshot: start.snapshot, input: start.input },
      );
  // The rollout's own conditions, plus the outages this orchestrator is waiting out while it runs.
  const view = (snap: ReturnType<typeof actor.getSnapshot>) =>
    viewOf(meta, snap, snap.status === 'active' ? o.effects.outages.conditions() : []);
  let resolveDone!: (o: RolloutOutput) => void;
  const done = new Promise<RolloutOutput>((r) => {
    resolveDone = r;
  });
  const handle: RolloutHandle = {
    id: meta.id,
    snapshot: () => view(actor.getSnapshot()),
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    done,
  };
  const stopOutages = o.effects.outages.subscribe(() => announce(actor.getSnapshot()));
  run = {
    ...meta,
    actor,
    persister,
    listeners,
    done,
    handle,
    stopEffects: () => {
      halt.abort();
      stopOutages();
    },
  };
  let lastState = '';
  /** Tells listeners and the lattice when what a person sees changed (state, pause, conditions, batch). */
  const announce = (snap: ReturnType<typeof actor.getSnapshot>) => {
    const v = view(snap);
    const key = `${v.state}|${v.paused}|${v.conditions.map((c) => `${c.type}:${c.status}`).join(',')}|${v.batch}`;
    if (key === lastState) return;
    lastState = key;
    effects.publish(meta.id, { type: 'rollout.snapshot', rollout: v });
    effects.notifier?.view(v);
    for (const l of listeners) l(v);
  };
  actor.subscribe({
    next: (snap) => {
      if (snap !== scheduledFor) {
        scheduledFor = snap;
        persister.schedule(recordOf());
      }
      announce(snap);
      if (snap.status === 'done' && snap.output) {
        const output = snap.output;
        void (async () => {
          stopOutages();
          try {
            await persister.flush({ signal: halt.signal });
            if (output.outcome !== 'superseded')
              await effects.recordHistory(meta.app, meta.id, output.outcome, output.reason);
            else {
              // A superseded rollout skips finalizing: its analyses still running end here, cancelled.
              const c = snap.context;
              await endAnalyses(
                effects,
                {
                  rolloutId: c.rolloutId,
                  app: c.app,
                  targetVersion: c.targetVersion,
                  stableVersion: c.stableVersion,
                  strategy: c.strategy,
                  kind: c.kind,
                  outcome: 'superseded',
                  supersededBy: c.supersededBy,
                },
                halt.signal,
              );
              await effects.recordHistory(meta.app, meta.id, 'superseded', output.reason);
            }
          } catch (e) {
            o.problem(toCutoverError(e, 'store.unavailable'));
          }
          stats.snapshotWrites += persister.writes;
          stats.largestSnapshotBytes = Math.max(stats.largestSnapshotBytes, persister.largestBytes);
          hooks.onFinished(run);
          effects.publish(meta.id, { type: 'rollout.outcome', output });
          effects.notifier?.outcome(output);
          resolveDone(output);
        })();
      }
    },
    error: (e) => o.problem(toCutoverError(e)),
  });
  return run;
}
