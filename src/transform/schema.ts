/**
 * The input side of the data contract (../shared/docs/CONTRACT.md): each JSON field of an event or a song,
 * its type, whether it is required, and the staging column it lands in. Validation, CSV encoding, the
 * staging DDL and the Redshift JSONPaths mapping are all derived from these tables, so they cannot drift.
 */

export type FieldType = 'string' | 'integer' | 'number' | 'digits';

export interface IntegerRange {
  readonly min: number;
  readonly max: number;
  /** The range as a reason names it: "INTEGER (-2147483648 to 2147483647)". */
  readonly text: string;
}

/** INTEGER on every engine (Redshift: "-2147483648 to +2147483647"). */
export const INTEGER_RANGE: IntegerRange = { min: -2147483648, max: 2147483647, text: 'INTEGER (-2147483648 to 2147483647)' };

/**
 * `ts` (epoch ms) becomes a TIMESTAMP in the transform: `TIMESTAMP 'epoch' + seconds * INTERVAL '1 second' +
 * ms * INTERVAL '1 millisecond'`. The types hold 4713 BC to 294276 AD on every engine, but the interval
 * product is computed in double precision (PostgreSQL's interval_mul), exact only while the microseconds fit in
 * 53 bits; beyond ±2^53 µs of 1970 a start_time may lose its millisecond (rule 1): PostgreSQL makes ts
 * 9007199254740991 287396-10-12 08:59:00.990744. So `ts` must lie within ±9007199254740 ms, 1684-07-28
 * 00:12:25.260 to 2255-06-05 23:47:34.740 UTC; anything outside would either fail the transform or be inexact.
 */
export const TS_RANGE: IntegerRange = {
  min: -9007199254740,
  max: 9007199254740,
  text: 'TIMESTAMP (epoch ms from -9007199254740 to 9007199254740, 1684-07-28 to 2255-06-05 UTC)',
};

export interface FieldSpec {
  /** Name in the JSON record. */
  readonly json: string;
  /** Column in the staging table. */
  readonly column: string;
  readonly type: FieldType;
  readonly required: boolean;
  /** SQL type of the staging column (shared by every engine). */
  readonly sqlType: string;
  /** Largest value in bytes (strings) that every engine, Redshift included, can hold. */
  readonly maxBytes?: number;
  /** Integers (and `digits`, cast to INTEGER by the transform): the values every engine takes, and how a reason names them. */
  readonly range?: IntegerRange;
  /**
   * A key (song_id, artist_id): no trailing blank. Redshift ignores trailing blanks when it compares VARCHARs,
   * so 'X' and 'X ' would be one key there and two on PostgreSQL (contract rule 7).
   */
  readonly key?: boolean;
}

const text = (json: string, column: string, maxBytes = 256, required = false): FieldSpec => ({
  json,
  column,
  type: 'string',
  required,
  sqlType: `VARCHAR(${maxBytes})`,
  maxBytes,
});
const int = (json: string, column: string, required = false): FieldSpec => ({
  json,
  column,
  type: 'integer',
  required,
  sqlType: 'INTEGER',
  range: INTEGER_RANGE,
});
/** Epoch milliseconds in a BIGINT column, turned into a TIMESTAMP by the transform. */
const epochMs = (json: string, column: string, required = false): FieldSpec => ({
  json,
  column,
  type: 'integer',
  required,
  sqlType: 'BIGINT',
  range: TS_RANGE,
});
/** A finite double that Redshift stores: 0, or a normal magnitude (see DOUBLE_MIN in validate.ts). */
const float = (json: string, column: string, required = false): FieldSpec => ({
  json,
  column,
  type: 'number',
  required,
  sqlType: 'DOUBLE PRECISION',
});

/** Event fields in JSONPaths order (the order of staging_events' columns). */
export const EVENT_FIELDS: readonly FieldSpec[] = [
  text('artist', 'artist', 512),
  text('auth', 'auth', 64),
  text('firstName', 'first_name'),
  text('gender', 'gender', 16),
  int('itemInSession', 'item_in_session', true),
  text('lastName', 'last_name'),
  float('length', 'length'),
  text('level', 'level', 16),
  text('location', 'location'),
  text('method', 'method', 16),
  text('page', 'page', 64, true),
  // Epoch milliseconds written as a float; Redshift's JSON COPY loads it as a float too.
  float('registration', 'registration'),
  int('sessionId', 'session_id', true),
  text('song', 'song', 512),
  int('status', 'status'),
  epochMs('ts', 'ts', true),
  text('userAgent', 'user_agent', 512),
  // A string on the wire ("" for a logged-out visitor), kept as one so the raw-JSON COPY loads it as is.
  { json: 'userId', column: 'user_id', type: 'digits', required: false, sqlType: 'VARCHAR(16)', maxBytes: 16, range: INTEGER_RANGE },
];

/** Song fields in the contract's order (the order of staging_songs' columns). */
export const SONG_FIELDS: readonly FieldSpec[] = [
  int('num_songs', 'num_songs'),
  { ...text('artist_id', 'artist_id', 32, true), key: true },
  float('artist_latitude', 'artist_latitude'),
  float('artist_longitude', 'artist_longitude'),
  text('artist_location', 'artist_location', 512),
  text('artist_name', 'artist_name', 512, true),
  { ...text('song_id', 'song_id', 32, true), key: true },
  text('title', 'title', 512, true),
  float('duration', 'duration'),
  int('year', 'year'),
];

/**
 * Lineage columns appended to each staging row: which object and line it came from. They let the SQL pick
 * "the record from the first object key" (contract rule 3) and let load errors point at their source.
 */
export const LINEAGE_COLUMNS = [
  { column: 'source_key', sqlType: 'VARCHAR(1024)' },
  { column: 'source_line', sqlType: 'INTEGER' },
] as const;

export type RecordKind = 'events' | 'songs';

/** A table loaded from CSV by COPY: its name and the CSV's columns in order. */
export interface CsvTable {
  readonly table: string;
  readonly columns: readonly string[];
}

export interface StagingTable extends CsvTable {
  readonly kind: RecordKind;
  readonly table: 'staging_events' | 'staging_songs';
  readonly fields: readonly FieldSpec[];
  /** Every column in CSV order: the contract fields, then the lineage columns. */
  readonly columns: readonly string[];
}

/** The run's rejected records, kept in the warehouse (load_errors) as well as in the rejects file. */
export const LOAD_ERRORS: CsvTable = { table: 'load_errors', columns: ['run_id', 'kind', 'source_key', 'line', 'reason', 'raw_line'] };

/** The objects a batch was staged from: what the load ledger records once the batch is transformed. */
export const STAGING_OBJECTS: CsvTable & { readonly table: 'staging_objects' } = {
  table: 'staging_objects',
  columns: ['run_id', 'kind', 'source_key', 'size', 'version', 'loaded_at'],
};

const stagingTable = (kind: RecordKind, table: StagingTable['table'], fields: readonly FieldSpec[]): StagingTable => ({
  kind,
  table,
  fields,
  columns: [...fields.map((f) => f.column), ...LINEAGE_COLUMNS.map((c) => c.column)],
});

export const STAGING: Readonly<Record<RecordKind, StagingTable>> = {
  events: stagingTable('events', 'staging_events', EVENT_FIELDS),
  songs: stagingTable('songs', 'staging_songs', SONG_FIELDS),
};

/** One staging row: values in `columns` order; null is SQL NULL, '' an empty string. */
export type StagingRow = (string | number | null)[];
