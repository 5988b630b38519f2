// A scripted scheduler for the rollout machine's specification tests (rollout.mutation*.test.ts): every effect
// is a fromPromise actor that answers like the real one (a stamp of the simulated clock, a plan, a verdict) or
// is held for the test to answer, and every call is recorded with its input. Deadlines are the real
// `deadline` semantics (an absolute instant on the simulated clock; never for an infinite one).
// Imports go to the modules themselves, not the package barrels: a mutation run re-imports them per mutant.
import { rolloutMachine } from '../../machines/rollout/rolloutMachine';
import type {
  AnalysisResult,
  BatchApplied,
  BatchInput,
  FinalInput,
  PlanSummary,
  RolloutContext,
  RolloutEvent,
  RolloutInputParam,
  Stamp,
  StepInput,
  VerifyResult,
} from '../../machines/rollout/types';
import { waitUntil } from '../../src/ports/clock';
import { RolloutInput } from '../../src/protocol/rollout';
import { type Snapshot, SimulatedClock, createActor, fromPromise, toPromise } from 'xstate';
import { rolling } from '../fixtures/builders';

/** Each effect's input and output. */
export interface Effects {
  suspendScalers: [StepInput, Stamp];
  markUpgrading: [StepInput, Stamp];
  planRollout: [StepInput, PlanSummary];
  applyBatch: [BatchInput, BatchApplied];
  verifyBatch: [BatchInput, VerifyResult];
  analyze: [BatchInput, AnalysisResult];
  backgroundAnalysis: [BatchInput, AnalysisResult];
  complete: [FinalInput, Stamp];
  rollback: [StepInput, Stamp];
  verifyRollback: [StepInput, VerifyResult];
  resumeScalers: [FinalInput, Stamp];
}
export type EffectName = keyof Effects;

/** A responder's answer that leaves the call pending, for the test to settle with `pending(src)`. */
export const HOLD = Symbol('hold');
/** How an effect answers: its output, `HOLD`, or a throw (the effect fails with that error). */
export type Responder<K extends EffectName> = (input: Effects[K][0], now: number) => Effects[K][1] | typeof HOLD;
export type Responders = { [K in EffectName]?: Responder<K> };

/** One effect call, as the machine made it. */
export interface Call<K extends EffectName = EffectName> {
  src: K;
  input: Effects[K][0];
  /** Answered or failed. */
  settled: boolean;
  /** Stopped by the machine before it settled. */
  aborted: boolean;
  resolve(output: Effects[K][1]): void;
  reject(error: unknown): void;
}

/** One `deadline` invocation: which timer (its invoke id) and the instant it was armed for. */
export interface Armed {
  id: string;
  at: number;
}

export type Strategy = ReturnType<typeof rolling>;

export interface HarnessOptions {
  strategy?: Strategy;
  input?: Partial<RolloutInputParam>;
  /** Batches the plan has (default 3). */
  batches?: number;
  respond?: Responders;
  /** Effects left as the machine's own defaults (not provided). */
  unprovided?: EffectName[];
}

const never = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

