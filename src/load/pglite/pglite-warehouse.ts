import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect } from '../queries.js';
import { inSessionTransaction, type Session } from '../session.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';
import { PgliteSession } from './pglite-session.js';

export { PGLITE_COPY_CHUNK_BYTES } from './pglite-session.js';

/** A lock not refreshed for this long belongs to a process that died: the next command takes it over. */
const LOCK_STALE_MS = 10_000;

/** The embedded warehouse: PostgreSQL compiled to WebAssembly, in this process, with its data on disk. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = postgresDialect;
  readonly transport = 'in-process';

  constructor(
    private readonly session: Session,
    readonly description: string,
    private readonly unlock: () => Promise<void> = async () => {},
  ) {}

  /**
   * Opens the data directory, locked for this process: two processes writing one PGlite directory would
   * corrupt it. The lock file's mtime is refreshed while open, so a killed process's lock goes stale.
   */
  static async open(dataDir: string): Promise<PgliteWarehouse> {
    await mkdir(dataDir, { recursive: true });
    let unlock: () => Promise<void>;
    try {
      unlock = await lockfile.lock(dataDir, { lockfilePath: `${dataDir}.lock`, stale: LOCK_STALE_MS, update: LOCK_STALE_MS / 4, realpath: false });
    } catch (error) {
      if ((error as { code?: string }).code !== 'ELOCKED') throw new EtlError(`Cannot lock the embedded warehouse at ${dataDir}: ${describeError(error)}`);
      throw new EtlError(`The embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR) is in use by another etl command: wait for it to finish, then run this again`);
    }
    try {
      const db = await PGlite.create(dataDir, { parsers: TYPE_PARSERS });
      return new PgliteWarehouse(new PgliteSession(db), `PGlite at ${dataDir}`, unlock);
    } catch (error) {
      await unlock();
      throw new EtlError(`Cannot open the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${describeError(error)}`);
    }
  }

  /** The directory is locked from `open` to `close`: that is the run lock. */
  async lockRuns(): Promise<void> {}

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    const { fields, rows } = await this.session.query(sql, params);
    return { fields, rows };
  }

  copyCsv(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.session.copyIn(copyCsv(table, "'/dev/blob'"), chunks);
  }

  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    return this.copyCsv(table, area.read(table));
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return inSessionTransaction(this.session, work);
  }

  async close(): Promise<void> {
    try {
      await this.session.close();
    } finally {
      await this.unlock();
    }
  }
}
