import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Config } from '../../config/config.js';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect, RUN_LOCK_KEY, tryRunLock, type Dialect } from '../queries.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';

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

/**
 * A PostgreSQL server through one `pg` connection (one connection keeps transactions and temp tables
 * together). Staging streams CSV through `COPY ... FROM STDIN` with backpressure.
 */
export class PostgresWarehouse implements Warehouse {
  readonly engine: 'postgres' | 'redshift' = 'postgres';
  readonly dialect: Dialect = postgresDialect;

  protected constructor(
    protected readonly client: pg.Client,
    readonly description: string,
  ) {}

  /** Connection settings shared with the Redshift engine; `ssl` as the engine requires. */
  protected static async connect(engine: string, cluster: Cluster, ssl: pg.ClientConfig['ssl']): Promise<pg.Client> {
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
    return client;
  }

  static async open(cluster: Cluster): Promise<PostgresWarehouse> {
    const ssl = cluster.ssl === 'require' ? { rejectUnauthorized: true } : false;
    const client = await PostgresWarehouse.connect('PostgreSQL', cluster, ssl);
    return new PostgresWarehouse(client, `PostgreSQL at ${cluster.host}:${cluster.port}/${cluster.database}`);
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const result = await this.client.query({ text: sql, values: params });
    return { fields: result.fields.map((f) => f.name), rows: result.rows as Record<string, unknown>[] };
  }

  async copyCsv(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    const copy = this.client.query(copyFrom(copyCsv(table, 'STDIN')));
    await pipeline(Readable.from(chunks, { objectMode: false }), copy);
    return copy.rowCount ?? 0;
  }

  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>, _area?: () => StagingArea): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    return this.copyCsv(table, area.read(table));
  }

  async lockRuns(): Promise<void> {
    const { rows } = await this.query(tryRunLock);
    if (rows[0]?.locked !== true) {
      throw new EtlError(`Another etl command is working on ${this.description} (it holds advisory lock ${RUN_LOCK_KEY}): wait for it to finish, then run this again`);
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.client.query('BEGIN');
    try {
      const result = await work();
      await this.client.query('COMMIT');
      return result;
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
