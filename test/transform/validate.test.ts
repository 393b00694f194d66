import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../src/transform/record-encoder.js';
import { MAX_RECORD_BYTES, type RawRecord } from '../../src/transform/record-splitter.js';
import { EVENT_FIELDS, SONG_FIELDS, STAGING } from '../../src/transform/schema.js';
import { reasonCategory, validateObject, validateRecord, type Verdict } from '../../src/transform/validate.js';

// A real event line and a real song object from the public sample (fixtures/samples).
const EVENT_LINE =
  '{"artist":"Des\'ree","auth":"Logged In","firstName":"Kaylee","gender":"F","itemInSession":1,"lastName":"Summers","length":246.30812,' +
  '"level":"free","location":"Phoenix-Mesa-Scottsdale, AZ","method":"PUT","page":"NextSong","registration":1540344794796.0,"sessionId":139,' +
  '"song":"You Gotta Be","status":200,"ts":1541106106796,"userAgent":"Mozilla\\/5.0 (Windows NT 6.1; WOW64) AppleWebKit\\/537.36 ' +
  '(KHTML, like Gecko) Chrome\\/35.0.1916.153 Safari\\/537.36","userId":"8"}';
const SONG_TEXT =
  '{"num_songs": 1, "artist_id": "ARMJAGH1187FB546F3", "artist_latitude": 35.14968, "artist_longitude": -90.04892, "artist_location": ' +
  '"Memphis, TN", "artist_name": "The Box Tops", "song_id": "SOCIWDW12A8C13D406", "title": "Soul Deep", "duration": 148.03546, "year": 1969}';
const EVENT = JSON.parse(EVENT_LINE) as Record<string, unknown>;
const SONG = JSON.parse(SONG_TEXT) as Record<string, unknown>;

const raw = (text: string | Buffer, unterminated = false, line = 7): RawRecord => ({
  line,
  bytes: typeof text === 'string' ? Buffer.from(text, 'utf8') : text,
  unterminated,
});
const event = (changes: Record<string, unknown>) => validateObject(STAGING.events, { ...EVENT, ...changes });
const song = (changes: Record<string, unknown>) => validateObject(STAGING.songs, { ...SONG, ...changes });
const without = (record: Record<string, unknown>, field: string) => Object.fromEntries(Object.entries(record).filter(([k]) => k !== field));
const reasonOf = (verdict: Verdict): string | undefined => ('reason' in verdict ? verdict.reason : undefined);
const valuesOf = (verdict: Verdict) => {
  if (!('values' in verdict)) throw new Error(`rejected: ${verdict.reason}`);
  return verdict.values;
};
const eventValue = (verdict: Verdict, json: string) => valuesOf(verdict)[EVENT_FIELDS.findIndex((f) => f.json === json)];
const songValue = (verdict: Verdict, json: string) => valuesOf(verdict)[SONG_FIELDS.findIndex((f) => f.json === json)];

