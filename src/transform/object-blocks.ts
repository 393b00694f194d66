import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BlockTask } from './encode-block.js';
import { MAX_RECORD_BYTES, KEPT_OF_OVERSIZE } from './record-splitter.js';
import type { Framing } from './record-splitter.js';
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
/** A song object (values framing) is parsed whole; beyond this it is rejected rather than buffered. */
export const MAX_VALUES_OBJECT_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;

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

const countNewlines = (bytes: Buffer): number => {
  let n = 0;
  for (let i = bytes.indexOf(NEWLINE); i !== -1; i = bytes.indexOf(NEWLINE, i + 1)) n += 1;
  return n;
};

/**
 * Cuts one object's (decompressed) bytes into blocks of whole records for the parser threads, in order.
 * JSON lines are cut at line ends; a song object (values framing) is one block. Memory per object stays
 * within about BLOCK_BYTES + MAX_RECORD_BYTES: a longer line is skipped and reported, never held.
 */
export async function* objectPieces(kind: RecordKind, key: string, body: Readable, blockBytes = BLOCK_BYTES): AsyncGenerator<ObjectPiece> {
  const input: AsyncIterable<Buffer> = key.endsWith('.gz') ? body.pipe(createGunzip()) : body;
  if (key.endsWith('.gz')) body.on('error', (error) => (input as Readable).destroy(error));
  const lines = FRAMING[kind] === 'lines';
  const limit = lines ? blockBytes : MAX_VALUES_OBJECT_BYTES;
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

  try {
    for await (const chunk of input) {
      if (skipping) {
        // A song object too big to parse is rejected whole; a long log line only up to its line end.
        const end = lines ? chunk.indexOf(NEWLINE) : -1;
        if (end === -1) {
          skipping.size += chunk.length;
          continue;
        }
        skipping.size += end;
        yield { oversize: skipping };
        skipping = undefined;
        line += 1;
        parts = [chunk.subarray(end + 1)];
        size = chunk.length - end - 1;
        continue;
      }
      parts.push(chunk);
      size += chunk.length;
      if (size < limit) continue;
      const whole = Buffer.concat(parts, size);
      const cut = lines ? whole.lastIndexOf(NEWLINE) : -1;
      if (cut !== -1) {
        // The carried tail is copied out first: the block's memory moves to a thread with it.
        const rest = Buffer.from(whole.subarray(cut + 1));
        yield block(whole.subarray(0, cut + 1));
        parts = [rest];
        size = rest.length;
      } else if (size > (lines ? MAX_RECORD_BYTES : MAX_VALUES_OBJECT_BYTES)) {
        skipping = { line, size, head: Buffer.from(whole.subarray(0, KEPT_OF_OVERSIZE)) };
        parts = [];
        size = 0;
      } else {
        parts = [whole];
      }
    }
  } catch (error) {
    // Gzip data cut short or corrupt: the whole lines decompressed before it still load (the caller reports the
    // rest of the object as one rejection, after them). A song object (one value) is incomplete: nothing of it.
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
