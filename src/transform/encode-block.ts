import { encodeBatch, type Rejection } from './record-encoder.js';
import { RecordFramer } from './record-splitter.js';
import { FRAMING } from './object-records.js';
import { STAGING, type RecordKind } from './schema.js';

/** A piece of one object: whole records (cut at a line end), with where it starts. */
export interface BlockTask {
  readonly kind: RecordKind;
  readonly key: string;
  readonly bytes: Uint8Array;
  /** Line of the object where the block starts (1-based). */
  readonly firstLine: number;
  readonly atObjectStart: boolean;
}

export interface BlockResult {
  /** Staging CSV of the block's valid records, UTF-8. */
  readonly csv: Uint8Array;
  readonly rows: number;
  readonly rejections: Rejection[];
  readonly lastLine: number;
}

const utf8 = new TextEncoder();

/** Frames, validates and encodes one block: the unit of work of a parser thread. */
export function encodeBlock(task: BlockTask): BlockResult {
  const framer = new RecordFramer(FRAMING[task.kind], { firstLine: task.firstLine, atObjectStart: task.atObjectStart });
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const records = framer.push(bytes);
  records.push(...framer.end());
  const batch = encodeBatch(STAGING[task.kind], task.key, records);
  // A fresh ArrayBuffer (never Node's shared pool), so it can be transferred rather than copied.
  return { csv: utf8.encode(batch.csv), rows: batch.rows, rejections: batch.rejections, lastLine: batch.lastLine };
}
