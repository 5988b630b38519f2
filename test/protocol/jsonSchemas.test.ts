// schemas/*.schema.json are generated from the zod schemas and shipped in the package: this fails when a
// committed file is stale (a strategy, revision or status field changed without regenerating them), and checks
// that what they describe is what people write and what the orchestrator reports.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JSON_SCHEMAS_COMMAND, JSON_SCHEMAS_DIR, renderJsonSchemas } from '../../scripts/json-schemas';

describe('schemas/*.schema.json', () => {
  it(`are what \`${JSON_SCHEMAS_COMMAND}\` generates from the zod schemas`, () => {
    const generated = renderJsonSchemas();
    const committed = readdirSync(JSON_SCHEMAS_DIR).filter((f) => f.endsWith('.schema.json'));
    expect(committed.sort()).toEqual(generated.map((g) => g.file).sort());
    for (const { file, text } of generated) {
      const onDisk = readFileSync(`${JSON_SCHEMAS_DIR}${file}`, 'utf8');
      if (onDisk !== text) throw new Error(`schemas/${file} is stale: run \`${JSON_SCHEMAS_COMMAND}\``);
      expect(onDisk).toBe(text);
    }
  });

  it('describe strategy files and revisions as people write them, and status as it is reported', () => {
    const byFile = Object.fromEntries(renderJsonSchemas().map(({ file, text }) => [file, JSON.parse(text)]));
    const strategy = byFile['strategy.schema.json'];
    // The input side: a field with a default is optional in a strategy file.
    const rolling = strategy.oneOf.find(
      (s: { properties: { type: { const: string } } }) => s.properties.type.const === 'rolling',
    );
    expect(rolling.required).toEqual(['type']);
    expect(rolling.properties.maxParallel.default).toBe('25%');
    // The output side: every field of a status is always there.
    const status = byFile['app-status.schema.json'];
    for (const field of ['versions', 'step', 'pause', 'held', 'promotion', 'analyses', 'plannedBatches', 'hosts']) {
      expect(status.required).toContain(field);
    }
    expect(status.additionalProperties).toBe(false);
    const history = byFile['history-entry.schema.json'];
    expect(Object.keys(history.properties)).toEqual(
      expect.arrayContaining(['analyses', 'promotions', 'heldMs', 'startedAt', 'finishedAt']),
    );
    expect(byFile['app-revision.schema.json'].required).toEqual(expect.arrayContaining(['app', 'version']));
  });
});
