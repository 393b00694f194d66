import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Config } from '../../config/config.js';
import { EtlError, describeError } from '../../errors.js';
import type { Session, SessionResult } from '../session.js';
import { TYPE_PARSERS } from '../warehouse.js';

const types = {
  getTypeParser: ((oid: number, format?: string) => TYPE_PARSERS[oid] ?? pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

type Cluster = Config['cluster'];

/** The one-line reason a connection failed, naming the setting to check. */
export function connectionError(engine: string, cluster: Cluster, error: unknown): EtlError {
  const code = (error as { code?: string }).code;
  const where = `${engine} at ${cluster.host}:${cluster.port}, database ${cluster.database}, user ${cluster.user}`;
  const hint: Record<string, string> = {
    ECONNREFUSED: 'connection refused: is the server running? (CLUSTER.HOST, CLUSTER.DB_PORT)',
    ENOTFOUND: 'host not found (CLUSTER.HOST)',
    ETIMEDOUT: 'connection timed out: check CLUSTER.HOST, CLUSTER.DB_PORT and the network or security group',
    '3D000': 'the database does not exist (CLUSTER.DB_NAME)',
    '28P01': 'password authentication failed (CLUSTER.DB_USER, CLUSTER.DB_PASSWORD)',
    '28000': 'the server rejected this user (CLUSTER.DB_USER, pg_hba.conf)',
  };
  return new EtlError(`Cannot connect to ${where}: ${(code && hint[code]) ?? describeError(error)}`, { cause: error });
}

/** One `pg` connection (PostgreSQL or Redshift): one connection keeps transactions and temp tables together. */
export class PgSession implements Session {
  private constructor(private readonly client: pg.Client) {}

  /** Connects; `engine` names the server in messages, `ssl` is what the engine requires. */
  static async connect(engine: string, cluster: Cluster, ssl: pg.ClientConfig['ssl']): Promise<PgSession> {
    const client = new pg.Client({
      host: cluster.host,
      port: cluster.port,
      database: cluster.database,
      user: cluster.user,
      // Empty means "not set here": pg then uses PGPASSWORD or ~/.pgpass, or trust auth needs none.
      password: cluster.password === '' ? undefined : cluster.password,
      ssl,
      types,
      connectionTimeoutMillis: 15_000,
      application_name: 'sparkify-etl',
    });
    // A dropped connection must not crash the process; the next query reports it.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      throw connectionError(engine, cluster, error);
    }
    return new PgSession(client);
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<SessionResult> {
    const result = await this.client.query({ text: sql, values: [...params] });
    return { fields: result.fields.map((f) => f.name), rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? undefined };
  }

  async copyIn(sql: string, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    const copy = this.client.query(copyFrom(sql));
    await pipeline(Readable.from(chunks, { objectMode: false }), copy);
    return copy.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
