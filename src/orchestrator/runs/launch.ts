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
import { Persister } from '../persister';
import { RolloutRecord, keys } from '../records';
import { type EffectContext, rolloutEffects } from '../effects';
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
  const { clock, effects, stats } = o;
  const listeners = new Set<(v: RolloutView) => void>();
  let run!: Run;
  const persister = new Persister(o.store, keys.rollout(meta.id), revision, (e) => {
    o.problem(toCutoverError(e, 'store.conflict'));
    hooks.onConflict(run);
  });
  const machine = rolloutMachine.provide({
    actors: rolloutEffects(effects, { supersedes: meta.supersedes, persister }),
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
  let resolveDone!: (o: RolloutOutput) => void;
  const done = new Promise<RolloutOutput>((r) => {
    resolveDone = r;
  });
  const handle: RolloutHandle = {
    id: meta.id,
    snapshot: () => viewOf(meta, actor.getSnapshot()),
    subscribe: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    done,
  };
  run = { ...meta, actor, persister, listeners, done, handle };
  let lastState = '';
  actor.subscribe({
    next: (snap) => {
      const record: RolloutRecord = {
        schema: 1,
        id: meta.id,
        app: meta.app,
        kind: meta.kind,
        parent: meta.parent,
        supersedes: meta.supersedes,
        createdAt: meta.createdAt,
        updatedAt: clock.now(),
        snapshot: RolloutRecord.shape.snapshot.parse(actor.getPersistedSnapshot()),
      };
      persister.schedule(record);
      const view = viewOf(meta, snap);
      const key = `${view.state}|${view.paused}|${view.conditions.length}|${view.batch}`;
      if (key !== lastState) {
        lastState = key;
        effects.publish(meta.id, { type: 'rollout.snapshot', rollout: view });
        for (const l of listeners) l(view);
      }
      if (snap.status === 'done' && snap.output) {
        const output = snap.output;
        void (async () => {
          try {
            await persister.flush();
            if (output.outcome !== 'superseded')
              await effects.recordHistory(meta.app, meta.id, output.outcome, output.reason);
            else await effects.recordHistory(meta.app, meta.id, 'superseded', output.reason);
          } catch (e) {
            o.problem(toCutoverError(e, 'store.unavailable'));
          }
          stats.snapshotWrites += persister.writes;
          stats.largestSnapshotBytes = Math.max(stats.largestSnapshotBytes, persister.largestBytes);
          hooks.onFinished(run);
          effects.publish(meta.id, { type: 'rollout.outcome', output });
          resolveDone(output);
        })();
      }
    },
    error: (e) => o.problem(toCutoverError(e)),
  });
  return run;
}
