import { EtlError, describeError } from '../errors.js';
import type { CsvTable } from '../transform/schema.js';
import { ALL_TABLES, analyzeTable, countRows, createTables as createTableStatements, dropTables, transformSteps, truncateStaging, type StagingTableName, type TableName } from './queries.js';
import type { Warehouse } from './warehouse.js';

/** The original project's create_tables step: drop every table, create them empty. */
export async function createTables(warehouse: Warehouse): Promise<void> {
  await warehouse.transaction(async () => {
    for (const sql of [...dropTables(), ...createTableStatements(warehouse.dialect)]) await warehouse.query(sql);
  });
}

/** Creates missing tables and leaves existing ones (and their rows) alone. */
export async function ensureTables(warehouse: Warehouse): Promise<void> {
  for (const sql of createTableStatements(warehouse.dialect)) await warehouse.query(sql);
}

/** Replaces a staging table's rows with what `load` COPYs into it; resolves to rows loaded. */
export async function stageTable(warehouse: Warehouse, table: CsvTable & { table: StagingTableName | 'staging_objects' }, load: () => Promise<number>): Promise<number> {
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
    const { rows } = await warehouse.query(countRows(table));
    counts[table] = Number(rows[0]?.n ?? 0);
  }
  return counts;
}

/**
 * Staging -> star schema, in one transaction: killed at any point, the analytic tables stay as they were.
 * Resolves to the rows each analytic table gained.
 */
export async function transformStaged(warehouse: Warehouse, onStep?: (name: string) => void): Promise<Record<string, number>> {
  const analytic = ['songplays', 'users', 'songs', 'artists', 'time'] as const;
  return warehouse.transaction(async () => {
    const before = await countTables(warehouse, analytic);
    for (const step of transformSteps(warehouse.dialect)) {
      onStep?.(step.name);
      try {
        await warehouse.query(step.sql);
      } catch (error) {
        throw new EtlError(`Transform step "${step.name}" failed on ${warehouse.description}: ${describeError(error)}`, { cause: error });
      }
    }
    const after = await countTables(warehouse, analytic);
    return Object.fromEntries(analytic.map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
  });
}
