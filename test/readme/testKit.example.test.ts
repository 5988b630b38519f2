// The README's "Testing your scheduler" example, run as written (between the markers), and a check that the
// README shows exactly this code.
// readme:start
import { createTestLattice, testRevision } from 'cutover/testing';
import { expect, it } from 'vitest';

const shop = (v: string) => testRevision({ version: v, components: [{ id: 'api', image: `mem://api:${v}` }] });
it('rolls back when a host fails validation', async () => {
  await using lattice = await createTestLattice({ hosts: 3 });
  for (const v of ['1', '2']) lattice.publish(`mem://api:${v}`);
  const orchestrator = await lattice.orchestrator();
  await lattice.drive((await orchestrator.deploy(shop('1'))).done);
  const stable = lattice.serving('shop');
  lattice.faults.failValidation('h3', { image: 'mem://api:2' });
  const out = await lattice.drive((await orchestrator.deploy(shop('2'))).done);
  expect(out).toMatchObject({ outcome: 'rolledBack', code: 'validate.failed' });
  expect(lattice.serving('shop')).toEqual(stable);
});
// readme:end
import { readFileSync } from 'node:fs';

it('is shown in the README exactly as tested, in at most 15 lines', () => {
  const source = readFileSync(new URL(import.meta.url), 'utf8');
  const example = source.split('// readme:start\n')[1]?.split('// readme:end')[0]?.trimEnd();
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split('\n## Testing your scheduler\n')[1]?.split('\n## ')[0] ?? '';
  const block = section.split('```ts\n')[1]?.split('```')[0]?.trimEnd();
  expect(block).toBe(example);
  expect(example?.split('\n').length).toBeLessThanOrEqual(15);
});
