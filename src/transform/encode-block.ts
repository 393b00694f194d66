import { isUtf8 } from 'node:buffer';
import { csvField, csvLine } from './csv.js';
import { encodeBatch, type Rejection } from './record-encoder.js';
import { MAX_RECORD_BYTES, RecordFramer } from './record-splitter.js';
import { FRAMING } from './object-blocks.js';
import { STAGING, type RecordKind } from './schema.js';
import { oversizeReason, validateText } from './validate.js';

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
  /** Staging CSV of the block's valid records. */
  readonly csv: string;
  readonly rows: number;
  readonly rejections: Rejection[];
  readonly lastLine: number;
}

const RAW_KEPT = 64 * 1024;
const isEdgeSpace = (c: number): boolean => c === 0x0d || c === 0x20 || c === 0x09;

/**
 * The fast path for JSON lines that are all valid UTF-8 (nearly always): the block is decoded once and cut
 * into lines as a string, rather than checked and decoded line by line. Same records, same rules as
 * RecordFramer: BOM at the object's start dropped, CR and edge blanks trimmed, blank lines skipped, a last
 * line without a line end marked unterminated.
 */
function encodeTextLines(task: BlockTask, text: string): BlockResult {
  const table = STAGING[task.kind];
  const lineage = ',' + csvField(task.key) + ',';
  const lines: string[] = [];
  let rows = 0;
  const rejections: Rejection[] = [];
  let line = task.firstLine;
  let lastLine = 0;
  let start = task.atObjectStart && text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const terminated = end !== -1;
    if (!terminated) end = text.length;
    let stop = end;
    while (stop > start && isEdgeSpace(text.charCodeAt(stop - 1))) stop -= 1;
    let first = start;
    while (first < stop && isEdgeSpace(text.charCodeAt(first))) first += 1;
    if (first < stop) {
      const raw = text.slice(start, stop);
      const bytes = raw.length * 3 > MAX_RECORD_BYTES ? Buffer.byteLength(raw) : 0;
      const verdict = bytes > MAX_RECORD_BYTES ? { reason: oversizeReason(bytes) } : validateText(table, raw, !terminated);
      if ('values' in verdict) {
        lines.push(csvLine(verdict.values) + lineage + line);
        rows += 1;
      } else {
        rejections.push({ source: task.key, line, reason: verdict.reason, raw: raw.length > RAW_KEPT ? raw.slice(0, RAW_KEPT) : raw });
      }
      lastLine = line;
    }
    line += 1;
    start = end + 1;
  }
  return { csv: rows > 0 ? lines.join('\n') + '\n' : '', rows, rejections, lastLine };
}

/** Frames, validates and encodes one block: the unit of work of a parser thread. */
export function encodeBlock(task: BlockTask): BlockResult {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  if (FRAMING[task.kind] === 'lines' && isUtf8(bytes)) return encodeTextLines(task, bytes.toString('utf8'));
  // Invalid UTF-8 somewhere, or song objects: frame the bytes, so a bad line is rejected alone.
  const framer = new RecordFramer(FRAMING[task.kind], { firstLine: task.firstLine, atObjectStart: task.atObjectStart });
  const records = framer.push(bytes);
  records.push(...framer.end());
  return encodeBatch(STAGING[task.kind], task.key, records);
}
