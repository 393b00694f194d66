/**
 * Data quality checks on the star schema (`etl check`, and the end of `etl run`): every table has rows, keys are
 * unique and not null, the fact table's references resolve, the last staged batch has all its plays, and
 * levels and time parts are in their domains. The SQL lives in check-queries.ts. A key the engine enforces
 * (a primary key on PostgreSQL and PGlite) is taken from the catalog instead of scanned for duplicates.
 */
import { EtlError, describeError, isMissingTable } from '../errors.js';
import { formatRows } from '../pipeline/format.js';
import { checkQueries, uniqueIndexColumns, type CheckQuery } from './check-queries.js';
import type { Dialect } from './queries.js';
import type { Warehouse } from './warehouse.js';

export interface CheckResult {
  readonly table: string;
  /** What was checked, after the table name: `user_id exists in users`. */
  readonly check: string;
  /** Table and check as one phrase: `songplays.user_id exists in users`. */
  readonly name: string;
  readonly passed: boolean;
  /** Offending rows in all (0 when passed; 0 for an empty table, whose check has no key). */
  readonly count: number;
  /** The key the offenders are named by: `user_id`, `(session_id, item_in_session)`; '' for a whole-table check. */
  readonly key: string;
  /** A few offending keys, rendered: `77`, `(12, 3)`, `NULL`. */
  readonly offending: string[];
}

const renderValue = (value: unknown): string =>
  value === null || value === undefined ? 'NULL' : value instanceof Date ? value.toISOString() : String(value);

const renderKey = (key: readonly string[], row: Record<string, unknown>): string =>
  key.length === 1 ? renderValue(row[key[0]!]) : `(${key.map((c) => renderValue(row[c])).join(', ')})`;

const keyLabel = (key: readonly string[]): string => (key.length === 1 ? key[0]! : key.length > 1 ? `(${key.join(', ')})` : '');

/** Engines whose dialect declares primary keys enforce them (Redshift's declares none: it would not). */
const enforcesKeys = (dialect: Dialect): boolean => dialect.primaryKey(['k']) !== '';

/**
 * Per table, whether a key is enforced unique and not null: some enforced unique index has only columns of
 * the key, and every key column is NOT NULL. Asks the catalog once per table.
 */
function enforcedKeys(warehouse: Warehouse): (table: string, key: readonly string[]) => Promise<boolean> {
  const indexes = new Map<string, Promise<{ index: Map<string, string[]>; notNull: Set<string> }>>();
  const indexesOf = (table: string) => {
    let found = indexes.get(table);
    if (!found) {
      found = warehouse.query(uniqueIndexColumns, [table]).then(({ rows }) => {
        const index = new Map<string, string[]>();
        const notNull = new Set<string>();
        for (const row of rows) {
          const id = String(row.index_id);
          index.set(id, [...(index.get(id) ?? []), String(row.column_name)]);
          if (row.not_null === true) notNull.add(String(row.column_name));
        }
        return { index, notNull };
      });
      indexes.set(table, found);
    }
    return found;
  };
  return async (table, key) => {
    if (!enforcesKeys(warehouse.dialect)) return false;
    const { index, notNull } = await indexesOf(table);
    return key.every((c) => notNull.has(c)) && [...index.values()].some((columns) => columns.every((c) => key.includes(c)));
  };
}

async function runCheck(warehouse: Warehouse, query: CheckQuery, enforced: (table: string, key: readonly string[]) => Promise<boolean>): Promise<CheckResult> {
  let rows: Record<string, unknown>[];
  try {
    // A key the engine enforces cannot have duplicates or NULLs: the catalog says so without a scan.
    const guaranteed = query.uniqueKey !== undefined && (await enforced(query.table, query.uniqueKey));
    ({ rows } = guaranteed ? { rows: [] } : await warehouse.query(query.sql));
  } catch (error) {
    const hint = isMissingTable(error) ? ': run `etl create-tables` first, or `etl run`, which creates missing tables' : '';
    throw new EtlError(`Quality check "${query.name}" could not run on ${warehouse.description}: ${describeError(error)}${hint}`, { cause: error });
  }
  return {
    table: query.table,
    check: query.check,
    name: query.name,
    passed: rows.length === 0,
    count: Number(rows[0]?.total ?? 0),
    key: keyLabel(query.key),
    offending: query.key.length === 0 ? [] : rows.map((row) => renderKey(query.key, row)),
  };
}

/**
 * Runs every check, in order, and resolves to their results (failures included: nothing is thrown for a
 * failed check; see `checkFailure`). `requireRows: false` leaves out the "has rows" checks, for when nothing
 * was loaded. Throws an EtlError when a check cannot run at all (e.g. the tables do not exist).
 */
export async function runChecks(warehouse: Warehouse, options: { requireRows?: boolean } = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const enforced = enforcedKeys(warehouse);
  for (const query of checkQueries(options)) results.push(await runCheck(warehouse, query, enforced));
  return results;
}

const plural = (n: number, word: string): string => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** What a failed check found: `3 rows, e.g. user_id 77, 78, 91`, or `the table is empty`. */
const finding = (result: CheckResult): string =>
  result.key === '' ? 'the table is empty' : `${plural(result.count, 'row')}, e.g. ${result.key} ${result.offending.join(', ')}`;

/** The one-line error for the first failed check (saying how many more failed), or undefined when all passed. */
export function checkFailure(results: readonly CheckResult[]): EtlError | undefined {
  const failed = results.filter((r) => !r.passed);
  const first = failed[0];
  if (!first) return undefined;
  const more = failed.length > 1 ? ` (and ${plural(failed.length - 1, 'more failed check')})` : '';
  return new EtlError(`Quality check failed: ${first.name}: ${finding(first)}${more}`);
}

/** The results as a table: table | check | result, then a one-line summary. */
export function formatChecks(results: readonly CheckResult[]): string {
  const rows = results.map((r) => ({ table: r.table, check: r.check, result: r.passed ? 'ok' : `FAILED: ${finding(r)}` }));
  const failed = results.filter((r) => !r.passed).length;
  const table = formatRows(['table', 'check', 'result'], rows).replace(/\(\d+ rows?\)\n$/, '');
  return `${table}${plural(results.length, 'check')}, ${failed === 0 ? 'all passed' : `${failed} failed`}\n`;
}
