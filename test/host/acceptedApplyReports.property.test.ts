// Property: on a real host (memory bus, runtime and providers, simulated clock), every apply the host accepts
// ends in exactly one `component.applied` or `component.failed` report within the host's apply deadline, whatever
// effect fails, for component ids anywhere in the id rule; and no invocation is dropped meanwhile. Faults come
// from the real parts where they can (runtime fetch/validate/instantiate errors, slow downloads, provider link
// refusals); the effects a memory host never fails on its own fail through `probeEffects`.
import { type ComponentSpec, CutoverError, type DirectedLink, type HostOutcome, specHash } from 'cutover';
import type { MemoryImage } from 'cutover/adapters/memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyActorRef, InspectionEvent, SnapshotFrom } from 'xstate';
import type { componentMachine } from '../../machines/component/componentMachine';
import { probeEffects } from '../../src/host/effects/machine';
import { ID_MAX_LENGTH } from '../../src/protocol/spec';
import { id as shortId, propertyRuns } from '../fixtures/arbitraries';
import { createHostRig, echoImage, fenced, kvSpec, providerApply } from '../fixtures/host';
import { componentSpec, directedLink } from '../fixtures/specs';

const FETCH_TIMEOUT_MS = 1_000;
const DRAIN_TIMEOUT_MS = 200;
const LINK_TIMEOUT_MS = 1_000;
/**
 * The longest a host may take over one apply: a download, a drain, and two link calls that get no answer (one
 * putting the new link, one putting back the old). An apply queued behind others waits for theirs too.
 */
const APPLY_DEADLINE_MS = FETCH_TIMEOUT_MS + DRAIN_TIMEOUT_MS + 2 * LINK_TIMEOUT_MS;
/** Simulated time moves in steps of this, once the host has done everything it can without time moving. */
const STEP_MS = 50;

const FAULTS = [
  'none',
  'fetch',
  'slowFetch',
  'validate',
  'instantiate',
  'link',
  'linkHang',
  'admit',
  'deadline',
  'pauseGate',
  'resumeGate',
  'disposeInstance',
] as const;
type Fault = (typeof FAULTS)[number];
/** Faults of effects no real part of a memory host produces on demand. */
const PROBED: Partial<Record<Fault, CutoverError>> = {
  admit: new CutoverError('invoke.failed', 'admission refused'),
  deadline: new CutoverError('invoke.failed', 'timer unavailable'),
  pauseGate: new CutoverError('gate.closed', 'gate closed for good'),
  resumeGate: new CutoverError('transport.invalidSubject', 'invocation subject refused'),
  disposeInstance: new CutoverError('invoke.failed', 'instance would not dispose'),
};

const FIRST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** An id holding every character the id rule allows, and ids at its length limit. */
const EVERY_CHARACTER = `${FIRST}_-`;
const componentId = fc
  .oneof(
    shortId,
    fc.constant(EVERY_CHARACTER),
    fc.constant(`Z${'_-'.repeat((ID_MAX_LENGTH - 2) / 2)}9`),
    fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9_-]{${ID_MAX_LENGTH - 9},${ID_MAX_LENGTH - 1}}$`)),
  )
  .filter((s) => s !== 'kv');

const apply = fc.record({
  component: fc.nat({ max: 2 }),
  fault: fc.oneof({ arbitrary: fc.constant<Fault>('none'), weight: 4 }, fc.constantFrom(...FAULTS)),
  links: fc.boolean(),
  /**
   * How long before the next apply: until this one reports, or that many event-loop turns with a clock tick every
   * fourth (the next one then
   * supersedes it, or queues behind its links or cut-over, or behind an apply already queued there).
   */
  wait: fc.oneof(fc.constant('report' as const), fc.nat({ max: 40 })),
  load: fc.nat({ max: 6 }),
});
const scenario = fc.record({
  ids: fc.uniqueArray(componentId, { minLength: 1, maxLength: 3 }),
  applies: fc.array(apply, { minLength: 1, maxLength: 8 }),
});

const imageOf = (componentIdValue: string, version: number) => `memory://shop/${componentIdValue}:v${version}`;

/** Version `version` of component `cid`: with links, one to `kv` whose bucket names the version (swapped). */
function specOf(cid: string, version: number, links: boolean): ComponentSpec {
  const kv: DirectedLink[] = links
    ? [directedLink('outgoing', { source: cid, target: 'kv', sourceConfig: { bucket: `v${version}` } })]
    : [];
  return componentSpec({ id: cid, app: 'shop', imageRef: imageOf(cid, version), links: kv });
}

type Snap = SnapshotFrom<typeof componentMachine>;

