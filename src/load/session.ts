import type { QueryResult } from './warehouse.js';

/** A statement's rows, and how many rows it changed where the engine says (INSERT, UPDATE, DELETE, COPY). */
export interface SessionResult extends QueryResult {
  readonly rowCount: number | undefined;
}

/**
 * One connection to a warehouse: what the engines' Warehouse classes send their SQL through. The real ones
 * wrap `pg` (PostgreSQL, Redshift) and PGlite; `RecordingSession` keeps the statements instead, for
 * `--print-sql` and the Redshift conformance tests.
 */
export interface Session {
  query(sql: string, params?: readonly unknown[]): Promise<SessionResult>;
  /** `COPY ... FROM STDIN` (or PGlite's '/dev/blob'): streams `chunks` as the COPY's data; resolves to rows loaded. */
  copyIn(sql: string, chunks: AsyncIterable<string | Buffer>): Promise<number>;
  close(): Promise<void>;
}

/** Runs `work` between BEGIN and COMMIT on `session`; rolls back and rethrows when it fails. */
export async function inSessionTransaction<T>(session: Session, work: () => Promise<T>): Promise<T> {
  await session.query('BEGIN');
  try {
    const result = await work();
    await session.query('COMMIT');
    return result;
  } catch (error) {
    await session.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
