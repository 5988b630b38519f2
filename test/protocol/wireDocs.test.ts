// docs/wire.md is generated from the zod schemas: this fails when it is stale (a schema, subject, error code or
// limit changed without regenerating it), so the protocol reference cannot drift from the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WIRE_DOCS_COMMAND, WIRE_DOCS_PATH, renderWireDocs } from '../../scripts/wire-docs';

describe('docs/wire.md', () => {
  it(`is what \`${WIRE_DOCS_COMMAND}\` generates from the schemas`, () => {
    const generated = renderWireDocs();
    const committed = readFileSync(WIRE_DOCS_PATH, 'utf8');
    if (committed !== generated) throw new Error(`docs/wire.md is stale: run \`${WIRE_DOCS_COMMAND}\``);
    expect(committed).toBe(generated);
  });

  it('covers every subject, error code and control message, the fence and the framing', () => {
    const doc = renderWireDocs();
    for (const needle of [
      'wasmbus.ctl.v2alpha1.{lattice}.host.{hostId}.fence',
      'wasmbus.ctl.v2alpha1.{lattice}.hosts.ping',
      'cutover.api.v1alpha1.{lattice}.{op}.{holder}',
      '`invoke.notFound`',
      '`store.tooLarge`',
      '`message.tooLarge`',
      '#### host.fenced',
      '#### component.apply',
      '#### api.rollout',
      '#### LeaseRecord',
      '`0x01`',
      '`component:`',
    ])
      expect(doc).toContain(needle);
  });
});
