// The README's fenced code blocks, with the section they stand in, for the tests that run them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './builtPackage';

/** One fenced block of README.md. */
export interface ReadmeBlock {
  /** The info string after the opening fence (`sh`, `ts`, `json`, `mermaid`, or empty). */
  readonly lang: string;
  /** The block's text, ending with a newline. */
  readonly code: string;
  /** The `##`/`###` heading the block stands under, without the hashes. */
  readonly section: string;
}

/** README.md as a string. */
export function readme(): string {
  return readFileSync(join(ROOT, 'README.md'), 'utf8');
}

/** Every fenced block of the README, in order. */
export function readmeBlocks(text = readme()): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = [];
  let section = '';
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (open) {
      if (line === '```') {
        blocks.push({ lang: open.lang, code: `${open.lines.join('\n')}\n`, section });
        open = undefined;
      } else open.lines.push(line);
    } else if (line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
    else if (/^#{2,3} /.test(line)) section = line.replace(/^#+ /, '');
  }
  if (open) throw new Error(`README.md: unclosed \`\`\`${open.lang} block in "${section}"`);
  return blocks;
}

/** The lines between `// example:start` and `// example:end` of an example file. */
export function exampleRegion(file: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.indexOf('// example:start');
  const end = lines.indexOf('// example:end');
  if (start < 0 || end < start) throw new Error(`${file}: no // example:start … // example:end region`);
  return `${lines.slice(start + 1, end).join('\n')}\n`;
}

/**
 * The commands of a shell block as a person types them: comments and blank lines dropped, a trailing
 * `# comment` removed, and whether the line ends in `&` (started in the background).
 */
export function shellCommands(code: string): { command: string; background: boolean; comment: string }[] {
  return code
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const hash = line.search(/\s+#\s/);
      const comment = hash < 0 ? '' : line.slice(hash).replace(/^\s+#\s*/, '');
      const command = (hash < 0 ? line : line.slice(0, hash)).trim();
      const background = command.endsWith('&');
      return { command: background ? command.slice(0, -1).trim() : command, background, comment };
    });
}
