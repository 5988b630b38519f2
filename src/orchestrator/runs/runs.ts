/**
 * The rollouts this orchestrator drives: the registry of runs (by id, and the active one per app), starting
 * a rollout (lease, revision, initial record, then the actor), superseding the app's active run, dispatching
 * person commands (pause, resume, promote, abort) to it, retry and undo, stopping a run whose lease or record
 * was lost, and stopping them all on close. Callers serialise per app (`AppLocks`); it must not renew leases,
 * run scalers or look for rollouts to take over (that is `Takeover`).
 */
import { createActor } from 'xstate';
import { randomBytes } from 'node:crypto';
import { rolloutMachine } from '../../../machines/rollout/rolloutMachine';
import type { RolloutEvent } from '../../../machines/rollout/types';
import { CutoverError, toCutoverError } from '../../errors';
import { parseWith } from '../../protocol/decode';
import { RolloutInput, type RolloutKind } from '../../protocol/rollout';
import type { AppRevision } from '../../protocol/spec';
import { Strategy, type StrategyInput } from '../../protocol/strategy';
import type { HeldLeases } from '../heldLeases';
import { RolloutRecord, StableRecord, keys } from '../records';
import type { Revisions } from '../revisions';
import { stateString } from '../status';
import { lastRollout, readRecord } from '../storedRecord';
import type { RolloutHandle, RolloutView } from '../types';
import { KeepAlive } from './keepAlive';
import { type LaunchContext, type Run, type RunMeta, type RunStart, createRun } from './launch';

/** The strategy of an undo: every host at once, no pauses, no analysis. */
const UNDO_STRATEGY: StrategyInput = {
  type: 'rolling',
  maxParallel: '100%',
  maxUnavailable: '100%',
  pauseAfterBatch: false,
};

/** What {@link Runs} works with. */
export interface RunsContext extends LaunchContext {
  leases: HeldLeases;
  revisions: Revisions;
  /** How long close waits for each run's last snapshot to be stored (ms). */
  closeTimeoutMs: number;
}

/** The registry of runs and everything that starts, commands or stops one. */
export class Runs {
  private readonly byId = new Map<string, Run>();
  private readonly activeByApp = new Map<string, Run>();
  /** A rollout in flight keeps the process alive until its `done` settles or it stops here. */
  private readonly keepAlive = new KeepAlive();
  private closed = false;

  constructor(private readonly o: RunsContext) {}

  /** The run of that rollout id, if this orchestrator drives it. */
  get(rolloutId: string): Run | undefined {
    return this.byId.get(rolloutId);
  }

  /** The app's active run here, if any. */
  active(app: string): Run | undefined {
    return this.activeByApp.get(app);
  }

  /** Creates, registers and starts the actor of a rollout (new or restored). */
  launch(meta: RunMeta, revision: number, start: RunStart): Run {
    const run = createRun(this.o, meta, revision, start, {
      onConflict: (r) => {
        this.stop(r);
        // Stop renewing the app's lease too: whoever wrote the record can then take the rollout over,
        // instead of it staying stranded behind a lease this orchestrator no longer uses.
        this.o.leases.drop(r.app);
      },
      onFinished: (r) => {
        if (this.activeByApp.get(r.app) === r) this.activeByApp.delete(r.app);
        // Called just before `done` resolves: its awaiters still run, then the process may exit.
        this.keepAlive.release(r);
      },
    });
    this.byId.set(meta.id, run);
    this.activeByApp.set(meta.app, run);
    this.keepAlive.hold(run);
    run.actor.start();
    return run;
  }

  /** Stops the run's actor here and forgets it (its record stays for whoever drives it next). */
  stop(run: Run): void {
    run.actor.stop();
    run.stopEffects();
    // A stopped run's `done` never settles here: it no longer holds the process.
    this.keepAlive.release(run);
    this.byId.delete(run.id);
    if (this.activeByApp.get(run.app) === run) this.activeByApp.delete(run.app);
  }

