import { EtlError, describeError } from '../errors.js';
import { fetchOrdered } from '../extract/ordered-fetch.js';
import type { Source, SourceObject } from '../extract/source.js';
import { isCorruptGzip, objectBatches } from '../transform/object-records.js';
import type { StagingTable } from '../transform/schema.js';
import type { Tracker } from './progress.js';
import type { RejectsFile } from './rejects.js';
import { addObject, type ObjectReport, type SourceReport } from './report.js';

export interface ExtractTableOptions {
  readonly table: StagingTable;
  readonly source: Source;
  /** The objects to read, in key order; default: all the source lists. */
  readonly objects?: AsyncIterable<SourceObject>;
  /** Objects fetched ahead while one is parsed. */
  readonly concurrency: number;
  readonly report: SourceReport;
  readonly rejects: RejectsFile;
  readonly tracker?: Tracker;
}

/**
 * Streams a source's objects through validation, yielding staging CSV (whole rows per chunk) in object-key
 * order. Rejections go to the rejects file; per-object counts go to the report. A corrupt object's good
 * records are kept and the rest of it is reported as one rejection; a source that fails ends the run.
 */
export async function* extractTable(options: ExtractTableOptions): AsyncGenerator<string> {
  const { table, source, report, rejects, tracker } = options;
  const objects = options.objects ?? source.list();
  for await (const { object, body } of fetchOrdered(source, objects, options.concurrency)) {
    const entry: ObjectReport = { key: object.key, size: object.size, version: object.version, records: 0, loaded: 0, rejected: 0 };
    let lastLine = 0;
    try {
      for await (const batch of objectBatches(table, object.key, body)) {
        entry.loaded += batch.rows;
        entry.rejected += batch.rejections.length;
        lastLine = batch.lastLine;
        await rejects.write(batch.rejections, report);
        if (batch.csv) yield batch.csv;
      }
    } catch (error) {
      if (!isCorruptGzip(error)) {
        if (error instanceof EtlError) throw error;
        throw new EtlError(`Cannot read ${source.url} object ${object.key}: ${describeError(error)}`, { cause: error });
      }
      entry.error = `corrupt or truncated gzip data: ${describeError(error)}`;
      entry.rejected += 1;
      await rejects.write([{ source: object.key, line: lastLine + 1, reason: 'truncated or corrupt gzip data', raw: '' }], report);
    }
    entry.records = entry.loaded + entry.rejected;
    if (entry.records === 0) entry.empty = true;
    addObject(report, entry);
    tracker?.update({ objects: report.objects, records: report.records, rejected: report.rejected });
  }
}
