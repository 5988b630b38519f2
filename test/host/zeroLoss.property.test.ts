import fc from 'fast-check';
import { linkKey, specHash } from 'cutover';
import { describe, expect, it } from 'vitest';
import { apiSpec, createHostRig, echoImage, fenced, kvSpec, providerApply } from '../fixtures/host';

const FAULTS = ['none', 'fetch', 'validate', 'instantiate', 'swap'] as const;
type Fault = (typeof FAULTS)[number];

const command = fc.record({
  version: fc.integer({ min: 1, max: 4 }),
  fault: fc.constantFrom(...FAULTS),
  load: fc.integer({ min: 0, max: 20 }),
  overlap: fc.boolean(),
});

describe('host under random applies, failures and load (property)', () => {
  it('answers every accepted invocation exactly once and serves the last good spec with its links', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 8 }), async (commands) => {
        let refuseBucket: string | undefined;
        await using rig = await createHostRig({
          provider: {
            refuse: (l, op) =>
              op === 'put' && refuseBucket !== undefined && l.sourceConfig.bucket === refuseBucket
                ? 'port in use'
                : undefined,
          },
        });
        await rig.host.apply(providerApply(kvSpec('kv')));
        await rig.host.apply(providerApply(kvSpec('cache')));
        const calls: Array<Promise<string>> = [];
        let answered = 0;
        const fire = (n: number) => {
          for (let i = 0; i < n; i++) {
            calls.push(
              rig.echo(`${calls.length}`).then(
                (a) => {
                  answered++;
                  return a;
                },
                (e: { code: string }) => `refused:${e.code}`,
              ),
            );
          }
        };
        let serving: number | undefined;
        for (const { version, fault, load, overlap } of commands) {
          const publish = (f: Fault) =>
            rig.runtime.publish(
              apiSpec(version).imageRef,
              echoImage(`v${version}`, undefined, {
                ...(f === 'fetch' ? { fetchError: 'registry unreachable' } : {}),
                ...(f === 'validate' ? { validateError: 'bad module' } : {}),
                ...(f === 'instantiate' ? { instantiateError: 'out of memory' } : {}),
              }),
            );
          publish(fault);
          refuseBucket = fault === 'swap' ? `v${version}` : undefined;
          const outcome = rig.host.apply(fenced(apiSpec(version)));
          if (overlap) fire(load);
          const result = await outcome;
          if (!overlap) fire(load);
          const alreadyServing = serving === version;
          const swapFails = fault === 'swap' && serving !== undefined;
          const firstInstallLinkFails = fault === 'swap' && serving === undefined;
          const expectFail =
            !alreadyServing &&
            (fault === 'fetch' ||
              fault === 'validate' ||
              fault === 'instantiate' ||
              swapFails ||
              firstInstallLinkFails);
          expect(result.type, JSON.stringify(result)).toBe(expectFail ? 'component.failed' : 'component.applied');
          if (!expectFail) serving = version;
          refuseBucket = undefined;
          const api = rig.host.inventory().components.find((c) => c.id === 'api');
          // After any apply, the host serves exactly the last spec that applied, with exactly its links.
          expect(api?.servingHash).toBe(serving === undefined ? undefined : specHash(apiSpec(serving)));
          if (serving !== undefined) {
            expect(api?.status).toBe('running');
            const held = [...(rig.host.provider('kv')?.links() ?? []), ...(rig.host.provider('cache')?.links() ?? [])]
              .map(linkKey)
              .sort();
            expect(held).toEqual(apiSpec(serving).links.map(linkKey).sort());
            expect(rig.host.gate('api')?.open).toBe(true);
          }
        }
        const answers = await Promise.all(calls);
        const t = rig.host.gate('api')?.totals();
        if (t !== undefined) {
          // Zero loss: accepted = answered; refusals are explicit codes, never silence.
          expect(t.accepted).toBe(t.answered);
          expect(t.errors).toBe(0);
          expect(t.answered).toBe(answered);
          expect(t.refused).toBe(answers.filter((a) => a.startsWith('refused:')).length);
        }
        expect(answers.every((a) => /^v\d:|^refused:(invoke\.notFound|gate\.overflow)$/.test(a))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
