// Writes docs/cli.md from the CLI's option tables (src/cli/reference.ts). Run: node --import tsx scripts/cli-docs.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderCliReference } from '../src/cli/reference';

/** Where the CLI reference lives. */
export const CLI_DOCS_PATH = fileURLToPath(new URL('../docs/cli.md', import.meta.url));

writeFileSync(CLI_DOCS_PATH, await renderCliReference());
process.stdout.write(`wrote ${CLI_DOCS_PATH}\n`);
