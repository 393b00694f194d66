import type { Config } from '../../config/config.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect, type Dialect } from '../queries.js';
import { RunLease } from '../run-lease.js';
import { inSessionTransaction, type Session } from '../session.js';
import type { QueryResult, RunLockOptions, Warehouse } from '../warehouse.js';
import { PgSession } from './pg-session.js';

export { connectionError } from './pg-session.js';

type Cluster = Config['cluster'];

/**
 * A PostgreSQL server through one connection (one connection keeps transactions and temp tables together).
 * Staging streams CSV through `COPY ... FROM STDIN` with backpressure. The run lock is a lease row, held on a
 * second connection (`RunLease`).
 */
export class PostgresWarehouse implements Warehouse {
  readonly engine: 'postgres' | 'redshift' = 'postgres';
  readonly dialect: Dialect = postgresDialect;
  private lease: RunLease | undefined;

  constructor(
    protected readonly session: Session,
    readonly description: string,
    /** Opens another connection to the same database, for the run lock. */
    private readonly connectAgain: () => Promise<Session>,
    readonly transport = 'unencrypted',
  ) {}

  static async open(cluster: Cluster): Promise<PostgresWarehouse> {
    const ssl = cluster.ssl === 'require' ? { rejectUnauthorized: true } : false;
    const connect = () => PgSession.connect('PostgreSQL', cluster, ssl);
    const transport = ssl ? 'TLS (certificate verified)' : 'unencrypted (CLUSTER.SSL = require for TLS)';
    return new PostgresWarehouse(await connect(), `PostgreSQL at ${cluster.host}:${cluster.port}/${cluster.database}`, connect, transport);
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    const { fields, rows } = await this.session.query(sql, params);
    return { fields, rows };
  }

  async copyCsv(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.session.copyIn(copyCsv(table, 'STDIN'), chunks);
  }

  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>, _area?: () => StagingArea): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    return this.copyCsv(table, area.read(table));
  }

  async lockRuns(options: RunLockOptions): Promise<void> {
    this.lease ??= await RunLease.take(await this.connectAgain(), this.description, { ...options, liveSession: this.dialect.liveSession });
  }

  assertRunLock(): void {
    this.lease?.check();
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return inSessionTransaction(this.session, work);
  }

  /** On a connection of its own: the pipeline's may be in the middle of a statement or a transaction. */
  async queryOnInterrupt(sql: string, params: readonly unknown[] = []): Promise<void> {
    const session = await this.connectAgain();
    try {
      await session.query(sql, params);
    } finally {
      await session.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    try {
      await this.session.close();
    } finally {
      const lease = this.lease;
      this.lease = undefined;
      await lease?.release().catch(() => {});
    }
  }
}
