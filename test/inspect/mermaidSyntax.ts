// A checker for the subset of Mermaid `stateDiagram-v2` that toMermaid writes, following the lexer rules of
// Mermaid 11's state grammar: ids are `[^:\n\s\-{]+` (we require plain words), a label runs to the end of
// the line and may not hold `;` or `::`, quoted names may not hold `"`, and a state is created in the block
// where it is first named (so every transition must name states already declared).

const ID = '[A-Za-z_][A-Za-z0-9_]*';
const END = `(?:${ID}|\\[\\*\\])`;
const LABEL = '(?:[^:\\n;]|:[^:\\n;])+';
const KEYWORDS = new Set([
  'state',
  'note',
  'class',
  'classdef',
  'style',
  'scale',
  'default',
  'click',
  'href',
  'end',
  'direction',
]);

const forms = {
  header: /^stateDiagram-v2$/,
  direction: /^direction (TB|BT|LR|RL)$/,
  declare: new RegExp(`^state "([^"]*)" as (${ID})$`),
  open: new RegExp(`^state "([^"]*)" as (${ID}) \\{$`),
  close: /^\}$/,
  divider: /^--$/,
  describe: new RegExp(`^(${ID}) :(${LABEL})$`),
  transition: new RegExp(`^(${END}) --> (${END})(?: :(${LABEL}))?$`),
} as const;

/** Problems found in `text`; empty when it is valid in the subset. */
export function mermaidProblems(text: string): string[] {
  const problems: string[] = [];
  const declared = new Set<string>();
  let depth = 0;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const at = `line ${i + 1} "${line}"`;
    if (i === 0) {
      if (!forms.header.test(line)) problems.push(`${at}: not a stateDiagram-v2 header`);
      return;
    }
    const checkId = (id: string) => {
      if (KEYWORDS.has(id.toLowerCase())) problems.push(`${at}: id "${id}" is a Mermaid keyword`);
    };
    if (forms.direction.test(line) || forms.divider.test(line)) return;
    const state = forms.open.exec(line) ?? forms.declare.exec(line);
    if (state !== null) {
      const id = state[2] ?? '';
      checkId(id);
      if (declared.has(id)) problems.push(`${at}: "${id}" declared twice`);
      declared.add(id);
      if (line.endsWith('{')) depth++;
      return;
    }
    if (forms.close.test(line)) {
      depth--;
      if (depth < 0) problems.push(`${at}: unbalanced "}"`);
      return;
    }
    const transition = forms.transition.exec(line);
    if (transition !== null) {
      // `[*] --> id` names the initial state of the block it stands in, just before that state's declaration.
      const named = transition[1] === '[*]' ? [] : [transition[1], transition[2]];
      for (const id of named) {
        if (id !== undefined && id !== '[*]' && !declared.has(id))
          problems.push(`${at}: "${id}" used before it is declared`);
      }
      return;
    }
    const description = forms.describe.exec(line);
    if (description !== null) {
      if (!declared.has(description[1] ?? '')) problems.push(`${at}: description of an undeclared state`);
      return;
    }
    problems.push(`${at}: not a statement Mermaid's state grammar accepts here`);
  });
  if (depth !== 0) problems.push(`unbalanced braces (depth ${depth} at the end)`);
  return problems;
}
