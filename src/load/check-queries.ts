/**
 * The SQL of the data quality checks (`etl check`): one statement per check, each returning the offending keys.
 *
 * Every statement is in the PostgreSQL dialect that Redshift also accepts: no DISTINCT ON, FILTER or ON CONFLICT,
 * no aggregate nested in a window function (the counts are summed over a subquery instead). A statement returns
 * at most CHECK_SAMPLE_SIZE rows, ordered by key: the key columns of a few offenders and `total`, the number of
 * offending rows in all; no row means the check passed.
 *
 * What an engine guarantees is not scanned for: a key check whose key an enforced unique index covers (the
 * primary keys on PostgreSQL and PGlite) is answered from the catalog (`uniqueIndexColumns`); Redshift, which
 * does not enforce keys, scans.
 */
import { PLAYED_BY_USER_SQL, type AnalyticTable } from './queries.js';

/** How many offending keys a check reports. */
export const CHECK_SAMPLE_SIZE = 5;

export interface CheckQuery {
  readonly table: AnalyticTable;
  /** What is checked, after the table name: `user_id exists in users`, `has rows`. */
  readonly check: string;
  /** Table and check as one phrase: `songplays.user_id exists in users`, `songplays has rows`. */
  readonly name: string;
  /** Columns of the offending keys the statement returns (besides `total`); none for a whole-table check. */
  readonly key: readonly string[];
  /** A "the table has rows" check: meaningless, and left out, when nothing was loaded. */
  readonly requiresRows: boolean;
  /**
   * A "key unique and not null" check: its columns. Where the engine enforces a unique index on some of them
   * and all are NOT NULL, no row can offend, and `sql` need not run.
   */
  readonly uniqueKey?: readonly string[];
  readonly sql: string;
}

/**
 * Wraps `offenders`, a query grouping offending rows by `key` with their count `n`, into a check statement:
 * the first few keys, and `total` (the count of every offending row) on each.
 */
const sample = (key: readonly string[], offenders: string): string => {
  const columns = key.join(', ');
  return `SELECT ${columns}, SUM(n) OVER () AS total
FROM (
${offenders}
) o
ORDER BY ${columns}
LIMIT ${CHECK_SAMPLE_SIZE}`;
};

const columnCheck = (table: AnalyticTable, column: string, check: string, key: readonly string[], offenders: string): CheckQuery => ({
  table,
  check: `${column} ${check}`,
  name: `${table}.${column} ${check}`,
  key,
  requiresRows: false,
  sql: sample(key, offenders),
});

const tableCheck = (table: AnalyticTable, check: string, key: readonly string[], sql: string, requiresRows = false): CheckQuery => ({
  table,
  check,
  name: `${table} ${check}`,
  key,
  requiresRows,
  sql,
});

/** The table holds at least one row: one row (total 0) when it is empty. Reads one row, not all of them. */
const hasRows = (table: AnalyticTable): CheckQuery =>
  tableCheck(table, 'has rows', [], `SELECT total FROM (SELECT COUNT(*) AS total FROM (SELECT 1 AS one FROM ${table} LIMIT 1) r) c WHERE total = 0`, true);

/** `key` (one column or several) is unique and never NULL: duplicated keys, and NULL keys, with their rows. */
const uniqueKey = (table: AnalyticTable, key: readonly string[]): CheckQuery => {
  const columns = key.join(', ');
  const offenders = `  SELECT ${columns}, COUNT(*) AS n
  FROM ${table}
  GROUP BY ${columns}
  HAVING COUNT(*) > 1 OR ${key.map((c) => `${c} IS NULL`).join(' OR ')}`;
  const check =
    key.length === 1
      ? columnCheck(table, key[0]!, 'unique and not null', key, offenders)
      : tableCheck(table, `(${columns}) unique and not null`, key, sample(key, offenders));
  return { ...check, uniqueKey: key };
};

/**
 * PostgreSQL and PGlite: the columns of each enforced unique index of `table` (valid, over plain columns, not
 * partial), with whether each is NOT NULL: rows {index_id, column_name, not_null}. A primary key is one such
 * index (its columns NOT NULL). $1: the table's name.
 */
