import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES, RecordSplitter, type Framing, type RawRecord } from '../../src/transform/record-splitter.js';

interface Rec {
  line: number;
  text: string;
  unterminated: boolean;
  oversize?: number;
}

/** Feeds the chunks to a splitter one write at a time; returns its records as text. */
async function split(framing: Framing, chunks: readonly Buffer[]): Promise<Rec[]> {
  const splitter = new RecordSplitter(framing);
  const out: Rec[] = [];
  splitter.on('data', (batch: RawRecord[]) => {
    for (const r of batch) {
      const rec: Rec = { line: r.line, text: r.bytes.toString('utf8'), unterminated: r.unterminated };
      if (r.oversize !== undefined) rec.oversize = r.oversize;
      out.push(rec);
    }
  });
  for (const chunk of chunks) splitter.write(chunk);
  splitter.end();
  await finished(splitter);
  return out;
}

const bytes = (input: string | Buffer): Buffer => (typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
const whole = (framing: Framing, input: string | Buffer) => split(framing, [bytes(input)]);
const byteByByte = (framing: Framing, input: string | Buffer) => split(framing, [...bytes(input)].map((b) => Buffer.from([b])));

/** The same records whichever way the input is cut: whole, byte by byte, and in two at every offset. */
async function expectChunkingIrrelevant(framing: Framing, input: string | Buffer, expected: Rec[]): Promise<void> {
  const buf = bytes(input);
  expect(await whole(framing, buf)).toEqual(expected);
  expect(await byteByByte(framing, buf)).toEqual(expected);
  for (let cut = 1; cut < buf.length; cut++) {
    expect(await split(framing, [buf.subarray(0, cut), buf.subarray(cut)]), `cut at byte ${cut}`).toEqual(expected);
  }
}

const rec = (line: number, text: string, unterminated = false): Rec => ({ line, text, unterminated });

const E1 = '{"artist":null,"auth":"Logged In","page":"Home","ts":1541105830796,"userAgent":"Mozilla\\/5.0","userId":"39"}';
const E2 = '{"artist":"Des\'ree","auth":"Logged In","firstName":"Zoë","page":"NextSong","song":"東京 🎸","ts":1541106106796}';
const E3 = '{"artist":"a \\" quote, a \\\\ backslash","page":"NextSong","ts":1}';

describe('lines framing (event logs)', () => {
  it('one record per line, numbered from 1', async () => {
    expect(await whole('lines', `${E1}\n${E2}\n${E3}\n`)).toEqual([rec(1, E1), rec(2, E2), rec(3, E3)]);
  });

  it('CRLF line ends: the CR is not part of the record', async () => {
    expect(await whole('lines', `${E1}\r\n${E2}\r\n`)).toEqual([rec(1, E1), rec(2, E2)]);
  });

  it('a leading byte-order mark is stripped; one further on is kept', async () => {
    expect(await whole('lines', `\ufeff${E1}\n\ufeff${E2}\n`)).toEqual([rec(1, E1), rec(2, `\ufeff${E2}`)]);
  });

  it('blank lines (empty, spaces, a lone CR) are skipped but counted', async () => {
    expect(await whole('lines', `\n${E1}\n\n  \t\n\r\n${E2}\n\n`)).toEqual([rec(2, E1), rec(6, E2)]);
  });

  it('a last line without a line end is flagged unterminated; a terminated one is not', async () => {
    expect(await whole('lines', `${E1}\n${E2}`)).toEqual([rec(1, E1), rec(2, E2, true)]);
    expect(await whole('lines', `${E1}\n${E2}\n`)).toEqual([rec(1, E1), rec(2, E2)]);
    expect(await whole('lines', `${E1}\n{"ts":15411`)).toEqual([rec(1, E1), rec(2, '{"ts":15411', true)]);
    // Trailing blanks after the last line end are not a record.
    expect(await whole('lines', `${E1}\n  `)).toEqual([rec(1, E1)]);
  });

  it('empty and blank-only objects give no records', async () => {
    expect(await whole('lines', '')).toEqual([]);
    expect(await whole('lines', '\n\n')).toEqual([]);
    expect(await whole('lines', '\ufeff')).toEqual([]);
    expect(await whole('lines', '\ufeff\r\n')).toEqual([]);
  });

  it('a record shorter than a byte-order mark is still read', async () => {
    expect(await whole('lines', '1')).toEqual([rec(1, '1', true)]);
    expect(await whole('lines', '{}')).toEqual([rec(1, '{}', true)]);
  });

  it('chunk boundaries anywhere (inside the BOM, a CRLF, a multi-byte character) change nothing', async () => {
    const input = `\ufeff${E2}\r\n\r\n${E1}\n${E3}`;
    await expectChunkingIrrelevant('lines', input, [rec(1, E2), rec(3, E1), rec(4, E3, true)]);
  });

  it('an invalid UTF-8 byte is passed through untouched, for validation to reject', async () => {
    const input = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"b":1}\n')]);
    const splitter = new RecordSplitter('lines');
    const records: RawRecord[] = [];
    splitter.on('data', (batch: RawRecord[]) => records.push(...batch));
    splitter.end(input);
    await finished(splitter);
    expect(records.map((r) => r.line)).toEqual([1, 2]);
    expect(records[0]!.bytes).toEqual(input.subarray(0, 10));
  });

  describe('a record longer than the limit', () => {
    const big = `{"artist":"${'x'.repeat(MAX_RECORD_BYTES)}"}`;
    const input = `${E1}\n${big}\n${E2}\n`;
    const expected = [rec(1, E1), { line: 2, text: big.slice(0, 64 * 1024), unterminated: false, oversize: big.length }, rec(3, E2)];

    it('is cut to its start and flagged with its full size; its neighbours are intact', async () => {
      expect(await whole('lines', input)).toEqual(expected);
    });

    it('the same when it arrives in many chunks', async () => {
      const buf = Buffer.from(input);
      const chunks: Buffer[] = [];
      for (let at = 0; at < buf.length; at += 65_521) chunks.push(buf.subarray(at, at + 65_521));
      expect(await split('lines', chunks)).toEqual(expected);
    });

    it('as the last, unterminated line', async () => {
      const buf = Buffer.from(`${E1}\n${big}`);
      const chunks: Buffer[] = [];
      for (let at = 0; at < buf.length; at += 1 << 20) chunks.push(buf.subarray(at, at + (1 << 20)));
      expect(await split('lines', chunks)).toEqual([rec(1, E1), { line: 2, text: big.slice(0, 64 * 1024), unterminated: true, oversize: big.length }]);
    });

    it('exactly at the limit is not oversize', async () => {
      const atLimit = `{"a":"${'y'.repeat(MAX_RECORD_BYTES - 8)}"}`;
      expect(atLimit.length).toBe(MAX_RECORD_BYTES);
      const records = await whole('lines', `${atLimit}\n`);
      expect(records).toHaveLength(1);
      expect(records[0]!.oversize).toBeUndefined();
      expect(records[0]!.text).toBe(atLimit);
    });
  });
});

