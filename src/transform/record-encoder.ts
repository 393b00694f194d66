import { csvField } from './csv.js';
import type { RawRecord } from './record-splitter.js';
import type { StagingTable } from './schema.js';
import { csvRowOfRecord } from './csv-row.js';

/** A record that failed validation, with everything needed to find, read and replay it. */
export interface Rejection {
  readonly source: string;
  readonly line: number;
  readonly reason: string;
  /** The record's text as found (invalid UTF-8 decoded with replacement characters). */
  readonly raw: string;
}

/** The outcome of a batch of raw records: staging CSV for the good ones, rejections for the rest. */
export interface EncodedBatch {
  readonly csv: string;
  readonly rows: number;
  readonly rejections: Rejection[];
  /** Line of the batch's last record: where a failure after it is reported. */
  readonly lastLine: number;
}

const RAW_KEPT = 64 * 1024;

/** Validates and encodes a batch of one object's raw records. Pure, so worker threads can run it too. */
export function encodeBatch(table: StagingTable, sourceKey: string, records: readonly RawRecord[]): EncodedBatch {
  const lineage = ',' + csvField(sourceKey) + ',';
  let csv = '';
  let rows = 0;
  const rejections: Rejection[] = [];
  for (const record of records) {
    const row = csvRowOfRecord(table, record);
    if (typeof row === 'string') {
      csv += row + lineage + record.line + '\n';
      rows += 1;
    } else {
      const raw = record.bytes.toString('utf8');
      rejections.push({ source: sourceKey, line: record.line, reason: row.reason, raw: raw.length > RAW_KEPT ? raw.slice(0, RAW_KEPT) : raw });
    }
  }
  return { csv, rows, rejections, lastLine: records.at(-1)?.line ?? 0 };
}
