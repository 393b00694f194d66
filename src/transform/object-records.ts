import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { RecordEncoder, type EncodedBatch } from './record-encoder.js';
import { RecordSplitter, type Framing } from './record-splitter.js';
import type { RecordKind, StagingTable } from './schema.js';

/** Log files are JSON lines; song files hold one object each, or several, possibly spread over lines. */
export const FRAMING: Readonly<Record<RecordKind, Framing>> = { events: 'lines', songs: 'values' };

/** A gzip stream that ends early or holds garbage: a data problem of the object, not of the source. */
export const isCorruptGzip = (error: unknown): boolean =>
  typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('Z_');

/**
 * One object's bytes -> batches of staging CSV and rejections: gunzip (for `.gz` keys), split into records,
 * validate, encode. Backpressure runs end to end: nothing is read faster than the consumer takes batches.
 */
export async function* objectBatches(table: StagingTable, key: string, body: Readable): AsyncGenerator<EncodedBatch> {
  const encoder = new RecordEncoder(table, key);
  const stages = key.endsWith('.gz') ? [createGunzip()] : [];
  const done = pipeline([body, ...stages, new RecordSplitter(FRAMING[table.kind]), encoder]);
  // Failures surface through the iteration below; keep the promise from being reported as unhandled.
  done.catch(() => {});
  for await (const batch of encoder as AsyncIterable<EncodedBatch>) yield batch;
  await done;
}