  /** Stops the app's active run, if any: its lease was lost. */
  stopApp(app: string): void {
    const run = this.activeByApp.get(app);
    if (run) this.stop(run);
  }

  /** Starts a rollout of `revision`, superseding the app's active one (a deploy of stable over it is an undo). */
  async start(
    revision: AppRevision,
    strategyInput: StrategyInput | undefined,
    kind: RolloutKind,
    parent: string | null,
  ): Promise<RolloutHandle> {
    if (this.closed) throw new CutoverError('transport.closed', 'orchestrator is closed');
    const { store, clock } = this.o;
    const app = revision.app;
    await this.o.leases.acquire(app);
    let active = this.activeByApp.get(app);
    if (active) {
      const state = stateString(active.actor.getSnapshot().value);
      // Past the commit point a rollout finishes first: the new one then starts from its result.
      if (state === 'completing' || state === 'finalizing') {
        await active.done;
        active = undefined;
      }
    }
    const stable = await readRecord(store, keys.stable(app), StableRecord);
    const stableVersion = stable?.version ?? null;
    if (active && kind === 'deploy' && stableVersion === revision.version) kind = 'undo';
    const strategy = parseWith(
      Strategy,
      kind === 'undo' ? UNDO_STRATEGY : (strategyInput ?? { type: 'rolling' }),
      'strategy.invalid',
      'strategy',
    );
    await this.o.revisions.save(revision);
    const activeCtx = active?.actor.getSnapshot();
    // Held (by a person or an inconclusive analysis) stays held; a step pause of the old plan does not carry over.
    const startPaused =
      activeCtx !== undefined && (activeCtx.context.paused || activeCtx.matches({ progressing: 'held' }));
    const id = `r${clock.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const at = clock.now();
    const input = parseWith(
      RolloutInput,
      { rolloutId: id, app, targetVersion: revision.version, stableVersion, strategy, kind, startPaused, at },
      'plan.invalid',
      'rollout input',
    );
    const meta = { id, app, kind, parent, supersedes: active?.id ?? null, createdAt: at };
    // The record exists before anything happens, so a crash right after leaves a rollout to resume.
    const initial = RolloutRecord.shape.snapshot.parse(createActor(rolloutMachine, { input }).getPersistedSnapshot());
    const rev = await store.put(
      'cutover',
      keys.rollout(id),
      { schema: 1, ...meta, updatedAt: at, snapshot: initial } satisfies RolloutRecord,
      { expectedRevision: 0 },
    );
    if (active) await this.supersede(active, id, at);
    // Closed meanwhile: nothing may run here any more; the stored record is resumed by the next orchestrator.
    if (this.closed) {
      throw new CutoverError(
        'transport.closed',
        `orchestrator closed while rollout "${id}" was starting: it is stored and the next orchestrator resumes it`,
      );
    }
    return this.launch(meta, rev, { input }).handle;
  }

  /** Ends the app's active run in favour of rollout `by`, once the new record exists. */
  private async supersede(active: Run, by: string, at: number): Promise<void> {
    // Its actor ends at once, and with it every step it runs: their signals abort, so from this instant none of
    // its messages leaves (every send and re-send checks first). The record reaches `superseded` through its
    // own persister.
    active.actor.send({ type: 'rollout.supersede', by, at });
    await active.persister.flush().catch(() => undefined);
    // What it already sent is answered (or timed out) before the next rollout plans, so what those requests
    // started on the hosts shows in the inventories it plans from.
    await this.o.effects.inflight.settled(active.app);
  }

  /**
   * Sends a person's command to the app's active rollout: `rollout.invalidCommand` when none is in progress or
   * it is past taking that command (rolling back, completing), `rollout.notFound` for an app never rolled out.
   */
  async command(app: string, event: RolloutEvent): Promise<RolloutView> {
    const run = this.activeByApp.get(app);
    if (!run) throw await this.noRollout(app);
    const snap = run.actor.getSnapshot();
    if (snap.status !== 'active') {
      throw new CutoverError('rollout.invalidCommand', `rollout "${run.id}" is finished: use retry or deploy`);
    }
    // Past the point of no return a control would be dropped: refuse it, naming the state (abort still rolls back).
    const state = stateString(snap.value);
    const controls =
      event.type === 'rollout.pause' || event.type === 'rollout.resume' || event.type === 'rollout.promote';
    if (controls && !snap.matches('preparing') && !snap.matches('progressing')) {
      throw new CutoverError(
        'rollout.invalidCommand',
        `rollout "${run.id}" is ${state}: ${event.type.slice('rollout.'.length)} applies only while it progresses`,
      );
    }
    run.actor.send(event);
    return run.handle.snapshot();
  }

  /** An app this orchestrator never rolled out is not found; one with no rollout in progress refuses commands. */
  private async noRollout(app: string): Promise<CutoverError> {
    const last = await lastRollout(this.o.store, app);
    return last
      ? new CutoverError('rollout.invalidCommand', `no rollout of "${app}" is in progress: use retry or deploy`)
      : new CutoverError('rollout.notFound', `no rollout of "${app}" is known: deploy it first`);
  }

  /** Starts the app's last rollout's target again, linked to it; refused while one is in progress. */
  async retry(app: string, strategy: StrategyInput | undefined): Promise<RolloutHandle> {
    if (this.activeByApp.has(app))
      throw new CutoverError('rollout.invalidCommand', `a rollout of "${app}" is in progress`);
    const last = await lastRollout(this.o.store, app);
    if (!last) throw new CutoverError('rollout.notFound', `no rollout of "${app}" to retry`);
    const revision = await this.o.revisions.load(app, last.snapshot.context.targetVersion, false);
    return this.start(revision, strategy ?? last.snapshot.context.strategy, 'retry', last.id);
  }

  /** Goes back to stable (or `toRevision`) at once, linked to the app's active or last rollout. */
  async undo(app: string, toRevision: string | undefined): Promise<RolloutHandle> {
    const stable = await readRecord(this.o.store, keys.stable(app), StableRecord);
    const version = toRevision ?? stable?.version;
    if (version === undefined) throw new CutoverError('rollout.notFound', `"${app}" has no stable revision to undo to`);
    const revision = await this.o.revisions.load(app, version, false).catch((e: unknown) => {
      // A revision history no longer holds (pruned) or never held is not found, not an invalid plan.
      throw new CutoverError('rollout.notFound', `revision "${version}" of "${app}" is not in its history`, {
        cause: e,
      });
    });
    const last = this.activeByApp.get(app)?.id ?? (await lastRollout(this.o.store, app))?.id ?? null;
    return this.start(revision, UNDO_STRATEGY, 'undo', last);
  }

  /** Refuses new rollouts, stops every run at once, then flushes their records (counting their writes). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.byId.values()];
    // Every actor first: a flush awaited in between would let the others take further steps.
    for (const run of all) {
      run.actor.stop();
      run.stopEffects();
      this.keepAlive.release(run);
    }
    // Bounded: with the store out, a last snapshot is given up on after closeTimeoutMs, and that is said.
    await Promise.all(
      all.map(async (run) => {
        try {
          await run.persister.flush({ timeoutMs: this.o.closeTimeoutMs });
        } catch (e) {
          if (!run.persister.lost) {
            this.o.problem(
              new CutoverError(
                'store.unavailable',
                `closed without storing the last snapshot of rollout "${run.id}": ${toCutoverError(e).message}; a restarted orchestrator resumes it from the one before`,
                { cause: e },
              ),
            );
          }
        }
        this.o.stats.snapshotWrites += run.persister.writes;
      }),
    );
    this.byId.clear();
    this.activeByApp.clear();
  }
}