/** A rollout actor on a simulated clock with scripted effects; started. */
export function harness(options: HarnessOptions = {}) {
  const clock = new SimulatedClock();
  const calls: Call[] = [];
  const armed: Armed[] = [];
  const respond: Responders = { ...options.respond };
  const batches = options.batches ?? 3;
  const stamp = () => ({ at: clock.now() });
  const defaults: { [K in EffectName]: Responder<K> } = {
    suspendScalers: stamp,
    markUpgrading: stamp,
    planRollout: (input) => ({ at: clock.now(), batches, firstDeploy: input.stableVersion === null }),
    applyBatch: stamp,
    verifyBatch: () => ({ status: 'passed', at: clock.now() }),
    analyze: () => ({ status: 'passed', at: clock.now() }),
    backgroundAnalysis: () => HOLD,
    complete: stamp,
    rollback: stamp,
    verifyRollback: () => ({ status: 'passed', at: clock.now() }),
    resumeScalers: stamp,
  };

  function effect<K extends EffectName>(src: K) {
    return fromPromise<Effects[K][1], Effects[K][0]>(
      ({ input, signal }) =>
        new Promise<Effects[K][1]>((resolve, reject) => {
          const call: Call<K> = {
            src,
            input,
            settled: false,
            aborted: false,
            resolve: (output) => {
              call.settled = true;
              resolve(output);
            },
            reject: (error) => {
              call.settled = true;
              reject(error);
            },
          };
          calls.push(call as unknown as Call);
          signal.addEventListener(
            'abort',
            () => {
              if (!call.settled) call.aborted = true;
              reject(signal.reason);
            },
            { once: true },
          );
          const responder = (respond[src] ?? defaults[src]) as Responder<K>;
          let answer: Effects[K][1] | typeof HOLD;
          try {
            answer = responder(input, clock.now());
          } catch (error) {
            call.reject(error);
            return;
          }
          if (answer !== HOLD) call.resolve(answer);
        }),
    );
  }

  const provided = {
    suspendScalers: effect('suspendScalers'),
    markUpgrading: effect('markUpgrading'),
    planRollout: effect('planRollout'),
    applyBatch: effect('applyBatch'),
    verifyBatch: effect('verifyBatch'),
    analyze: effect('analyze'),
    backgroundAnalysis: effect('backgroundAnalysis'),
    complete: effect('complete'),
    rollback: effect('rollback'),
    verifyRollback: effect('verifyRollback'),
    resumeScalers: effect('resumeScalers'),
  };
  for (const src of options.unprovided ?? []) delete (provided as Partial<typeof provided>)[src];
  const machine = rolloutMachine.provide({
    actors: {
      ...provided,
      deadline: fromPromise<Stamp, { at: number }>(async ({ input, signal, self }) => {
        armed.push({ id: self.id, at: input.at });
        if (!Number.isFinite(input.at)) return never(signal);
        await waitUntil(clock, input.at, signal);
        if (signal.aborted) return never(signal);
        return { at: input.at };
      }),
    },
  });

  const rolloutInput = RolloutInput.parse({
    rolloutId: 'r1',
    app: 'shop',
    targetVersion: '2',
    stableVersion: '1',
    strategy: options.strategy ?? rolling(),
    at: 0,
    ...options.input,
  });
  const actor = createActor(machine, { input: rolloutInput }).start();

  /** Lets every settled effect reach the machine. */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };

  return {
    clock,
    actor,
    calls,
    armed,
    /** Responders in use; a test may replace one mid-rollout. */
    respond,
    settle,
    snapshot: () => actor.getSnapshot(),
    context: (): RolloutContext => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    /** Sends an event stamped with the clock's time (unless it carries its own `at`). */
    send(event: DistributiveOmit<RolloutEvent, 'at'> & { at?: number }) {
      actor.send({ ...event, at: event.at ?? clock.now() } as RolloutEvent);
    },
    /** Lets the machine settle, moves the simulated clock on, then lets the machine react. */
    async advance(ms: number) {
      await settle();
      clock.increment(ms);
      await settle();
    },
    /** The effects called, in order, by name. */
    log: () => calls.map((c) => c.src),
    /** The inputs of every call of `src`, in order. */
    inputs<K extends EffectName>(src: K): Effects[K][0][] {
      return calls.filter((c) => c.src === src).map((c) => c.input as Effects[K][0]);
    },
    /** The oldest unsettled call of `src` (fails the test when there is none). */
    pending<K extends EffectName>(src: K): Call<K> {
      const call = calls.find((c) => c.src === src && !c.settled && !c.aborted);
      if (call === undefined) throw new Error(`no pending ${src} call (calls: ${calls.map((c) => c.src).join(', ')})`);
      return call as unknown as Call<K>;
    },
    /** The finished rollout's output. */
    output: () => toPromise(actor),
    persisted: () => actor.getPersistedSnapshot() as Snapshot<unknown>,
  };
}

export type Harness = ReturnType<typeof harness>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An error as effects throw them: a message and a stable code. */
export function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}
