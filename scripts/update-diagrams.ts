// Regenerates the Mermaid diagrams of the machines in README.md, between the markers
// `<!-- diagram:NAME:start -->` and `<!-- diagram:NAME:end -->` (added under `## Diagrams` when absent).
// Run: node --import tsx scripts/update-diagrams.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIAGRAM_MACHINES, type DiagramName, renderDiagram } from '../src/cli/commands/diagram';

/** The command that refreshes the README diagrams. */
export const UPDATE_COMMAND = 'node --import tsx scripts/update-diagrams.ts';

const CAPTIONS: Record<DiagramName, string> = {
  component:
    'The **component** machine (host side, one actor per component or provider instance), from `cutover diagram component`:',
  rollout: 'The **rollout** machine (orchestrator side, one actor per rollout), from `cutover diagram rollout`:',
};

export const DIAGRAM_NAMES = Object.keys(DIAGRAM_MACHINES) as DiagramName[];

const start = (name: string) => `<!-- diagram:${name}:start -->`;
const end = (name: string) => `<!-- diagram:${name}:end -->`;

/** The text between (and including) the markers of one diagram. */
export function diagramSection(name: DiagramName, mermaid: string): string {
  return [start(name), CAPTIONS[name], '', '```mermaid', mermaid.trimEnd(), '```', end(name)].join('\n');
}

/** `readme` with each diagram's marked section replaced; missing sections are added under `## Diagrams`. */
export function spliceDiagrams(readme: string, diagrams: Partial<Record<DiagramName, string>>): string {
  let text = readme;
  const missing: string[] = [];
  for (const name of DIAGRAM_NAMES) {
    const mermaid = diagrams[name];
    if (mermaid === undefined) continue;
    const section = diagramSection(name, mermaid);
    const from = text.indexOf(start(name));
    const to = text.indexOf(end(name));
    if (from === -1 || to === -1 || to < from) {
      missing.push(section);
      continue;
    }
    text = `${text.slice(0, from)}${section}${text.slice(to + end(name).length)}`;
  }
  if (missing.length === 0) return text;
  const heading = /^## Diagrams[ \t]*\r?\n/m.exec(text);
  if (heading === null) throw new Error('README.md has no "## Diagrams" heading to put the diagrams under');
  const at = heading.index + heading[0].length;
  return `${text.slice(0, at)}\n${missing.join('\n\n')}\n${text.slice(at)}`;
}

/** Every machine's current Mermaid diagram. */
export async function currentDiagrams(): Promise<Record<DiagramName, string>> {
  const out = {} as Record<DiagramName, string>;
  for (const name of DIAGRAM_NAMES) out[name] = await renderDiagram(name, 'mermaid');
  return out;
}

const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const before = readFileSync(readmePath, 'utf8');
  const after = spliceDiagrams(before, await currentDiagrams());
  if (after === before) {
    process.stdout.write('README.md diagrams are up to date\n');
  } else {
    writeFileSync(readmePath, after);
    process.stdout.write(`README.md diagrams updated (${DIAGRAM_NAMES.join(', ')})\n`);
  }
}
