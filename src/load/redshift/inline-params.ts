import type { Session, SessionResult } from '../session.js';
import { sqlString } from './copy.js';

/** `value` as a SQL literal: a string quoted by `sqlString`, a finite number as written, null as NULL. */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a SQL literal`);
    return String(value);
  }
  if (typeof value === 'string') return sqlString(value);
  throw new Error(`cannot write a ${typeof value} as a SQL literal`);
}

/** `sql` with each $n outside string literals and quoted names replaced by the literal of `params[n - 1]`. */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  if (params.length === 0) return sql;
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      // Copy the quoted text whole: a doubled quote stays inside, and so does a backslash escape in a literal.
      let end = i + 1;
      while (end < sql.length) {
        if (c === "'" && sql[end] === '\\') end += 2;
        else if (sql[end] === c && sql[end + 1] === c) end += 2;
        else if (sql[end] === c) break;
        else end++;
      }
      out += sql.slice(i, end + 1);
      i = end;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      const digits = /^[0-9]+/.exec(sql.slice(i + 1))![0];
      const index = Number(digits) - 1;
      if (index >= params.length) throw new Error(`statement refers to $${digits}, but ${params.length} values were given`);
      out += literal(params[index]);
      i += digits.length;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * A session that writes its parameters into the statement as literals before sending it (Redshift): what the
 * server receives is plain SQL text, the form its documentation describes.
 */
export class InlineParamsSession implements Session {
  constructor(private readonly inner: Session) {}

  query(sql: string, params: readonly unknown[] = []): Promise<SessionResult> {
    return this.inner.query(inlineParams(sql, params));
  }

  copyIn(sql: string, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.inner.copyIn(sql, chunks);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
