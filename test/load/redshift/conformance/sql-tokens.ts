/**
 * A small SQL tokenizer for the Redshift conformance rules: words, quoted identifiers, string literals
 * (standard '' escapes and, as Redshift reads them, backslash escapes), numbers, parameters ($1) and
 * operators, with comments dropped. Deliberately no parser: generic SQL parsers accept SQL Redshift rejects
 * and reject MERGE and COPY, which it accepts; the rules look at token patterns the docs name instead.
 */

export type TokenType = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'op';

export interface Token {
  readonly type: TokenType;
  /** As written (a quoted identifier without its quotes). */
  readonly text: string;
  /** Words and operators upper-cased, for matching keywords. */
  readonly upper: string;
  /** Depth of parentheses the token stands in (0 at the top level). */
  readonly depth: number;
}

const OPERATORS = ['::', '<>', '<=', '>=', '!=', '||'];

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  const push = (type: TokenType, text: string) => tokens.push({ type, text, upper: type === 'word' || type === 'op' ? text.toUpperCase() : text, depth });
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (c === "'") {
      let value = '';
      for (i++; i < sql.length; i++) {
        if (sql[i] === '\\') value += sql[++i] ?? '';
        else if (sql[i] === "'" && sql[i + 1] === "'") value += sql[++i];
        else if (sql[i] === "'") break;
        else value += sql[i];
      }
      i++;
      push('string', value);
    } else if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      push('quoted', sql.slice(i + 1, end === -1 ? sql.length : end));
      i = end === -1 ? sql.length : end + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))![0];
      push('word', word);
      i += word.length;
    } else if (/[0-9]/.test(c)) {
      const number = /^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?/.exec(sql.slice(i))![0];
      push('number', number);
      i += number.length;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      const param = /^\$[0-9]+/.exec(sql.slice(i))![0];
      push('param', param);
      i += param.length;
    } else {
      const op = OPERATORS.find((o) => sql.startsWith(o, i)) ?? c;
      if (op === ')') depth--;
      push('op', op);
      if (op === '(') depth++;
      i += op.length;
    }
  }
  return tokens;
}

/** The index of the `)` closing the `(` at `open`, or the last index when unbalanced. */
export function closingParen(tokens: readonly Token[], open: number): number {
  const depth = tokens[open]!.depth;
  for (let i = open + 1; i < tokens.length; i++) if (tokens[i]!.upper === ')' && tokens[i]!.depth === depth) return i;
  return tokens.length - 1;
}

/** Whether the words `sequence` (upper case) start at `i`. */
export const wordsAt = (tokens: readonly Token[], i: number, ...sequence: string[]): boolean =>
  sequence.every((word, k) => tokens[i + k]?.upper === word && tokens[i + k]?.type !== 'string' && tokens[i + k]?.type !== 'quoted');

/** The statement's first word, upper case: its command. */
export const command = (tokens: readonly Token[]): string => tokens[0]?.upper ?? '';
