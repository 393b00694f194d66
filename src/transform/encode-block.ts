import { isUtf8 } from 'node:buffer';
import { csvField } from './csv.js';
import { csvRowOfText } from './csv-row.js';
import { encodeBatch, type Rejection } from './record-encoder.js';
import { MAX_RECORD_BYTES, RecordFramer } from './record-splitter.js';
import { FRAMING } from './object-blocks.js';
import { STAGING, type RecordKind } from './schema.js';
import { oversizeReason } from './validate.js';

/** A piece of one object: whole records (cut at a line end), with where it starts. */
export interface BlockTask {
  readonly kind: RecordKind;
  readonly key: string;
  /** Handed over to the parser thread with its whole ArrayBuffer (transferred): nothing else may use that buffer. */
  readonly bytes: Uint8Array;
  /** Line of the object where the block starts (1-based). */
  readonly firstLine: number;
  readonly atObjectStart: boolean;
}

export interface BlockResult {
  /**
   * Staging CSV of the block's valid records, as UTF-8 bytes: encoded row by row where it is made (a row
   * from an ASCII line is a one-byte string, written at memcpy speed), and handed back from a parser thread
   * with its ArrayBuffer transferred, so the main thread neither copies nor encodes it.
   */
  readonly csv: Buffer;
  readonly rows: number;
  readonly rejections: Rejection[];
  readonly lastLine: number;
}

const RAW_KEPT = 64 * 1024;
const NEWLINE = 0x0a;
const isEdgeSpace = (c: number): boolean => c === 0x0d || c === 0x20 || c === 0x09;

type Utf8Writer = Buffer & { utf8Write?: (text: string, offset: number) => number };

/** CSV rows appended as UTF-8 into one buffer of its own (never Node's pool: it may be transferred), grown as needed. */
class CsvBytes {
  private buffer: Utf8Writer;
  private length = 0;

  constructor(expected: number) {
    this.buffer = Buffer.allocUnsafeSlow(Math.max(expected, 64 * 1024));
  }

  write(row: string): void {
    // A UTF-16 unit takes at most 3 bytes.
    if (this.length + row.length * 3 > this.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.length + row.length * 3));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    // utf8Write: Buffer.write without its argument checks (measured: a third faster per row).
    this.length += this.buffer.utf8Write ? this.buffer.utf8Write(row, this.length) : this.buffer.write(row, this.length);
  }

  /** The rows written; copied into a buffer of their size when much of the room is unused, since the whole buffer lives on with them. */
  bytes(): Buffer {
    if (this.length >= this.buffer.length * 0.75) return this.buffer.subarray(0, this.length);
    const exact = Buffer.allocUnsafeSlow(this.length);
    this.buffer.copy(exact, 0, 0, this.length);
    return exact;
  }
}

/**
 * The fast path for JSON lines that are all valid UTF-8 (nearly always): lines are cut on the bytes and each
 * is decoded alone (an ASCII line stays a one-byte string, which JSON.parse reads faster than a slice of a
 * block decoded whole). Same records, same rules as RecordFramer: BOM at the object's start dropped, CR and
 * edge blanks trimmed, blank lines skipped, a last line without a line end marked unterminated.
 */
function encodeJsonLines(task: BlockTask, bytes: Buffer): BlockResult {
  const table = STAGING[task.kind];
  const lineage = ',' + csvField(task.key) + ',';
  // CSV rows are shorter than their JSON (no field names), lineage aside: room for the usual case at once.
  const csv = new CsvBytes(bytes.length);
  let rows = 0;
  const rejections: Rejection[] = [];
  let line = task.firstLine;
  let lastLine = 0;
  const length = bytes.length;
  let start = task.atObjectStart && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (start < length) {
    let end = bytes.indexOf(NEWLINE, start);
    const terminated = end !== -1;
    if (!terminated) end = length;
    let stop = end;
    while (stop > start && isEdgeSpace(bytes[stop - 1]!)) stop -= 1;
    let first = start;
    while (first < stop && isEdgeSpace(bytes[first]!)) first += 1;
    if (first < stop) {
      if (stop - start > MAX_RECORD_BYTES) {
        // Only the kept start is decoded: 3 bytes or more make one UTF-16 unit.
        const raw = bytes.toString('utf8', start, Math.min(stop, start + 3 * RAW_KEPT + 4)).slice(0, RAW_KEPT);
        rejections.push({ source: task.key, line, reason: oversizeReason(stop - start), raw });
      } else {
        const raw = bytes.toString('utf8', start, stop);
        const row = csvRowOfText(table, raw, !terminated);
        if (typeof row === 'string') {
          csv.write(row + lineage + line + '\n');
          rows += 1;
        } else {
          rejections.push({ source: task.key, line, reason: row.reason, raw: raw.length > RAW_KEPT ? raw.slice(0, RAW_KEPT) : raw });
        }
      }
      lastLine = line;
    }
    line += 1;
    start = end + 1;
  }
  return { csv: csv.bytes(), rows, rejections, lastLine };
}

/** Frames, validates and encodes one block: the unit of work of a parser thread. */
export function encodeBlock(task: BlockTask): BlockResult {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  if (FRAMING[task.kind] === 'lines' && isUtf8(bytes)) return encodeJsonLines(task, bytes);
  // Invalid UTF-8 somewhere, or song objects: frame the bytes, so a bad line is rejected alone.
  const framer = new RecordFramer(FRAMING[task.kind], { firstLine: task.firstLine, atObjectStart: task.atObjectStart });
  const records = framer.push(bytes);
  records.push(...framer.end());
  const batch = encodeBatch(STAGING[task.kind], task.key, records);
  return { ...batch, csv: Buffer.from(batch.csv) };
}
