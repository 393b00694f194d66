import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { EtlError } from '../errors.js';
import { csvLine } from '../transform/csv.js';
import type { Rejection } from '../transform/record-encoder.js';
import type { RecordKind } from '../transform/schema.js';
import { reasonCategory } from '../transform/validate.js';
import type { SourceReport } from './report.js';

/** One line of a rejects file. */
export interface RejectedRecord extends Rejection {
  readonly kind: RecordKind;
}

/** load_errors.raw_line is a VARCHAR(65535) on Redshift (bytes; up to 3 per character): longer raw text is kept whole in the rejects file only. */
const RAW_IN_WAREHOUSE = 20_000;

/**
 * The run's rejects file: one JSON object per rejected record (kind, source, line, reason, raw), in the order
 * found, so a user can read it, fix the raw text and replay it (`etl replay`).
 */
export class RejectsFile {
  private readonly out: WriteStream;
  private closed: Promise<void> | undefined;
  count = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path, { flags: 'a' });
  }

  /** Appends rejections and counts their reasons into the source's report; waits if the disk is behind. */
  async write(kind: RecordKind, rejections: readonly Rejection[], report: SourceReport): Promise<void> {
    if (rejections.length === 0) return;
    let text = '';
    for (const r of rejections) {
      text += JSON.stringify({ kind, source: r.source, line: r.line, reason: r.reason, raw: r.raw }) + '\n';
      const category = reasonCategory(r.reason);
      report.reasons[category] = (report.reasons[category] ?? 0) + 1;
    }
    this.count += rejections.length;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  /** Flushes and closes the file; safe to call more than once. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve, reject) => this.out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    return this.closed;
  }
}

/** The records of a rejects file, in order; a line that is not a rejected record is an error naming it. */
export async function* readRejects(path: string): AsyncGenerator<RejectedRecord> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of lines) {
      number += 1;
      if (line.trim() === '') continue;
      let record: RejectedRecord;
      try {
        record = JSON.parse(line) as RejectedRecord;
      } catch {
        throw new EtlError(`${path} line ${number}: not a JSON object of a rejects file`);
      }
      if ((record.kind !== 'events' && record.kind !== 'songs') || typeof record.raw !== 'string' || typeof record.source !== 'string') {
        throw new EtlError(`${path} line ${number}: expected {kind: "events"|"songs", source, line, reason, raw}`);
      }
      yield record;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EtlError(`Rejects file ${path} does not exist`);
    throw error;
  }
}

/** Text any warehouse stores: NUL (rejected for exactly that reason) becomes U+FFFD. */
const warehouseText = (text: string): string => text.replaceAll('\u0000', '\ufffd');

/** A rejects file as load_errors CSV rows (see LOAD_ERRORS), in chunks. */
export async function* loadErrorsCsv(runId: string, path: string): AsyncGenerator<string> {
  let chunk = '';
  for await (const r of readRejects(path)) {
    chunk += csvLine([runId, r.kind, r.source, r.line, r.reason.slice(0, 300), warehouseText(r.raw.slice(0, RAW_IN_WAREHOUSE))]) + '\n';
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