describe('valid records', () => {
  it('a real event line gives its 18 values in JSONPaths order, escaped slashes decoded', () => {
    expect(valuesOf(validateRecord(STAGING.events, raw(EVENT_LINE)))).toEqual([
      "Des'ree", 'Logged In', 'Kaylee', 'F', 1, 'Summers', 246.30812, 'free', 'Phoenix-Mesa-Scottsdale, AZ', 'PUT', 'NextSong',
      1540344794796, 139, 'You Gotta Be', 200, 1541106106796,
      'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36', '8',
    ]);
  });

  it('a real song object gives its 10 values in contract order', () => {
    expect(valuesOf(validateRecord(STAGING.songs, raw(SONG_TEXT)))).toEqual([
      1, 'ARMJAGH1187FB546F3', 35.14968, -90.04892, 'Memphis, TN', 'The Box Tops', 'SOCIWDW12A8C13D406', 'Soul Deep', 148.03546, 1969,
    ]);
  });

  it('a complete last line without a line end is valid', () => {
    expect('values' in validateRecord(STAGING.events, raw(EVENT_LINE, true))).toBe(true);
  });

  it('an absent field counts as null, like an explicit null', () => {
    for (const field of ['artist', 'firstName', 'length', 'registration', 'userId', 'status', 'userAgent']) {
      expect(eventValue(validateObject(STAGING.events, without(EVENT, field)), field)).toBeNull();
      expect(eventValue(event({ [field]: null }), field)).toBeNull();
    }
    for (const field of ['num_songs', 'artist_latitude', 'artist_location', 'duration', 'year']) {
      expect(songValue(validateObject(STAGING.songs, without(SONG, field)), field)).toBeNull();
    }
  });

  it('a logged-out event (nulls everywhere, userId "") is valid: nothing is filtered at staging', () => {
    const loggedOut = {
      artist: null, auth: 'Logged Out', firstName: null, gender: null, itemInSession: 0, lastName: null, length: null, level: 'free',
      location: null, method: 'GET', page: 'Home', registration: null, sessionId: 52, song: null, status: 200, ts: 1541207073796,
      userAgent: null, userId: '',
    };
    expect(eventValue(validateObject(STAGING.events, loggedOut), 'userId')).toBe('');
  });

  it('integers written with a zero fraction are accepted, as integers', () => {
    const verdict = validateRecord(STAGING.events, raw(EVENT_LINE.replace('"ts":1541106106796', '"ts":1541106106796.0').replace('"sessionId":139', '"sessionId":139.00')));
    expect(eventValue(verdict, 'ts')).toBe(1541106106796);
    expect(eventValue(verdict, 'sessionId')).toBe(139);
    expect(songValue(validateRecord(STAGING.songs, raw(SONG_TEXT.replace('"year": 1969', '"year": 1969.0'))), 'year')).toBe(1969);
    expect(eventValue(event({ itemInSession: 1.0, status: 307.0 }), 'status')).toBe(307);
  });

  it('numbers may be integers; registration as a float', () => {
    expect(eventValue(event({ length: 200 }), 'length')).toBe(200);
    expect(songValue(song({ duration: 218 }), 'duration')).toBe(218);
    expect(eventValue(event({ registration: 1540919166796.5 }), 'registration')).toBe(1540919166796.5);
  });

  it('unknown extra fields are ignored', () => {
    expect('values' in event({ extra: { nested: [1] } })).toBe(true);
  });

  it('strings exactly at their VARCHAR size in bytes are accepted', () => {
    expect(eventValue(event({ gender: 'é'.repeat(8) }), 'gender')).toBe('é'.repeat(8)); // 16 bytes
    expect(eventValue(event({ firstName: 'a'.repeat(256) }), 'firstName')).toHaveLength(256);
    expect(songValue(song({ song_id: '🎸'.repeat(8) }), 'song_id')).toBe('🎸'.repeat(8)); // 32 bytes
  });
});

