import type { Session, SessionResult } from './session.js';

/** One statement a session was sent: its text, its parameters, and which connection sent it. */
export interface RecordedStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** 'main' for the pipeline's connection, 'run lock' for the lease's own connection. */
  readonly session: string;
}

/** Answers a statement: the rows it returns (default none) and its row count. */
export type Responder = (sql: string, params: readonly unknown[]) => { rows?: Record<string, unknown>[]; rowCount?: number } | undefined;

/**
 * A warehouse connection that runs nothing: it records every statement, in order, into a log shared by the
 * sessions of one warehouse, and answers from `respond`. The pipeline runs on it unchanged, so what it
 * records is exactly what the pipeline sends: `--print-sql` prints it, the Redshift conformance tests check it.
 * COPY data sent from the client is drained and counted as rows (one per line), never stored.
 */
export class RecordingSession implements Session {
  constructor(
    readonly log: RecordedStatement[],
    private readonly respond: Responder = () => undefined,
    readonly name = 'main',
  ) {}

  /** Another connection of the same warehouse, recording into the same log. */
  sibling(name: string): RecordingSession {
    return new RecordingSession(this.log, this.respond, name);
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<SessionResult> {
    this.log.push({ sql, params, session: this.name });
    const answer = this.respond(sql, params) ?? {};
    const rows = answer.rows ?? [];
    return { fields: Object.keys(rows[0] ?? {}), rows, rowCount: answer.rowCount };
  }

  async copyIn(sql: string, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    this.log.push({ sql, params: [], session: this.name });
    let rows = 0;
    for await (const chunk of chunks) rows += String(chunk).split('\n').length - 1;
    return rows;
  }

  async close(): Promise<void> {}
}

/**
 * Whether `sql` is `template` with its $n parameters filled in (as literals, the way the Redshift engine
 * sends them, or still as $n).
 */
export function isStatement(sql: string, template: string): boolean {
  const pattern = template
    .split(/\$\d+/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('(?:\\$\\d+|.+?)');
  return new RegExp(`^${pattern}$`, 's').test(sql);
}