export const uniqueIndexColumns = `SELECT i.indexrelid AS index_id, a.attname AS column_name, a.attnotnull AS not_null
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = CAST($1 AS regclass) AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL`;

/** Every non-NULL songplays.`column` exists in `parent`.`column`: the missing values, with their plays. */
const songplaysReference = (column: string, parent: AnalyticTable): CheckQuery =>
  columnCheck(
    'songplays',
    column,
    `exists in ${parent}`,
    [column],
    `  SELECT sp.${column}, COUNT(*) AS n
  FROM songplays sp
  LEFT JOIN ${parent} p ON p.${column} = sp.${column}
  WHERE p.${column} IS NULL AND sp.${column} IS NOT NULL
  GROUP BY sp.${column}`,
  );

/** Every row's `column` is present and between `low` and `high`: the offending rows, by key and value. */
const inRange = (table: AnalyticTable, keyColumn: string, column: string, low: number, high: number): CheckQuery =>
  columnCheck(
    table,
    column,
    `in ${low}-${high}`,
    [keyColumn, column],
    `  SELECT ${keyColumn}, ${column}, COUNT(*) AS n
  FROM ${table}
  WHERE ${column} IS NULL OR ${column} < ${low} OR ${column} > ${high}
  GROUP BY ${keyColumn}, ${column}`,
  );

/** Every check, in the order they run and are reported. */
export const CHECK_QUERIES: readonly CheckQuery[] = [
  // Each table non-empty (switched off when nothing was loaded).
  ...(['songplays', 'users', 'songs', 'artists', 'time'] as const).map(hasRows),

  // Primary keys unique and not null; a play is identified by (session_id, item_in_session) too.
  uniqueKey('songplays', ['songplay_id']),
  uniqueKey('songplays', ['session_id', 'item_in_session']),
  uniqueKey('users', ['user_id']),
  uniqueKey('songs', ['song_id']),
  uniqueKey('artists', ['artist_id']),
  uniqueKey('time', ['start_time']),

  // Referential integrity of the fact table (song_id and artist_id may be NULL: an unmatched play).
  songplaysReference('user_id', 'users'),
  songplaysReference('start_time', 'time'),
  songplaysReference('song_id', 'songs'),
  songplaysReference('artist_id', 'artists'),

  // The staging tables hold the last batch: each of its NextSong events with a user must have its play (rule 1).
  // Each missing play counts once, however often it was staged; only the missing ones are grouped.
  tableCheck(
    'songplays',
    'has every staged NextSong play',
    ['session_id', 'item_in_session'],
    sample(
      ['session_id', 'item_in_session'],
      `  SELECT e.session_id, e.item_in_session, 1 AS n
  FROM staging_events e
  WHERE ${PLAYED_BY_USER_SQL('e')}
    AND NOT EXISTS (SELECT 1 FROM songplays sp WHERE sp.session_id = e.session_id AND sp.item_in_session = e.item_in_session)
  GROUP BY e.session_id, e.item_in_session`,
    ),
  ),

  // Domains.
  columnCheck(
    'users',
    'level',
    "is 'free' or 'paid'",
    ['user_id', 'level'],
    `  SELECT user_id, level, COUNT(*) AS n
  FROM users
  WHERE level IS NULL OR RTRIM(level) NOT IN ('free', 'paid')
  GROUP BY user_id, level`,
  ),
  inRange('time', 'start_time', 'hour', 0, 23),
  inRange('time', 'start_time', 'day', 1, 31),
  inRange('time', 'start_time', 'week', 1, 53),
  inRange('time', 'start_time', 'month', 1, 12),
  inRange('time', 'start_time', 'weekday', 0, 6),
];

/** The checks to run: all of them, or all but the "has rows" checks. */
export const checkQueries = (options: { readonly requireRows?: boolean } = {}): CheckQuery[] =>
  CHECK_QUERIES.filter((q) => options.requireRows !== false || !q.requiresRows);
