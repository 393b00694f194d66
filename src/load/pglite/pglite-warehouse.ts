import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect } from '../queries.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';

/** PGlite reads a COPY's data from one in-memory blob; this bounds each blob (and so memory) per statement. */
export const PGLITE_COPY_CHUNK_BYTES = 16 * 1024 * 1024;
/** A lock not refreshed for this long belongs to a process that died: the next command takes it over. */
const LOCK_STALE_MS = 10_000;

/** The embedded warehouse: PostgreSQL compiled to WebAssembly, in this process, with its data on disk. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = postgresDialect;

  private constructor(
    private readonly db: PGlite,
    readonly description: string,
    private readonly unlock: () => Promise<void>,
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
      return new PgliteWarehouse(db, `PGlite at ${dataDir}`, unlock);
    } catch (error) {
      await unlock();
      throw new EtlError(`Cannot open the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${describeError(error)}`);
    }
  }

  /** The directory is locked from `open` to `close`. */
  async lockRuns(): Promise<void> {}

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const result = await this.db.query<Record<string, unknown>>(sql, params);
    return { fields: result.fields.map((f) => f.name), rows: result.rows };
  }

  async copyCsv(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    const sql = copyCsv(table, "'/dev/blob'");
    let parts: (string | Buffer)[] = [];
    let size = 0;
    let rows = 0;
    const flush = async () => {
      if (size === 0) return;
      const result = await this.db.query(sql, [], { blob: new Blob(parts as unknown as ConstructorParameters<typeof Blob>[0]) });
      rows += result.affectedRows ?? 0;
      parts = [];
      size = 0;
    };
    for await (const chunk of chunks) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= PGLITE_COPY_CHUNK_BYTES) await flush();
    }
    await flush();
    return rows;
  }

  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    return this.copyCsv(table, area.read(table));
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.db.exec('BEGIN');
    try {
      const result = await work();
      await this.db.exec('COMMIT');
      return result;
    } catch (error) {
      await this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.unlock();
    }
  }
}
