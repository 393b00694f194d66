import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BlockTask } from './encode-block.js';
import { KEPT_OF_OVERSIZE, MAX_RECORD_BYTES, ValueBoundaries, type Framing } from './record-splitter.js';
import type { RecordKind } from './schema.js';

/** Log files are JSON lines; song files hold one object each, or several, possibly spread over lines. */
export const FRAMING: Readonly<Record<RecordKind, Framing>> = { events: 'lines', songs: 'values' };

/** A gzip stream that ends early or holds garbage: a data problem of the object, not of the source. */
export const isCorruptGzip = (error: unknown): boolean =>
  typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('Z_');

/** A record too long to keep: reported with its start, never held whole. */
export interface OversizeRecord {
  readonly line: number;
  readonly size: number;
  readonly head: Buffer;
}

export type ObjectPiece = { readonly block: BlockTask } | { readonly oversize: OversizeRecord };

/** Blocks of about this size go to parser threads: big enough to amortize messaging, small enough to interleave. */
export const BLOCK_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const isBlankByte = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0d || b === NEWLINE;

/**
 * Bytes whose ArrayBuffer can be handed to a thread (BlockTask.bytes): large ones are views of a buffer that
 * Buffer.concat allocated for them alone (the carried tail is copied out before); small ones may share
 * Node's buffer pool, so they are copied into a buffer of their own.
 */
const transferable = (bytes: Buffer): Uint8Array => {
  if (bytes.buffer.byteLength > Buffer.poolSize) return bytes;
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
};

const countNewlines = (bytes: Uint8Array): number => {
  let n = 0;
  for (let i = bytes.indexOf(NEWLINE); i !== -1; i = bytes.indexOf(NEWLINE, i + 1)) n += 1;
  return n;
};

const startsWithBom = (bytes: Uint8Array): boolean => bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;

/**
 * Cuts one object's (decompressed) bytes into blocks of whole records for the parser threads, in order:
 * JSON lines at line ends; song objects (values framing) between two values, wherever they spread over
 * lines, so a song file of any size streams too. Memory per object stays within about BLOCK_BYTES +
 * MAX_RECORD_BYTES: a longer record is skipped and reported with its start, never held.
 */
export async function* objectPieces(kind: RecordKind, key: string, body: Readable, blockBytes = BLOCK_BYTES): AsyncGenerator<ObjectPiece> {
  const input: AsyncIterable<Buffer> = key.endsWith('.gz') ? body.pipe(createGunzip()) : body;
  if (key.endsWith('.gz')) body.on('error', (error) => (input as Readable).destroy(error));
  const lines = FRAMING[kind] === 'lines';
  // Values framing: where the bytes held may be cut, found by following the framer's states; only objects
  // bigger than a block are ever scanned, so a small song file costs nothing here.
  const boundaries = lines ? undefined : new ValueBoundaries();
  let scanned = 0;
  let lastCut = -1;
  let parts: Buffer[] = [];
  let size = 0;
  let line = 1;
  let atObjectStart = true;
  let skipping: { line: number; size: number; head: Buffer } | undefined;

  const block = (bytes: Buffer): ObjectPiece => {
    const piece = { block: { kind, key, bytes: transferable(bytes), firstLine: line, atObjectStart } };
    line += countNewlines(bytes);
    atObjectStart = false;
    return piece;
  };

  /** Where the bytes held (`whole`) may be cut: after the last line end, or the last point between values. */
  const cutOf = (whole: Buffer): number => {
    if (lines) return whole.lastIndexOf(NEWLINE) + 1;
    if (scanned === 0 && atObjectStart && startsWithBom(whole)) scanned = 3; // the framer drops it
    const found = boundaries!.scan(whole.subarray(scanned));
    if (found !== -1) lastCut = scanned + found;
    scanned = whole.length;
    return Math.max(lastCut, 0);
  };

  /** The record that starts in `whole` and will not end within the limit: reported with its line and start. */
  const startSkipping = (whole: Buffer): void => {
    let start = 0;
    if (!lines) {
      if (atObjectStart && startsWithBom(whole)) start = 3;
      while (start < whole.length && isBlankByte(whole[start]!)) start += 1;
    }
    skipping = { line: line + countNewlines(whole.subarray(0, start)), size: whole.length - start, head: Buffer.from(whole.subarray(start, start + KEPT_OF_OVERSIZE)) };
    // Lines framing: `whole` holds no line end. Values: every line end in it is behind us once the value ends.
    line += countNewlines(whole);
    atObjectStart = false;
    parts = [];
    size = 0;
  };

  try {
    for await (const chunk of input) {
      if (skipping) {
        // A long log line is skipped up to its line end, a long song value up to its end.
        const end = lines ? chunk.indexOf(NEWLINE) : boundaries!.scan(chunk, true);
        if (end === -1) {
          skipping.size += chunk.length;
          if (!lines) line += countNewlines(chunk);
          continue;
        }
        if (lines) {
          skipping.size += end;
          line += 1;
          parts = [chunk.subarray(end + 1)];
        } else {
          skipping.size += end;
          line += countNewlines(chunk.subarray(0, end));
          parts = [chunk.subarray(end)];
          scanned = 0; // the rest is scanned when a block's worth is held
          lastCut = -1;
        }
        yield { oversize: skipping };
        skipping = undefined;
        size = parts[0]!.length;
        continue;
      }
      parts.push(chunk);
      size += chunk.length;
      if (size < blockBytes) continue;
      const whole = Buffer.concat(parts, size);
      const cut = cutOf(whole);
      if (cut > 0) {
        // The carried tail is copied out first: the block's memory moves to a thread with it.
        const rest = Buffer.from(whole.subarray(cut));
        yield block(whole.subarray(0, cut));
        parts = [rest];
        size = rest.length;
        scanned = rest.length;
        lastCut = -1;
      } else if (size > MAX_RECORD_BYTES) {
        startSkipping(whole);
      } else {
        parts = [whole];
      }
    }
  } catch (error) {
    // Gzip data cut short or corrupt: the whole lines decompressed before it still load (the caller reports the
    // rest of the object as one rejection, after them). Of song values, only the blocks already cut.
    if (lines && !skipping && size > 0 && isCorruptGzip(error)) {
      const whole = Buffer.concat(parts, size);
      const cut = whole.lastIndexOf(NEWLINE);
      if (cut !== -1) yield block(whole.subarray(0, cut + 1));
    }
    throw error;
  }
  if (skipping) yield { oversize: skipping };
  else if (size > 0) yield block(Buffer.concat(parts, size));
}