describe('rejections and their reasons', () => {
  it('malformed JSON', () => {
    expect(reasonOf(validateRecord(STAGING.events, raw('{"artist":null,"auth":"Logged In",,}')))).toBe('malformed JSON');
    expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.slice(0, 100))))).toBe('malformed JSON');
    expect(reasonOf(validateRecord(STAGING.songs, raw("{'song_id': 'x'}")))).toBe('malformed JSON');
    expect(reasonOf(validateRecord(STAGING.events, raw('{"ts":NaN}')))).toBe('malformed JSON');
    // A byte-order mark anywhere but the start of the object is not JSON.
    expect(reasonOf(validateRecord(STAGING.events, raw(`\ufeff${EVENT_LINE}`)))).toBe('malformed JSON');
  });

  it('a truncated last line (no line end, not complete JSON)', () => {
    expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.slice(0, 100), true)))).toBe('truncated last line');
  });

  it('invalid UTF-8', () => {
    const latin1 = Buffer.from(EVENT_LINE.replace('Kaylee', 'Ren\u00e9e'), 'latin1');
    expect(reasonOf(validateRecord(STAGING.events, raw(latin1)))).toBe('invalid UTF-8');
    // An encoded surrogate (CESU-8) and an overlong encoding are not UTF-8 either.
    const cesu = Buffer.concat([Buffer.from('{"page":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    expect(reasonOf(validateRecord(STAGING.events, raw(cesu)))).toBe('invalid UTF-8');
    const overlong = Buffer.concat([Buffer.from('{"page":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    expect(reasonOf(validateRecord(STAGING.events, raw(overlong)))).toBe('invalid UTF-8');
    // Invalid UTF-8 wins over a truncation.
    expect(reasonOf(validateRecord(STAGING.events, raw(Buffer.from([0x7b, 0xff]), true)))).toBe('invalid UTF-8');
  });

  it('a lone surrogate written as a JSON escape', () => {
    expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.replace('"Summers"', '"Sum\\ud800mers"'))))).toBe(
      'lastName: invalid UTF-8 (lone surrogate escape)',
    );
    // A proper pair is fine.
    expect(eventValue(validateRecord(STAGING.events, raw(EVENT_LINE.replace('"Summers"', '"\\ud83c\\udfb8"'))), 'lastName')).toBe('🎸');
  });

  it.each(['ts', 'sessionId', 'itemInSession', 'page'])('missing required event field %s (absent or null)', (field) => {
    expect(reasonOf(validateObject(STAGING.events, without(EVENT, field)))).toBe(`missing required field ${field}`);
    expect(reasonOf(event({ [field]: null }))).toBe(`missing required field ${field}`);
  });

  it.each(['song_id', 'artist_id', 'title', 'artist_name'])('missing required song field %s (absent or null)', (field) => {
    expect(reasonOf(validateObject(STAGING.songs, without(SONG, field)))).toBe(`missing required field ${field}`);
    expect(reasonOf(song({ [field]: null }))).toBe(`missing required field ${field}`);
  });

  it('only those fields are required', () => {
    const required = new Set(['ts', 'sessionId', 'itemInSession', 'page', 'song_id', 'artist_id', 'title', 'artist_name']);
    for (const f of [...EVENT_FIELDS, ...SONG_FIELDS]) expect(f.required, f.json).toBe(required.has(f.json));
  });

  it('wrong types, with the offending value shown', () => {
    const cases: [Verdict, string][] = [
      [event({ ts: 'abc' }), 'ts: expected integer, got "abc"'],
      [event({ ts: '1541106106796' }), 'ts: expected integer, got "1541106106796"'],
      [event({ ts: 1541106106796.5 }), 'ts: expected integer, got 1541106106796.5'],
      [event({ sessionId: '139' }), 'sessionId: expected integer, got "139"'],
      [event({ itemInSession: true }), 'itemInSession: expected integer, got true'],
      [event({ status: [200] }), 'status: expected integer, got an array'],
      [event({ page: 5 }), 'page: expected string, got 5'],
      [event({ artist: { name: 'x' } }), 'artist: expected string, got an object'],
      [event({ level: false }), 'level: expected string, got false'],
      [event({ length: '246.30812' }), 'length: expected number, got "246.30812"'],
      [event({ registration: '1540344794796.0' }), 'registration: expected number, got "1540344794796.0"'],
      [song({ year: '1969' }), 'year: expected integer, got "1969"'],
      [song({ year: 1969.5 }), 'year: expected integer, got 1969.5'],
      [song({ num_songs: 1.25 }), 'num_songs: expected integer, got 1.25'],
      [song({ duration: 'long' }), 'duration: expected number, got "long"'],
      [song({ artist_latitude: '35.1' }), 'artist_latitude: expected number, got "35.1"'],
      [song({ song_id: 42 }), 'song_id: expected string, got 42'],
      [song({ title: ['Soul Deep'] }), 'title: expected string, got an array'],
    ];
    for (const [verdict, reason] of cases) expect(reasonOf(verdict)).toBe(reason);
  });

  it('long values are shortened in the reason', () => {
    expect(reasonOf(event({ ts: 'x'.repeat(100) }))).toBe(`ts: expected integer, got "${'x'.repeat(36)}...`);
  });

  it('integers out of range of their SQL type', () => {
    const integer = 'out of range for INTEGER (-2147483648 to 2147483647)';
    expect(reasonOf(event({ sessionId: 2147483648 }))).toBe(`sessionId: ${integer}, got 2147483648`);
    expect(reasonOf(event({ itemInSession: -2147483649 }))).toBe(`itemInSession: ${integer}, got -2147483649`);
    expect(reasonOf(event({ status: 1e21 }))).toBe(`status: ${integer}, got 1e+21`);
    expect(reasonOf(song({ year: -2147483649 }))).toBe(`year: ${integer}, got -2147483649`);
    expect(reasonOf(song({ num_songs: 2 ** 31 }))).toBe(`num_songs: ${integer}, got 2147483648`);
    expect(eventValue(event({ sessionId: 2147483647 }), 'sessionId')).toBe(2147483647);
    expect(eventValue(event({ itemInSession: -2147483648 }), 'itemInSession')).toBe(-2147483648);
  });

  describe('ts: epoch ms that the transform turns into a TIMESTAMP exactly (issue 14 item 1)', () => {
    const range = 'out of range for TIMESTAMP (epoch ms from -9007199254740 to 9007199254740, 1684-07-28 to 2255-06-05 UTC)';
    it.each([[-300000000000000], [-9007199254741], [9007199254741], [2 ** 53], [-(2 ** 63)], [1e300]])('%d is rejected, naming the range', (ts) => {
      expect(reasonOf(event({ ts }))).toBe(`ts: ${range}, got ${String(ts)}`);
    });

    it.each([[-9007199254740], [9007199254740], [0], [-1], [1541106106796]])('%d is accepted', (ts) => {
      expect(eventValue(event({ ts }), 'ts')).toBe(ts);
    });

    it('the range is ±2^53 microseconds around 1970, as dates', () => {
      expect(new Date(-9007199254740).toISOString()).toBe('1684-07-28T00:12:25.260Z');
      expect(new Date(9007199254740).toISOString()).toBe('2255-06-05T23:47:34.740Z');
      expect(9007199254740 * 1000).toBeLessThanOrEqual(2 ** 53);
      expect(9007199254741 * 1000).toBeGreaterThan(2 ** 53);
    });
  });

  describe('numbers a double cannot hold, or Redshift does not (issue 14 item 7)', () => {
    it('1e400 (Infinity to JSON.parse) is not a finite number, in every numeric field', () => {
      expect(JSON.parse('1e400')).toBe(Infinity);
      for (const [field, text] of [['length', '246.30812'], ['registration', '1540344794796.0']]) {
        expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.replace(`"${field}":${text}`, `"${field}":1e400`))))).toBe(
          `${field}: not a finite number, got Infinity`,
        );
      }
      expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.replace('"ts":1541106106796', '"ts":1e400'))))).toBe('ts: not a finite number, got Infinity');
      expect(reasonOf(validateRecord(STAGING.events, raw(EVENT_LINE.replace('"sessionId":139', '"sessionId":-1e400'))))).toBe(
        'sessionId: not a finite number, got -Infinity',
      );
      for (const field of ['duration', 'artist_latitude', 'artist_longitude']) {
        expect(reasonOf(song({ [field]: -Infinity }))).toBe(`${field}: not a finite number, got -Infinity`);
      }
      expect(reasonOf(song({ year: Infinity }))).toBe('year: not a finite number, got Infinity');
    });

    it('a subnormal magnitude (below 2.2250738585072014e-308) is out of Redshift\'s DOUBLE PRECISION range; 0 and the extremes are kept', () => {
      const range = 'out of range for DOUBLE PRECISION (0, or magnitudes 2.2250738585072014e-308 to 1.7976931348623157e308)';
      expect(reasonOf(event({ length: 1e-310 }))).toBe(`length: ${range}, got 1e-310`);
      expect(reasonOf(song({ duration: -5e-324 }))).toBe(`duration: ${range}, got -5e-324`);
      for (const value of [0, -0, 2 ** -1022, -(2 ** -1022), Number.MAX_VALUE, -Number.MAX_VALUE, 1e308]) {
        expect(songValue(song({ duration: value }), 'duration')).toBe(value);
      }
    });
  });

  describe('userId: a string of decimal digits, or ""', () => {
    it.each([['39'], [''], ['0'], ['0039'], ['2147483647']])('%j is accepted as is', (userId) => {
      expect(eventValue(event({ userId }), 'userId')).toBe(userId);
    });

    it.each([
      [39, 'userId: expected a string of decimal digits or "", got 39'],
      ['abc', 'userId: expected a string of decimal digits or "", got "abc"'],
      ['-1', 'userId: expected a string of decimal digits or "", got "-1"'],
      [' 39', 'userId: expected a string of decimal digits or "", got " 39"'],
      ['39 ', 'userId: expected a string of decimal digits or "", got "39 "'],
      ['3.9', 'userId: expected a string of decimal digits or "", got "3.9"'],
      ['٣٩', 'userId: expected a string of decimal digits or "", got "٣٩"'],
      ['12345678901', 'userId: expected a string of decimal digits or "", got "12345678901"'],
      ['2147483648', 'userId: out of range for INTEGER (-2147483648 to 2147483647), got "2147483648"'],
    ])('%j is rejected', (userId, reason) => {
      expect(reasonOf(event({ userId }))).toBe(reason);
    });
  });

  it('strings too long for their VARCHAR(n), counted in UTF-8 bytes', () => {
    expect(reasonOf(event({ gender: 'é'.repeat(9) }))).toBe('gender: field too long for Redshift VARCHAR(16) (18 bytes)');
    expect(reasonOf(event({ gender: `${'x'.repeat(13)}🎸` }))).toBe('gender: field too long for Redshift VARCHAR(16) (17 bytes)');
    expect(reasonOf(event({ firstName: 'a'.repeat(257) }))).toBe('firstName: field too long for Redshift VARCHAR(256) (257 bytes)');
    // 86 characters, 258 bytes.
    expect(reasonOf(event({ location: '€'.repeat(86) }))).toBe('location: field too long for Redshift VARCHAR(256) (258 bytes)');
    expect(reasonOf(event({ userAgent: '東'.repeat(171) }))).toBe('userAgent: field too long for Redshift VARCHAR(512) (513 bytes)');
    expect(reasonOf(song({ artist_id: 'é'.repeat(17) }))).toBe('artist_id: field too long for Redshift VARCHAR(32) (34 bytes)');
    expect(reasonOf(song({ title: 'x'.repeat(513) }))).toBe('title: field too long for Redshift VARCHAR(512) (513 bytes)');
  });

  it('a NUL character, escaped or not', () => {
    expect(reasonOf(event({ firstName: 'Kay\u0000lee' }))).toBe('firstName: contains a NUL character, which no warehouse stores');
    expect(reasonOf(validateRecord(STAGING.songs, raw(SONG_TEXT.replace('Soul Deep', 'Soul\\u0000Deep'))))).toBe(
      'title: contains a NUL character, which no warehouse stores',
    );
  });

  it.each([
    ['[]', 'expected a JSON object, got an array'],
    [`[${SONG_TEXT}]`, 'expected a JSON object, got an array'],
    ['null', 'expected a JSON object, got null'],
    ['42', 'expected a JSON object, got number'],
    ['"NextSong"', 'expected a JSON object, got string'],
    ['true', 'expected a JSON object, got boolean'],
  ])('a non-object value %s', (text, reason) => {
    expect(reasonOf(validateRecord(STAGING.songs, raw(text)))).toBe(reason);
    expect(reasonOf(validateRecord(STAGING.events, raw(text)))).toBe(reason);
  });

  it('a record longer than the limit', () => {
    const record: RawRecord = { ...raw(EVENT_LINE), oversize: MAX_RECORD_BYTES + 10 };
    expect(reasonOf(validateRecord(STAGING.events, record))).toBe(`record of ${MAX_RECORD_BYTES + 10} bytes is longer than the ${MAX_RECORD_BYTES}-byte limit`);
  });

  it('reason categories drop the offending value', () => {
    expect(reasonCategory('ts: expected integer, got "abc"')).toBe('ts: expected integer');
    expect(reasonCategory('gender: field too long for Redshift VARCHAR(16) (18 bytes)')).toBe('gender: field too long for Redshift VARCHAR(16)');
    expect(reasonCategory('record of 5000000 bytes is longer than the 4194304-byte limit')).toBe('record is longer than the 4194304-byte limit');
    expect(reasonCategory('missing required field ts')).toBe('missing required field ts');
    expect(reasonCategory('sessionId: out of range for INTEGER (-2147483648 to 2147483647), got 2147483648')).toBe(
      'sessionId: out of range for INTEGER (-2147483648 to 2147483647)',
    );
    expect(reasonCategory('length: not a finite number, got Infinity')).toBe('length: not a finite number');
  });
});

