/**
 * objectPieces cuts an object into blocks that parser threads frame apart. Whatever the block size and the
 * chunking of the input, framing the blocks one by one (each with its first line and object-start flag, as
 * the threads do) must give exactly the records of framing the whole object at once, for JSON lines and for
 * song values spread over lines (issue 14 item 10: a 45 MB song file was one block, and killed its thread).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { objectPieces, type ObjectPiece } from '../../src/transform/object-blocks.js';
import { KEPT_OF_OVERSIZE, MAX_RECORD_BYTES, RecordFramer, type Framing } from '../../src/transform/record-splitter.js';
import type { RecordKind } from '../../src/transform/schema.js';

interface Rec {
  line: number;
  text: string;
  unterminated?: boolean;
  oversize?: number;
}

const asRec = (line: number, bytes: Buffer, unterminated: boolean, oversize: number | undefined): Rec => ({
  line,
  text: bytes.toString('latin1'),
  ...(unterminated ? { unterminated } : {}),
  ...(oversize !== undefined ? { oversize } : {}),
});

/** The reference: the whole object through one framer. */
function framedWhole(framing: Framing, input: Buffer): Rec[] {
  const framer = new RecordFramer(framing);
  return [...framer.push(input), ...framer.end()].map((r) => asRec(r.line, r.bytes, r.unterminated, r.oversize));
}

const KIND: Record<Framing, RecordKind> = { lines: 'events', values: 'songs' };

/** The pieces of the object, fed in chunks of `chunk` bytes, each block framed alone as a parser thread does. */
async function framedPieces(framing: Framing, input: Buffer, blockBytes: number, chunk: number): Promise<{ records: Rec[]; pieces: ObjectPiece[] }> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunk) chunks.push(input.subarray(at, at + chunk));
  const pieces: ObjectPiece[] = [];
  for await (const piece of objectPieces(KIND[framing], 'x.json', Readable.from(chunks), blockBytes)) pieces.push(piece);
  const records: Rec[] = [];
  for (const piece of pieces) {
    if ('oversize' in piece) {
      records.push({ line: piece.oversize.line, text: piece.oversize.head.toString('latin1'), oversize: piece.oversize.size });
      continue;
    }
    const { block } = piece;
    const framer = new RecordFramer(framing, { firstLine: block.firstLine, atObjectStart: block.atObjectStart });
    const bytes = Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);
    for (const r of [...framer.push(bytes), ...framer.end()]) records.push(asRec(r.line, r.bytes, r.unterminated, r.oversize));
  }
  return { records, pieces };
}

async function expectSameRecords(framing: Framing, text: string | Buffer, blockSizes: readonly number[], chunkSizes: readonly number[]): Promise<void> {
  const input = typeof text === 'string' ? Buffer.from(text) : text;
  const expected = framedWhole(framing, input);
  for (const blockBytes of blockSizes) {
    for (const chunk of chunkSizes) {
      const { records } = await framedPieces(framing, input, blockBytes, chunk);
      expect(records, `block ${blockBytes}, chunks of ${chunk}`).toEqual(expected);
    }
  }
}

const COMPACT =
  '{"num_songs": 1, "artist_id": "ARJIE2Y1187B994AB7", "artist_latitude": null, "artist_longitude": null, "artist_location": "", ' +
  '"artist_name": "Line Renaud", "song_id": "SOUPIRU12A6D4FA1E1", "title": "Der Kleine Dompfaff {}[]\\"", "duration": 152.92036, "year": 0}';
const PRETTY = JSON.stringify(JSON.parse(COMPACT), null, 4);
const TRICKY = '{"t":"é}{\\"\\\\🎸", "u":"\\\\\\"}"}';

/** Every kind of value the values framing knows, and the ways they can sit next to each other. */
const SONG_FILE = [
  `\ufeff${PRETTY.replaceAll('\n', '\r\n')}\r\n`,
  `${TRICKY}${COMPACT}\n\n`,
  `[${COMPACT}, ${COMPACT}]\n`,
  '42\n',
  `{"title": "broken\n${COMPACT}\n`,
  `{"title": "C:\\\n${PRETTY}${PRETTY}\n   \t\n`,
  '}{"a":{"b":[1,{"c":2}]}}\n',
  `${COMPACT}\n{"num_songs": 1, "artist_id": "AR`,
].join('');

/** Deterministic pseudo-random text made of the framing's tokens: values, broken values, blanks, line ends. */
function randomSongFile(seed: number, pieces: number): string {
  let state = seed;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const tokens = ['{', '}', '[', ']', '"', '\\', '\n', '\r\n', ' ', '\t', 'x', '1', ',', ':', 'é', COMPACT, PRETTY, TRICKY, '\ufeff'];
  let text = '';
  for (let i = 0; i < pieces; i++) text += tokens[next(tokens.length)];
  return text;
}

describe('objectPieces: blocks framed apart give the records of the whole object', () => {
  it('song values of every shape (pretty, `}{`, arrays, scalars, broken strings, BOM, CRLF), cut anywhere', async () => {
    await expectSameRecords('values', SONG_FILE, [1, 2, 7, 64, 300, 1 << 20], [1, 3, 17, 256, 1 << 16]);
  });

  it('random streams of the framing\'s tokens', async () => {
    for (let seed = 1; seed <= 30; seed++) await expectSameRecords('values', randomSongFile(seed, 100), [1, 50, 400], [5, 64]);
  });

  it('JSON lines, as before: CRLF, blank lines, BOM, a last line without a line end', async () => {
    await expectSameRecords('lines', `\ufeff${COMPACT}\r\n\r\n  \n${TRICKY}\n${COMPACT}\n{"x":`, [1, 10, 300, 1 << 20], [1, 13, 1 << 16]);
  });

  it('a big song file of JSON lines streams in blocks near the block size, every record on its line', async () => {
    const count = 20_000;
    const input = Buffer.from(Array.from({ length: count }, (_, i) => COMPACT.replace('SOUPIRU12A6D4FA1E1', `SO${i}`)).join('\n'));
    const blockBytes = 64 * 1024;
    const { records, pieces } = await framedPieces('values', input, blockBytes, 16 * 1024);
    const sizes = pieces.map((p) => ('block' in p ? p.block.bytes.length : 0));
    expect(sizes.length).toBeGreaterThan(input.length / (2 * blockBytes));
    expect(Math.max(...sizes)).toBeLessThan(blockBytes + 16 * 1024 + COMPACT.length);
    expect(records).toHaveLength(count);
    expect(records.map((r) => r.line)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(records.at(-1)!.text).toContain(`"SO${count - 1}"`);
  });

  it('a song value longer than the limit is skipped to its end and reported from its start; the next values load', async () => {
    // Longer than the limit by more than a block, so it is skipped rather than framed whole by a thread.
    const big = `{"title": "${'z'.repeat(MAX_RECORD_BYTES + (3 << 20))}",\n "song_id": "S"}`;
    const input = Buffer.from(`${COMPACT}\n\n  ${big}${COMPACT}\n${COMPACT}`);
    const { records, pieces } = await framedPieces('values', input, 1 << 20, 1 << 16);
    expect(Math.max(...pieces.map((p) => ('block' in p ? p.block.bytes.length : 0)))).toBeLessThan(2 << 20);
    expect(records).toEqual([
      { line: 1, text: COMPACT },
      { line: 3, text: big.slice(0, KEPT_OF_OVERSIZE), oversize: big.length },
      { line: 4, text: COMPACT },
      { line: 5, text: COMPACT },
    ]);
    expect(records).toEqual(framedWhole('values', input));
  });
});
