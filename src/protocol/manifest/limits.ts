// The manifest reader's input limits: bytes, keys and nesting depth of a wadm manifest's text, checked by one
// linear scan before the YAML parser sees it, so an oversized manifest is refused in a scan's time and memory
// instead of a parse's. It owns those limits and the scan; it must not parse YAML nor check manifest content.
import { CutoverError } from '../../errors';
import type { InputLimits } from '../limits';

/** Limits of a manifest's text: wadm manifests are a few KB; these leave room for very large apps. */
export const MANIFEST_LIMITS: InputLimits = { bytes: 128 * 1024, keys: 1_000, depth: 32 };

/**
 * Refuses manifest text over {@link MANIFEST_LIMITS} with `message.tooLarge`. Keys are counted as `:` ending a
 * token (`key: value`, `"key":`), depth as indentation levels, `- ` items and open brackets on a line: an
 * over-estimate for odd text, exact for ordinary manifests.
 */
export function checkManifestLimits(text: string, limits: InputLimits = MANIFEST_LIMITS): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.bytes)
    throw new CutoverError('message.tooLarge', `manifest of ${bytes} bytes is over ${limits.bytes}`);
  let keys = 0;
  let brackets = 0;
  const indents: number[] = [];
  for (const line of text.split('\n')) {
    let i = 0;
    while (line[i] === ' ') i++;
    if (i === line.length || line[i] === '#') continue;
    while (indents.length > 0 && (indents.at(-1) as number) >= i) indents.pop();
    indents.push(i);
    let dashes = 0;
    for (let j = i; line[j] === '-' && line[j + 1] === ' '; j += 2) {
      dashes++;
      while (line[j + 2] === ' ') j++;
    }
    const base = indents.length + dashes;
    if (base + Math.max(brackets, 0) > limits.depth) throw deep(limits);
    for (let j = i; j < line.length; j++) {
      const c = line[j];
      if (c === ':' && (j + 1 === line.length || line[j + 1] === ' ' || line[j - 1] === '"')) keys++;
      else if (c === '{' || c === '[') {
        if (base + ++brackets > limits.depth) throw deep(limits);
      } else if (c === '}' || c === ']') brackets--;
    }
    if (keys > limits.keys) throw new CutoverError('message.tooLarge', `manifest has more than ${limits.keys} keys`);
  }
}

const deep = (limits: InputLimits) =>
  new CutoverError('message.tooLarge', `manifest nests deeper than ${limits.depth}`);