// As in the real song files: one line, `", "` between fields, no line end at the end.
const COMPACT =
  '{"num_songs": 1, "artist_id": "ARJIE2Y1187B994AB7", "artist_latitude": null, "artist_longitude": null, "artist_location": "", ' +
  '"artist_name": "Line Renaud", "song_id": "SOUPIRU12A6D4FA1E1", "title": "Der Kleine Dompfaff {}[]\\"", "duration": 152.92036, "year": 0}';
const SONG = JSON.parse(COMPACT) as Record<string, unknown>;
const PRETTY = JSON.stringify(SONG, null, 4);
const PRETTY_LINES = PRETTY.split('\n').length;

describe('values framing (song files)', () => {
  it('one compact object, as in the real song files (no line end at the end)', async () => {
    expect(await whole('values', COMPACT)).toEqual([rec(1, COMPACT)]);
  });

  it('one pretty-printed object spanning lines is one record', async () => {
    expect(PRETTY_LINES).toBeGreaterThan(10);
    expect(await whole('values', `${PRETTY}\n`)).toEqual([rec(1, PRETTY)]);
  });

  it('pretty-printed with BOM and CRLF line ends', async () => {
    const crlf = PRETTY.replaceAll('\n', '\r\n');
    const records = await whole('values', `\ufeff${crlf}\r\n`);
    expect(records).toEqual([rec(1, crlf)]);
    expect(JSON.parse(records[0]!.text)).toEqual(SONG);
  });

  it('concatenated objects with nothing between them (`}{`)', async () => {
    expect(await whole('values', `${COMPACT}${COMPACT}{"a":{"b":[1,{"c":2}]}}`)).toEqual([rec(1, COMPACT), rec(1, COMPACT), rec(1, '{"a":{"b":[1,{"c":2}]}}')]);
  });

  it('JSON lines, with blank lines between', async () => {
    expect(await whole('values', `${COMPACT}\n\n${COMPACT}\n`)).toEqual([rec(1, COMPACT), rec(3, COMPACT)]);
  });

  it('several pretty objects: each starts on its own line number', async () => {
    const input = `\n${PRETTY}\n${PRETTY}${PRETTY}\n`;
    expect(await whole('values', input)).toEqual([rec(2, PRETTY), rec(PRETTY_LINES + 2, PRETTY), rec(2 * PRETTY_LINES + 1, PRETTY)]);
  });

  it('an array value is one record (rejected later as not an object)', async () => {
    expect(await whole('values', `[${COMPACT}, ${COMPACT}]\n${COMPACT}`)).toEqual([rec(1, `[${COMPACT}, ${COMPACT}]`), rec(2, COMPACT)]);
  });

  it('braces, brackets, escaped quotes and backslashes inside strings do not end a value', async () => {
    const tricky = '{"t":"}{ ] [ \\" \\\\", "u":"\\\\\\"}"}';
    expect(JSON.parse(tricky)).toEqual({ t: '}{ ] [ " \\', u: '\\"}' });
    expect(await whole('values', `${tricky}\n${COMPACT}`)).toEqual([rec(1, tricky), rec(2, COMPACT)]);
  });

  it('a bare scalar at the top level ends at its line end', async () => {
    expect(await whole('values', `42\n${COMPACT}\n`)).toEqual([rec(1, '42'), rec(2, COMPACT)]);
  });

  it('a string broken by a raw line end ends its value; the next line recovers, numbered right', async () => {
    const input = `{"title": "broken\n${COMPACT}\n${COMPACT}\n`;
    expect(await whole('values', input)).toEqual([rec(1, '{"title": "broken'), rec(2, COMPACT), rec(3, COMPACT)]);
  });

  it('a raw line end right after a backslash in a string also breaks the value', async () => {
    const input = `{"title": "C:\\\n${COMPACT}\n${COMPACT}\n`;
    expect(await whole('values', input)).toEqual([rec(1, '{"title": "C:\\'), rec(2, COMPACT), rec(3, COMPACT)]);
  });

  it('an object cut short at the end of the file is flagged unterminated', async () => {
    expect(await whole('values', `${COMPACT}\n{"num_songs": 1, "artist_id": "AR`)).toEqual([
      rec(1, COMPACT),
      rec(2, '{"num_songs": 1, "artist_id": "AR', true),
    ]);
  });

  it('chunk boundaries anywhere (BOM, CRLF, escapes, multi-byte characters, `}{`) change nothing', async () => {
    const tricky = '{"t":"é}{\\"\\\\🎸"}';
    const input = `\ufeff${PRETTY.replaceAll('\n', '\r\n')}\r\n${tricky}${COMPACT}\n{"title": "broken\n${tricky}`;
    const crlf = PRETTY.replaceAll('\n', '\r\n');
    await expectChunkingIrrelevant('values', input, [
      rec(1, crlf),
      rec(PRETTY_LINES + 1, tricky),
      rec(PRETTY_LINES + 1, COMPACT),
      rec(PRETTY_LINES + 2, '{"title": "broken'),
      rec(PRETTY_LINES + 3, tricky),
    ]);
  });

  it('an oversize value is cut and flagged; the next value is intact', async () => {
    const big = `{"title":"${'z'.repeat(MAX_RECORD_BYTES)}"}`;
    const buf = Buffer.from(`${big}\n${COMPACT}`);
    const chunks: Buffer[] = [];
    for (let at = 0; at < buf.length; at += 1 << 19) chunks.push(buf.subarray(at, at + (1 << 19)));
    expect(await split('values', chunks)).toEqual([{ line: 1, text: big.slice(0, 64 * 1024), unterminated: false, oversize: big.length }, rec(2, COMPACT)]);
  });
});
