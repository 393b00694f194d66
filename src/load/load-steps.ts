import { EtlError, describeError, isMissingTable, missingTables } from '../errors.js';
import type { CsvTable } from '../transform/schema.js';
import {
  ALL_TABLES,
  analyzeTable,
  countRows,
  createTable,
  createTables as createTableStatements,
  dropTables,
  existingTables,
  FILLED_ON_RELOAD,
  legacyColumns,
  markForReload,
  renameLegacyColumn,
  TRANSACTION_LOCK_TABLE,
  transformSteps,
  truncateStaging,
  type StagingTableName,
  type TableName,
} from './queries.js';
import type { Warehouse } from './warehouse.js';

/**
 * `work` in one transaction that first locks the ledger where the engine needs it (Redshift's serializable
 * isolation: "lock first" makes a concurrent transaction wait instead of failing), then applies the engine's
 * session settings for big sorts when `tuned`.
 */
export async function inTransaction<T>(warehouse: Warehouse, work: () => Promise<T>, options: { tuned?: boolean } = {}): Promise<T> {
  return warehouse.transaction(async () => {
    const lock = warehouse.dialect.lockTable(TRANSACTION_LOCK_TABLE);
    if (lock) await warehouse.query(lock);
    if (options.tuned) for (const sql of warehouse.dialect.transformSettings) await warehouse.query(sql);
    return work();
  });
}

/** The original project's create_tables step: drop every table (but those to `keep`), create them empty. */
export async function createTables(warehouse: Warehouse, options: { keep?: readonly TableName[] } = {}): Promise<void> {
  // The table the transaction locks first must exist before it starts.
  await warehouse.query(createTable(warehouse.dialect, TRANSACTION_LOCK_TABLE));
  await inTransaction(warehouse, async () => {
    for (const sql of [...dropTables(options.keep), ...createTableStatements(warehouse.dialect)]) await warehouse.query(sql);
  });
}

/** Rows in each of `tables` that exists and holds some. */
export async function rowsHeld(warehouse: Warehouse, tables: readonly TableName[]): Promise<Partial<Record<TableName, number>>> {
  const held: Partial<Record<TableName, number>> = {};
  for (const table of tables) {
    const n = await warehouse.query(countRows(table)).then(
      ({ rows }) => Number(rows[0]?.n ?? 0),
      (error: unknown) => {
        if (isMissingTable(error)) return 0;
        throw error;
      },
    );
    if (n > 0) held[table] = n;
  }
  return held;
}

/**
 * Creates missing tables and leaves existing ones (and their rows) alone; renames columns of older versions.
 * A table of this version that is filled alongside an analytic table already holding rows (FILLED_ON_RELOAD)
 * has the next run reload the objects that fill it.
 */
export async function ensureTables(warehouse: Warehouse): Promise<void> {
  const existed = new Set((await warehouse.query(existingTables)).rows.map((r) => String(r.table_name)));
  for (const sql of createTableStatements(warehouse.dialect)) await warehouse.query(sql);
  const { rows } = await warehouse.query(legacyColumns);
  for (const row of rows) await warehouse.query(renameLegacyColumn(String(row.table_name), String(row.column_name)));
  for (const { table, alongside, kind } of FILLED_ON_RELOAD) {
    if (existed.has(table) || !existed.has(alongside)) continue;
    if ((await rowsHeld(warehouse, [alongside]))[alongside]) await warehouse.query(markForReload(kind));
  }
}

/** Replaces a staging table's rows with what `load` COPYs into it; resolves to rows loaded. */
export async function stageTable(
  warehouse: Warehouse,
  table: CsvTable & { table: StagingTableName | 'staging_objects' | 'staging_pruned' },
  load: () => Promise<number>,
): Promise<number> {
  await warehouse.query(truncateStaging(table.table));
  try {
    const rows = await load();
    await warehouse.query(analyzeTable(table.table));
    return rows;
  } catch (error) {
    if (error instanceof EtlError) throw error;
    throw new EtlError(`Loading ${table.table} failed on ${warehouse.description}: ${describeError(error)}`, { cause: error });
  }
}

export async function countTables(warehouse: Warehouse, tables: readonly TableName[] = ALL_TABLES): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await warehouse.query(countRows(table)).catch((error: unknown) => {
      throw isMissingTable(error) ? missingTables(warehouse.description, error) : error;
    });
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * Staging -> star schema, in one transaction: killed at any point, the analytic tables stay as they were.
 * Resolves to the rows each analytic table gained.
 */
export async function transformStaged(warehouse: Warehouse, onStep?: (name: string) => { done(): void }): Promise<Record<string, number>> {
  return (await transformCounted(warehouse, onStep)).added;
}

/** `transformStaged`, resolving also to the analytic tables' row counts at its end (no need to count them again). */
export async function transformCounted(
  warehouse: Warehouse,
  onStep?: (name: string) => { done(): void },
): Promise<{ added: Record<string, number>; counts: Record<string, number> }> {
  const analytic = ['songplays', 'users', 'songs', 'artists', 'time'] as const;
  return inTransaction(warehouse, async () => {
    const before = await countTables(warehouse, analytic);
    for (const step of transformSteps(warehouse.dialect)) {
      const shown = onStep?.(step.name);
      try {
        await warehouse.query(step.sql);
        shown?.done();
      } catch (error) {
        throw new EtlError(`Transform step "${step.name}" failed on ${warehouse.description}: ${describeError(error)}`, { cause: error });
      }
    }
    const after = await countTables(warehouse, analytic);
    return { added: Object.fromEntries(analytic.map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)])), counts: after };
  });
}
