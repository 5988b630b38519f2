import { CutoverError } from 'cutover';

interface Node<T> {
  literal: Map<string, Node<T>> | undefined;
  star: Node<T> | undefined;
  /** Entries whose pattern ends in `>` at this depth. */
  tail: Set<T> | undefined;
  /** Entries whose pattern ends exactly here. */
  exact: Set<T> | undefined;
}

const node = <T>(): Node<T> => ({ literal: undefined, star: undefined, tail: undefined, exact: undefined });

const WHITESPACE = /\s/;

/** Splits a subscription pattern into tokens, rejecting what NATS rejects. */
export function patternTokens(subject: string): string[] {
  const tokens = splitSubject(subject);
  const gt = tokens.indexOf('>');
  if (gt !== -1 && gt !== tokens.length - 1) {
    throw new CutoverError('transport.invalidSubject', `invalid subject "${subject}": ">" must be the last token`, {
      subject,
    });
  }
  return tokens;
}

/** Splits a publish subject into tokens; wildcards are not allowed there. */
export function literalTokens(subject: string): string[] {
  const tokens = splitSubject(subject);
  for (const t of tokens) {
    if (t === '*' || t === '>') {
      throw new CutoverError('transport.invalidSubject', `invalid subject "${subject}": cannot publish to a wildcard`, {
        subject,
      });
    }
  }
  return tokens;
}

function splitSubject(subject: string): string[] {
  const tokens = subject.split('.');
  if (subject.length === 0 || WHITESPACE.test(subject) || tokens.some((t) => t.length === 0)) {
    throw new CutoverError(
      'transport.invalidSubject',
      `invalid subject "${subject}": tokens must be non-empty and without whitespace`,
      { subject },
    );
  }
  return tokens;
}

/**
 * Subscriptions indexed by subject token (a trie), so matching a subject costs its token count, not the
 * number of subscriptions. `*` is one token, `>` one or more trailing tokens, as in NATS.
 */
export class SubjectIndex<T> {
  readonly #root: Node<T> = node();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(tokens: readonly string[], entry: T): void {
    let at = this.#root;
    for (const [i, t] of tokens.entries()) {
      if (t === '>' && i === tokens.length - 1) {
        at.tail ??= new Set();
        at.tail.add(entry);
        this.#size++;
        return;
      }
      if (t === '*') {
        at.star ??= node();
        at = at.star;
      } else {
        at.literal ??= new Map();
        let next = at.literal.get(t);
        if (next === undefined) {
          next = node();
          at.literal.set(t, next);
        }
        at = next;
      }
    }
    at.exact ??= new Set();
    at.exact.add(entry);
    this.#size++;
  }

  remove(tokens: readonly string[], entry: T): void {
    const path: Array<{ parent: Node<T>; token: string }> = [];
    let at: Node<T> | undefined = this.#root;
    let removed = false;
    for (const [i, t] of tokens.entries()) {
      if (t === '>' && i === tokens.length - 1) {
        removed = at.tail?.delete(entry) ?? false;
        if (at.tail?.size === 0) at.tail = undefined;
        break;
      }
      const next: Node<T> | undefined = t === '*' ? at.star : at.literal?.get(t);
      if (next === undefined) return;
      path.push({ parent: at, token: t });
      at = next;
      if (i === tokens.length - 1) {
        removed = at.exact?.delete(entry) ?? false;
        if (at.exact?.size === 0) at.exact = undefined;
      }
    }
    if (!removed) return;
    this.#size--;
    // Prune emptied nodes so churn (many short-lived subscriptions) does not grow the trie.
    for (let i = path.length - 1; i >= 0; i--) {
      const { parent, token } = path[i]!;
      const child = token === '*' ? parent.star : parent.literal?.get(token);
      if (child === undefined || !isEmpty(child)) break;
      if (token === '*') parent.star = undefined;
      else {
        parent.literal?.delete(token);
        if (parent.literal?.size === 0) parent.literal = undefined;
      }
    }
  }

  /** Every entry whose pattern matches the literal subject `tokens`, each once. */
  match(tokens: readonly string[], out: T[] = []): T[] {
    collect(this.#root, tokens, 0, out);
    return out;
  }
}

function isEmpty<T>(n: Node<T>): boolean {
  return n.literal === undefined && n.star === undefined && n.tail === undefined && n.exact === undefined;
}

function collect<T>(at: Node<T>, tokens: readonly string[], i: number, out: T[]): void {
  if (i === tokens.length) {
    if (at.exact !== undefined) for (const e of at.exact) out.push(e);
    return;
  }
  if (at.tail !== undefined) for (const e of at.tail) out.push(e);
  const lit = at.literal?.get(tokens[i]!);
  if (lit !== undefined) collect(lit, tokens, i + 1, out);
  if (at.star !== undefined) collect(at.star, tokens, i + 1, out);
}