describe('accepted applies on a host with failing effects (property)', () => {
  it('reports every accepted apply exactly once, applied or failed, within the apply deadline, and drops no call', async () => {
    let slowest = 0;
    let applies = 0;
    let failed = 0;
    let superseded = 0;
    let queued = 0;
    let requeued = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ ids, applies: plan }) => {
        /** Probed faults still to fire, by `componentId|hash`. */
        const armed = new Map<string, Fault>();
        const refused = new Set<string>();
        const hung = new Set<string>();
        await using rig = await createHostRig({
          fetchTimeoutMs: FETCH_TIMEOUT_MS,
          drainTimeoutMs: DRAIN_TIMEOUT_MS,
          linkTimeoutMs: LINK_TIMEOUT_MS,
          provider: {
            refuse: (l, op) =>
              op === 'put' && refused.has(`${l.source}|${l.sourceConfig.bucket}`) ? 'port in use' : undefined,
            // A provider that never answers: the link call ends at the host's link timeout.
            hang: (l, op) => op === 'put' && hung.has(`${l.source}|${l.sourceConfig.bucket}`),
          },
          inspect: (e: InspectionEvent) => {
            const actor = e.actorRef as AnyActorRef;
            if (e.actorRef.sessionId !== e.rootId) return;
            if (e.type === '@xstate.event' && e.event.type === 'component.apply') {
              const snap = actor.getSnapshot() as Snap;
              if (snap.context.next?.kind === 'apply') requeued++;
              else if ((['linking', 'cuttingOver', 'restoring'] as const).some((v) => snap.matches(v))) queued++;
            }
            if (e.type !== '@xstate.actor') return;
            probeEffects(actor.system, (name) => {
              const c = (actor.getSnapshot() as Snap).context;
              const hash = name === 'disposeInstance' ? c.serving?.hash : c.target?.hash;
              const key = `${c.id}|${hash}`;
              if (c.kind !== 'component' || armed.get(key) !== name) return;
              armed.delete(key);
              throw PROBED[name as Fault];
            });
          },
        });
        await rig.host.apply(providerApply(kvSpec('kv')));

        const reports: HostOutcome[] = [];
        rig.host.onReport((r) => {
          if ((r.type === 'component.applied' || r.type === 'component.failed') && r.kind === 'component')
            reports.push(r);
        });
        const accepted: Array<{
          cid: string;
          ahead: number;
          key: string;
          at: number;
          outcome: Promise<HostOutcome>;
          settled: boolean;
        }> = [];
        const calls: Array<Promise<string>> = [];
        const versions = ids.map(() => 0);

        /** Lets the host finish what needs no time, then moves the clock a step, until `done` or the deadline. */
        /** The clock time by which every apply accepted so far must have reported. */
        const due = () => Math.max(rig.clock.now(), ...accepted.map((a) => a.at + APPLY_DEADLINE_MS * (1 + a.ahead)));
        /** Lets the host finish what needs no time, then moves the clock a step, until `done` or `until`. */
        const drive = async (done: () => boolean, until = due()) => {
          while (!done()) {
            for (let turn = 0; turn < 20 && !done(); turn++) await new Promise((r) => setImmediate(r));
            if (done() || rig.clock.now() > until) return;
            rig.clock.increment(STEP_MS);
          }
        };
        const fire = (n: number) => {
          for (const cid of ids.filter((_, i) => (versions[i] ?? 0) > 0)) {
            if (rig.host.gate(cid)?.servingHash === undefined) continue;
            for (let i = 0; i < n; i++)
              calls.push(
                rig.host.invoke(cid, 'echo', new Uint8Array()).then(
                  () => 'answered',
                  (e: { code?: string }) => `refused:${e.code ?? '?'}`,
                ),
              );
          }
        };

        for (const step of plan) {
          const index = step.component % ids.length;
          const cid = ids[index] as string;
          versions[index] = (versions[index] ?? 0) + 1;
          const version = versions[index] as number;
          const spec = specOf(cid, version, step.links);
          const hash = specHash(spec);
          const image: MemoryImage = echoImage(`v${version}`, undefined, {
            ...(step.fault === 'fetch' ? { fetchError: 'registry unreachable' } : {}),
            ...(step.fault === 'slowFetch' ? { fetchDelayMs: 10 * FETCH_TIMEOUT_MS } : {}),
            ...(step.fault === 'validate' ? { validateError: 'bad module' } : {}),
            ...(step.fault === 'instantiate' ? { instantiateError: 'out of memory' } : {}),
          });
          rig.runtime.publish(spec.imageRef, image);
          if (step.fault === 'link') refused.add(`${cid}|v${version}`);
          if (step.fault === 'linkHang') hung.add(`${cid}|v${version}`);
          if (PROBED[step.fault] !== undefined) armed.set(`${cid}|${hash}`, step.fault);
          const entry = {
            cid,
            // Applies of this component still in flight: this one may wait for each of them.
            ahead: accepted.filter((a) => a.cid === cid && !a.settled).length,
            key: `${cid}|${hash}`,
            at: rig.clock.now(),
            outcome: rig.host.apply(fenced(spec)),
            settled: false,
          };
          entry.outcome.then(
            () => {
              entry.settled = true;
            },
            () => {
              entry.settled = true;
            },
          );
          accepted.push(entry);
          fire(step.load);
          if (step.wait === 'report') await drive(() => entry.settled);
          else
            for (let turn = 0; turn < step.wait; turn++) {
              // Downloads finish on the clock: a tick now and then lets the apply get as far as linking.
              if (turn % 4 === 3) rig.clock.increment(1);
              await new Promise((r) => setImmediate(r));
            }
        }
        await drive(() => accepted.every((a) => a.settled));

        applies += accepted.length;
        // Nothing waits on an apply that may never settle: an unreported one fails here, by name.
        expect(accepted.filter((a) => !a.settled).map((a) => a.key)).toEqual([]);
        for (const a of accepted) {
          // Each accepted apply resolved with its own report: applied, or failed with a code and a reason.
          const outcome = await a.outcome;
          expect(
            `${outcome.type === 'component.deleted' ? '' : outcome.componentId}|${'hash' in outcome ? outcome.hash : ''}`,
          ).toBe(a.key);
          expect(['component.applied', 'component.failed']).toContain(outcome.type);
          if (outcome.type === 'component.failed') {
            failed++;
            if (outcome.code === 'superseded') superseded++;
            expect(outcome.code).not.toBe('');
            expect(outcome.reason).not.toBe('');
          }
          const at = 'at' in outcome ? outcome.at : Number.POSITIVE_INFINITY;
          slowest = Math.max(slowest, at - a.at);
          expect(at - a.at, a.key).toBeLessThanOrEqual(APPLY_DEADLINE_MS * (1 + a.ahead));
        }
        // Exactly one report per accepted apply, and none for anything else.
        const keys = reports.map((r) => `${'componentId' in r ? r.componentId : ''}|${'hash' in r ? r.hash : ''}`);
        expect(keys.sort()).toEqual(accepted.map((a) => a.key).sort());

        for (const cid of ids.filter((_, i) => (versions[i] ?? 0) > 0)) {
          // Nothing is left in flight, and what serves is the last version that reported applied.
          const inv = rig.host.inventory().components.find((c) => c.id === cid && c.kind === 'component');
          const lastApplied = reports
            .filter((r) => r.type === 'component.applied' && 'componentId' in r && r.componentId === cid)
            .at(-1);
          expect(['running', 'failed', 'unhealthy']).toContain(inv?.status);
          expect(inv?.servingHash).toBe(
            lastApplied !== undefined && 'hash' in lastApplied ? lastApplied.hash : undefined,
          );
          const t = rig.host.gate(cid)?.totals();
          if (t !== undefined) {
            expect(t.accepted).toBe(t.answered);
            expect(t.errors).toBe(0);
          }
        }
        // No invocation is dropped: each is answered, or refused with a code.
        let answered = 0;
        for (const call of calls) void call.then(() => answered++);
        await drive(() => answered === calls.length);
        const answers = await Promise.all(calls);
        expect(answers.filter((a) => !/^answered$|^refused:(invoke\.notFound|gate\.overflow)$/.test(a))).toEqual([]);
      }),
      {
        ...propertyRuns,
        numRuns: 50,
        // Pinned: two applies arrive while a link call hangs in `linking`, the second replacing the first in the queue.
        examples: [
          [
            {
              ids: ['a'],
              applies: [
                { component: 0, fault: 'linkHang', links: true, wait: 1, load: 0 },
                { component: 0, fault: 'none', links: false, wait: 0, load: 0 },
                { component: 0, fault: 'none', links: false, wait: 'report', load: 0 },
              ],
            },
          ],
        ],
      },
    );
    console.log(
      `accepted applies: ${applies} (${failed} failed, ${superseded} of them superseded; ${queued} queued behind a cut-over, ${requeued} over a queued one); slowest report ${slowest} ms of ${APPLY_DEADLINE_MS} ms`,
    );
    // Simulated time throughout: the limit only bounds a run on a loaded machine (it takes ~6 s on an idle one).
  }, 120_000);
});
