import { readFileSync } from 'node:fs';
import { Strategy } from 'cutover';
import { describe, expect, it } from 'vitest';
import { embeddingExample } from './embedding.example';

const read = (rel: string) => readFileSync(new URL(rel, import.meta.url), 'utf8');

/** The lines between `// <name>:start` and `// <name>:end`, de-indented. */
function region(source: string, name: string): string {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => l.includes(`// ${name}:start`));
  const end = lines.findIndex((l) => l.includes(`// ${name}:end`));
  return lines
    .slice(start + 1, end)
    .map((l) => (l.startsWith('  ') ? l.slice(2) : l))
    .join('\n');
}

/** What the README must show: the example's imports, a blank line, its body. */
function exampleText(source: string): string {
  return `${region(source, 'example:imports')}\n\n${region(source, 'example')}`;
}

describe('README', () => {
  it('shows the embedding example exactly as the tested code', () => {
    const readme = read('../../README.md');
    const block = readme.split('## Embedding')[1]?.split('```ts\n')[1]?.split('```')[0];
    expect(block?.trimEnd()).toBe(exampleText(read('./embedding.example.ts')).trimEnd());
  });

  it('shows only strategies that parse, one of each type', () => {
    const section = read('../../README.md').split('## Strategies and plans')[1]?.split('\n## ')[0] ?? '';
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const types = blocks.map((b) => Strategy.parse(JSON.parse(b)).type);
    expect(types).toEqual(['rolling', 'canary', 'blueGreen']);
  });

  it('embedding example rolls the host from v1 to v2 and serves the new version', async () => {
    const logged: unknown[] = [];
    await embeddingExample((...args) => logged.push(...args));
    expect(logged).toContainEqual(expect.objectContaining({ outcome: 'completed' }));
    expect(logged.at(-1)).toBe('v2 hi');
    expect(logged).toContain('completed');
  });
});
