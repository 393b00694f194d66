/**
 * csvRowOf is the hot path of validation: it must decide exactly as the rules of validate.ts do, and write
 * exactly what csvLine writes for the values validateObject returns. Every field of both tables is tried with
 * values at and across each rule's edges.
 */
import { describe, expect, it } from 'vitest';
import { csvLine } from '../../src/transform/csv.js';
import { csvRowOf, csvRowOfRecord } from '../../src/transform/csv-row.js';
import type { RawRecord } from '../../src/transform/record-splitter.js';
import { STAGING, type StagingTable } from '../../src/transform/schema.js';
import { validateObject, validateRecord } from '../../src/transform/validate.js';

const EVENT = {
  artist: "Des'ree", auth: 'Logged In', firstName: 'Kaylee', gender: 'F', itemInSession: 1, lastName: 'Summers', length: 246.30812,
  level: 'free', location: 'Phoenix-Mesa-Scottsdale, AZ', method: 'PUT', page: 'NextSong', registration: 1540344794796.0, sessionId: 139,
  song: 'You Gotta Be', status: 200, ts: 1541106106796, userAgent: '"Mozilla/5.0 (Windows NT 6.1; WOW64)"', userId: '8',
};
const SONG = {
  num_songs: 1, artist_id: 'ARMJAGH1187FB546F3', artist_latitude: 35.14968, artist_longitude: -90.04892, artist_location: 'Memphis, TN',
  artist_name: 'The Box Tops', song_id: 'SOCIWDW12A8C13D406', title: 'Soul Deep', duration: 148.03546, year: 1969,
};

const strings = (maxBytes: number) => [
  '', ' ', 'plain', 'a b', ' lead', 'trail ', 'tab\t', '\u00a0nbsp', 'nbsp\u00a0', '\ufeffbom', 'with,comma', 'quote"d', '"', 'back\\slash',
  '\\N', 'new\nline', 'cr\r', 'NUL\u0000', 'lone \ud800', 'lone \udfff end', 'pair 🎸', 'é', 'Zoë Müller', '東京',
  'x'.repeat(Math.floor(maxBytes / 3)), 'x'.repeat(maxBytes), 'x'.repeat(maxBytes + 1), 'é'.repeat(Math.floor(maxBytes / 2)),
  'é'.repeat(Math.floor(maxBytes / 2) + 1), '東'.repeat(Math.floor(maxBytes / 3)), '東'.repeat(Math.floor(maxBytes / 3) + 1),
];
const numbers = [
  0, -0, 1, -1, 1.5, 12.0, 246.30812, 2147483647, 2147483648, -2147483648, -2147483649, 1e21, 1541106106796, 9007199254740, 9007199254741,
  -9007199254740, -9007199254741, 2 ** 53, Infinity, -Infinity, 5e-324, -1e-310, 2 ** -1022, Number.MAX_VALUE, -Number.MAX_VALUE,
];
const others = [null, undefined, true, false, [], [1], {}, { a: 1 }, '123', '', '0039', '2147483647', '2147483648', '12345678901', ' 1', '-1', '1.5'];

/** validateObject's verdict, written as csvRowOf writes it. */
const reference = (table: StagingTable, record: unknown): string | { reason: string } => {
  const verdict = validateObject(table, record);
  return 'values' in verdict ? csvLine(verdict.values) : { reason: verdict.reason };
};

describe('csvRowOf decides and writes as validateObject + csvLine', () => {
  it.each([
    ['events', STAGING.events, EVENT],
    ['songs', STAGING.songs, SONG],
  ] as const)('every %s field, every edge value', (_kind, table, base) => {
    let accepted = 0;
    let rejected = 0;
    for (const field of table.fields) {
      for (const value of [...strings(field.maxBytes ?? 256), ...numbers, ...others]) {
        const record: Record<string, unknown> = { ...base, [field.json]: value };
        if (value === undefined) delete record[field.json];
        const expected = reference(table, record);
        expect(csvRowOf(table, record), `${field.json} = ${JSON.stringify(value)}`).toEqual(expected);
        if (typeof expected === 'string') accepted++;
        else rejected++;
      }
    }
    // Both outcomes are exercised in numbers.
    expect(accepted).toBeGreaterThan(200);
    expect(rejected).toBeGreaterThan(200);
  });

  it('records that are not objects, and raw records (oversize, invalid UTF-8, malformed, truncated)', () => {
    for (const record of [null, 42, 'text', [], [EVENT], true]) expect(csvRowOf(STAGING.events, record)).toEqual(reference(STAGING.events, record));
    const raws: RawRecord[] = [
      { line: 1, bytes: Buffer.from(JSON.stringify(EVENT)), unterminated: false },
      { line: 2, bytes: Buffer.from('{"ts":1'), unterminated: true },
      { line: 3, bytes: Buffer.from('{"ts":1'), unterminated: false },
      { line: 4, bytes: Buffer.from('not json'), unterminated: true },
      { line: 5, bytes: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), unterminated: false },
      { line: 6, bytes: Buffer.from('{}'), unterminated: false, oversize: 5_000_000 },
    ];
    for (const raw of raws) {
      const verdict = validateRecord(STAGING.events, raw);
      expect(csvRowOfRecord(STAGING.events, raw)).toEqual('values' in verdict ? csvLine(verdict.values) : { reason: verdict.reason });
    }
  });
});
