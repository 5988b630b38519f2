import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UPDATE_COMMAND, currentDiagrams, diagramSection, spliceDiagrams } from '../../scripts/update-diagrams';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README diagrams', () => {
  it('match the machines (refresh with the update command when they do not)', async () => {
    const fresh = spliceDiagrams(readme, await currentDiagrams());
    if (fresh !== readme) expect.fail(`README.md diagrams are stale: run \`${UPDATE_COMMAND}\``);
  });

  it('sit between their markers as mermaid blocks under the Diagrams heading', () => {
    const diagrams = readme.slice(readme.indexOf('## Diagrams'));
    for (const name of ['component', 'rollout']) {
      expect(diagrams).toMatch(
        new RegExp(
          `<!-- diagram:${name}:start -->[^]*?\`\`\`mermaid\\nstateDiagram-v2\\n[^]*?\`\`\`\\n<!-- diagram:${name}:end -->`,
        ),
      );
    }
  });
});

describe('spliceDiagrams', () => {
  const doc = ['# title', '', '## Diagrams', '', 'kept text', '', '## Next', 'more', ''].join('\n');

  it('adds missing sections right under the Diagrams heading and changes nothing else', () => {
    const out = spliceDiagrams(doc, {
      component: 'stateDiagram-v2\n  a --> b\n',
      rollout: 'stateDiagram-v2\n  c --> d\n',
    });
    const added = `\n${diagramSection('component', 'stateDiagram-v2\n  a --> b')}\n\n${diagramSection('rollout', 'stateDiagram-v2\n  c --> d')}\n`;
    expect(out).toBe(doc.replace('## Diagrams\n', `## Diagrams\n${added}`));
  });

  it('replaces only what is between the markers', () => {
    const once = spliceDiagrams(doc, { component: 'stateDiagram-v2\n  a --> b\n' });
    const twice = spliceDiagrams(once, { component: 'stateDiagram-v2\n  x --> y\n' });
    expect(twice).toBe(once.replace('  a --> b', '  x --> y'));
    expect(spliceDiagrams(twice, { component: 'stateDiagram-v2\n  x --> y\n' })).toBe(twice);
  });

  it('refuses a document without a Diagrams heading', () => {
    expect(() => spliceDiagrams('# title\n', { component: 'stateDiagram-v2\n' })).toThrow(/## Diagrams/);
  });
});