describe('encodeBatch: every rejection keeps its source, line, reason and raw text', () => {
  it('good records become CSV rows with their lineage; bad ones rejections', () => {
    const records: RawRecord[] = [
      raw(EVENT_LINE, false, 1),
      raw('{"page":"Home",', false, 2),
      raw(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), false, 3),
      raw(EVENT_LINE.replace('"ts":1541106106796', '"ts":"abc"'), false, 4),
      raw('{"ts":1', true, 5),
    ];
    const batch = encodeBatch(STAGING.events, 'log_data/2018/11/2018-11-01-events.json', records);
    expect(batch.rows).toBe(1);
    expect(batch.lastLine).toBe(5);
    expect(batch.csv).toBe(
      `Des'ree,Logged In,Kaylee,F,1,Summers,246.30812,free,"Phoenix-Mesa-Scottsdale, AZ",PUT,NextSong,1540344794796,139,You Gotta Be,200,` +
        '1541106106796,"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36",8,' +
        'log_data/2018/11/2018-11-01-events.json,1\n',
    );
    expect(batch.rejections).toEqual([
      { source: 'log_data/2018/11/2018-11-01-events.json', line: 2, reason: 'malformed JSON', raw: '{"page":"Home",' },
      { source: 'log_data/2018/11/2018-11-01-events.json', line: 3, reason: 'invalid UTF-8', raw: '{"\ufffd"}' },
      { source: 'log_data/2018/11/2018-11-01-events.json', line: 4, reason: 'ts: expected integer, got "abc"', raw: EVENT_LINE.replace('"ts":1541106106796', '"ts":"abc"') },
      { source: 'log_data/2018/11/2018-11-01-events.json', line: 5, reason: 'truncated last line', raw: '{"ts":1' },
    ]);
  });
});
