import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { StagingTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect } from '../queries.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';

/** PGlite reads a COPY's data from one in-memory blob; this bounds each blob (and so memory) per statement. */
export const PGLITE_COPY_CHUNK_BYTES = 16 * 1024 * 1024;

/** The embedded warehouse: PostgreSQL compiled to WebAssembly, in this process, with its data on disk. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = postgresDialect;

  private constructor(
    private readonly db: PGlite,
    readonly description: string,
  ) {}

  static async open(dataDir: string): Promise<PgliteWarehouse> {
    await mkdir(dirname(dataDir), { recursive: true });
    try {
      const db = await PGlite.create(dataDir, { parsers: TYPE_PARSERS });
      return new PgliteWarehouse(db, `PGlite at ${dataDir}`);
    } catch (error) {
      throw new EtlError(`Cannot open the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${describeError(error)}`);
    }
  }

  async query(sql: string, params: unknown[] = []): Promise<QueryResult> {
    const result = await this.db.query<Record<string, unknown>>(sql, params);
    return { fields: result.fields.map((f) => f.name), rows: result.rows };
  }

  async copyCsv(table: StagingTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
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

  loadStream(table: StagingTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: StagingTable, area: StagingArea): Promise<number> {
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
    await this.db.close();
  }
}
