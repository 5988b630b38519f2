// Generates schemas/*.schema.json, the JSON Schemas shipped in the package for editors and scripts: strategy
// files and app revisions as people write them (zod's input side, defaults optional), and what `status`,
// `rollout` and `history` report (the output side). Rendered by zod 4's z.toJSONSchema from the zod schemas
// themselves, so they cannot drift from the code; test/protocol/jsonSchemas.test.ts fails when a committed
// file is stale. Run: node --import tsx scripts/json-schemas.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppStatus, HistoryEntry, RolloutView } from '../src/orchestrator/viewSchemas';
import { WadmManifest } from '../src/protocol/manifest/schema';
import { AppRevision } from '../src/protocol/spec';
import { Strategy } from '../src/protocol/strategy';

/** The command that regenerates schemas/. */
export const JSON_SCHEMAS_COMMAND = 'node --import tsx scripts/json-schemas.ts';
/** Where the schemas live. */
export const JSON_SCHEMAS_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** Each shipped schema: file name, title, zod schema and which side of it (what people write, or what we report). */
const SCHEMAS: ReadonlyArray<[file: string, title: string, schema: z.ZodType, io: 'input' | 'output']> = [
  ['strategy.schema.json', 'cutover strategy (a strategy file)', Strategy, 'input'],
  ['app-revision.schema.json', 'cutover app revision (what a manifest becomes)', AppRevision, 'input'],
  ['wadm-manifest.schema.json', 'wadm application manifest, as cutover reads it', WadmManifest, 'input'],
  [
    'rollout-view.schema.json',
    'cutover rollout view (rollout, deploy, pause, promote ... replies)',
    RolloutView,
    'output',
  ],
  ['app-status.schema.json', 'cutover app status (status)', AppStatus, 'output'],
  ['history-entry.schema.json', 'cutover history entry (history)', HistoryEntry, 'output'],
];

/** Every schema file's name and text, as this version of the code generates them. */
export function renderJsonSchemas(): Array<{ file: string; text: string }> {
  return SCHEMAS.map(([file, title, schema, io]) => {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });
    const { $schema, ...rest } = json;
    return { file, text: `${JSON.stringify({ $schema, title, ...rest }, null, 2)}\n` };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(JSON_SCHEMAS_DIR, { recursive: true });
  for (const { file, text } of renderJsonSchemas()) writeFileSync(`${JSON_SCHEMAS_DIR}${file}`, text);
  process.stdout.write(`wrote ${SCHEMAS.length} schemas to ${JSON_SCHEMAS_DIR}\n`);
}
