import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import { stringify } from 'csv-stringify/sync';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COPY_OPTIONS } from '../../src/load/queries.js';
import { csvField, csvLine } from '../../src/transform/csv.js';
import { createPgDatabase, dropPgDatabase, pgClient, runPgTests, scratchPglite } from '../helpers/warehouses.js';

/** csv-stringify, the reference: `""` for the empty string; NULL (no value at all) has no CSV spelling there. */
const reference = (values: readonly (string | number)[]): string => stringify([values], { quoted_empty: true, eof: false });

/** Strings where our encoder and csv-stringify must agree byte for byte. */
const PLAIN: readonly string[] = [
  'plain',
  '',
  'San Francisco-Oakland-Hayward, CA',
  'say "hi"',
  '"',
  '""',
  ',',
  'line\nbreak',
  'cr\ronly',
  'crlf\r\nend',
  '\n',
  "Des'ree",
  'Mozilla/5.0 (Windows NT 6.1; WOW64)',
  'Beyoncé',
  '東京事変',
  'emoji 🎸🎶',
  'in side space',
  'tab\tinside',
  'NULL',
  'null',
  'N',
];

/** Strings our encoder deliberately quotes where csv-stringify does not: compared by what COPY reads back. */
const QUOTED_MORE: readonly string[] = ['\\', '\\.', 'a\\b', '\\N', ' leading', 'trailing ', ' both ', '\t', ' ', 'end\\'];

/** Every string the round trip must bring back exactly. */
const ROUND_TRIP: readonly string[] = [
  ...PLAIN,
  ...QUOTED_MORE,
  'a\n\\.\nb',
  '\\.\n',
  '\r\n\\.\r\n',
  'mixed, "quotes", \\back\\slashes\\ and\nnew\rlines',
  '  ',
  '\u00a0nbsp\u00a0',
  'line\u2028separator',
  'e\u0301 combining',
  '𝄞 outside the BMP',
  'x'.repeat(10_000),
];

describe('csvField / csvLine agree with csv-stringify', () => {
  it.each(PLAIN.map((s) => [s]))('field %j', (value) => {
    expect(csvField(value)).toBe(reference([value]));
  });

  it('numbers are written as JavaScript prints them, unquoted', () => {
    for (const n of [0, 1, -1, 1.5, 246.30812, 1541106106796, 1540919166796.0, 2147483647, -90.04892, 0.1 + 0.2, 1e21]) {
      expect(csvField(n)).toBe(reference([n]));
    }
  });

  it('a whole line of plain values', () => {
    const values = ['Des\'ree', 'Logged In', 'Kaylee', 'F', 1, 'Summers', 246.30812, 'free', 'Phoenix-Mesa-Scottsdale, AZ', 'PUT', 'NextSong', 1540344794796, 139, 'You Gotta Be', 200, 1541106106796, 'Mozilla/5.0 "x"', '8'];
    expect(csvLine(values)).toBe(reference(values));
  });

  it('NULL is an unquoted \\N, the empty string is ""', () => {
    expect(csvField(null)).toBe('\\N');
    expect(csvField('')).toBe('""');
    expect(csvLine([null, '', null])).toBe('\\N,"",\\N');
    expect(csvLine(['a', null, 'b', null])).toBe(`${reference(['a'])},\\N,${reference(['b'])},\\N`);
    expect(csvLine([null])).toBe('\\N');
    expect(csvField('\\N')).toBe('"\\N"');
  });

  it('quotes backslashes and edge whitespace (more than csv-stringify does)', () => {
    for (const value of QUOTED_MORE) {
      expect(csvField(value)).toBe(`"${value.replaceAll('"', '""')}"`);
    }
  });
});

/**
 * Rows of (i, value, null, '') where value cycles through ROUND_TRIP: each value also appears as the only field
 * of a one-column table, where `\.` alone on a line would end the data.
 */
const rows = ROUND_TRIP.map((value, i) => [i, value, null, ''] as const);
const csvOf = (lines: readonly (readonly (string | number | null)[])[]): string => lines.map((r) => csvLine(r) + '\n').join('');
const CREATE = [
  'CREATE TABLE rt (i INTEGER, value TEXT, a_null TEXT, an_empty TEXT)',
  'CREATE TABLE rt1 (value TEXT)',
  'CREATE TABLE nums (d DOUBLE PRECISION, b BIGINT)',
];
const NUMBERS: readonly [number, number][] = [
  [246.30812, 1541106106796],
  [0.1 + 0.2, -1],
  [-90.04892, 0],
  [1540919166796.0, 9007199254740991],
  [5e-324, 1],
  [1.7976931348623157e308, 2],
];

interface Engine {
  query(sql: string): Promise<Record<string, unknown>[]>;
  copy(sql: string, csv: string): Promise<void>;
}

function roundTripSuite(open: () => Promise<{ engine: Engine; close: () => Promise<void> }>, from: 'STDIN' | "'/dev/blob'") {
  let engine: Engine;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ engine, close } = await open());
    for (const sql of CREATE) await engine.query(sql);
  });
  afterAll(async () => close?.());

  it('every string, NULL and the empty string come back exactly', async () => {
    await engine.copy(`COPY rt FROM ${from} WITH ${CSV_COPY_OPTIONS}`, csvOf(rows));
    const back = await engine.query('SELECT i, value, a_null, an_empty FROM rt ORDER BY i');
    expect(back).toEqual(rows.map(([i, value]) => ({ i, value, a_null: null, an_empty: '' })));
  });

  it('each string alone on its line (one column) comes back exactly, `\\.` included', async () => {
    await engine.copy(`COPY rt1 FROM ${from} WITH ${CSV_COPY_OPTIONS}`, csvOf([...ROUND_TRIP.map((v) => [v]), [null]]));
    const back = (await engine.query('SELECT value FROM rt1')).map((r) => r.value);
    expect(back).toHaveLength(ROUND_TRIP.length + 1);
    expect(new Set(back)).toEqual(new Set([...ROUND_TRIP, null]));
  });

  it('numbers survive as DOUBLE PRECISION and BIGINT', async () => {
    await engine.copy(`COPY nums FROM ${from} WITH ${CSV_COPY_OPTIONS}`, csvOf(NUMBERS));
    const back = await engine.query('SELECT d, b::text AS b FROM nums');
    expect(back).toEqual(NUMBERS.map(([d, b]) => ({ d, b: String(b) })));
  });
}

describe('round trip through PGlite COPY ... FROM /dev/blob (FORMAT csv)', () => {
  roundTripSuite(async () => {
    const db: PGlite = await scratchPglite();
    return {
      engine: {
        query: async (sql) => (await db.query<Record<string, unknown>>(sql)).rows,
        copy: async (sql, csv) => void (await db.query(sql, [], { blob: new Blob([csv]) })),
      },
      close: () => db.close(),
    };
  }, "'/dev/blob'");
});

const pgTests = await runPgTests();

describe.skipIf(!pgTests)('round trip through PostgreSQL COPY ... FROM STDIN (FORMAT csv)', () => {
  let database: string;
  afterAll(async () => {
    if (database) await dropPgDatabase(database);
  });
  roundTripSuite(async () => {
    database = await createPgDatabase('sparkify_test_csv');
    const client = await pgClient(database);
    return {
      engine: {
        query: async (sql) => (await client.query(sql)).rows as Record<string, unknown>[],
        copy: async (sql, csv) => pipeline(Readable.from([Buffer.from(csv)]), client.query(copyFrom(sql))),
      },
      close: () => client.end(),
    };
  }, 'STDIN');
});
