import { EtlError, describeError } from '../errors.js';
import { fetchOrdered } from '../extract/ordered-fetch.js';
import type { Source, SourceObject } from '../extract/source.js';
import { encodeBlock, type BlockResult } from '../transform/encode-block.js';
import { isCorruptGzip, objectPieces, type OversizeRecord } from '../transform/object-blocks.js';
import { MAX_RECORD_BYTES } from '../transform/record-splitter.js';
import type { StagingTable } from '../transform/schema.js';
import type { EncodePool } from '../transform/worker-pool.js';
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
  /** Parser threads the blocks are spread over. */
  readonly pool: EncodePool;
  readonly report: SourceReport;
  readonly rejects: RejectsFile;
  readonly tracker?: Tracker;
}

/** Blocks up to this size are parsed on the main thread. */
const INLINE_BLOCK_BYTES = 16 * 1024;
/**
 * With fewer parser threads than cores, once every thread has this many blocks in hand the main thread parses
 * the next block itself: it is otherwise idle most of the time, and the threads keep enough work queued to
 * stay busy meanwhile.
 */
const MAIN_SHARE_DEPTH = 2;

/** The ordered stream of work: object boundaries, blocks to parse, and problems found while reading. */
type Step =
  | { readonly begin: SourceObject }
  | { readonly result: Promise<BlockResult> }
  | { readonly oversize: OversizeRecord }
  | { readonly corrupt: string; readonly object: SourceObject }
  | { readonly end: SourceObject };

async function* steps(options: ExtractTableOptions): AsyncGenerator<Step> {
  const { table, source, pool } = options;
  const objects = options.objects ?? source.list();
  for await (const { object, body } of fetchOrdered(source, objects, options.concurrency)) {
    yield { begin: object };
    try {
      for await (const piece of objectPieces(table.kind, object.key, body)) {
        // The block starts parsing now, on a thread, while later steps are produced.
        if ('block' in piece) {
          // Small blocks (a song file) cost less to parse here than a round trip to a thread.
          const here = piece.block.bytes.length <= INLINE_BLOCK_BYTES || pool.shouldShare(MAIN_SHARE_DEPTH);
          const result = here ? Promise.resolve(encodeBlock(piece.block)) : pool.run(piece.block);
          // Awaited in order later; until then a failure must not count as unhandled.
          result.catch(() => {});
          yield { result };
        } else {
          yield piece;
        }
      }
    } catch (error) {
      if (!isCorruptGzip(error)) {
        if (error instanceof EtlError) throw error;
        throw new EtlError(`Cannot read ${source.url} object ${object.key}: ${describeError(error)}`, { cause: error });
      }
      yield { corrupt: describeError(error), object };
    }
    yield { end: object };
  }
}

/** Starts each block's promise early, then hands results over in order: a bounded window of blocks in flight. */
async function* inOrder(options: ExtractTableOptions): AsyncGenerator<Step> {
  const window: Step[] = [];
  const limit = options.pool.size * 2 + 2;
  for await (const step of steps(options)) {
    window.push(step);
    // Results already settled are not counted: only blocks still on threads hold the window.
    while (window.filter((s) => 'result' in s).length >= limit) {
      const head = window.shift()!;
      // Only waited for here: a failure is reported below, in order, with its object.
      if ('result' in head) await head.result.then(() => {}, () => {});
      yield head;
    }
  }
  yield* window;
}

/**
 * Streams a source's objects through validation on parser threads, yielding staging CSV (whole rows per
 * chunk) in object-key order. Rejections go to the rejects file, per-object counts to the report. A corrupt
 * gzip object's good records are kept and the rest of it is reported as one rejection; a source that fails
 * ends the run.
 */
export async function* extractTable(options: ExtractTableOptions): AsyncGenerator<Buffer> {
  const { report, rejects, tracker } = options;
  let entry: ObjectReport | undefined;
  let lastLine = 0;
  for await (const step of inOrder(options)) {
    if ('begin' in step) {
      const o = step.begin;
      entry = { key: o.key, size: o.size, version: o.version, records: 0, loaded: 0, rejected: 0 };
      lastLine = 0;
    } else if ('result' in step) {
      let result: BlockResult;
      try {
        result = await step.result;
      } catch (error) {
        // A parser thread that died (out of memory, say) took the block with it: name the object it was reading.
        throw new EtlError(`Parsing ${options.source.url} object ${entry!.key} failed: ${describeError(error)}`, { cause: error });
      }
      entry!.loaded += result.rows;
      entry!.rejected += result.rejections.length;
      lastLine = Math.max(lastLine, result.lastLine);
      await rejects.write(options.table.kind, result.rejections, report);
      if (result.csv.length > 0) yield result.csv;
    } else if ('oversize' in step) {
      const { line, size, head } = step.oversize;
      entry!.rejected += 1;
      lastLine = line;
      const reason = `record of ${size} bytes is longer than the ${MAX_RECORD_BYTES}-byte limit`;
      await rejects.write(options.table.kind, [{ source: entry!.key, line, reason, raw: head.toString('utf8') }], report);
    } else if ('corrupt' in step) {
      entry!.error = `corrupt or truncated gzip data: ${step.corrupt}`;
      entry!.rejected += 1;
      await rejects.write(options.table.kind, [{ source: entry!.key, line: lastLine + 1, reason: 'truncated or corrupt gzip data', raw: '' }], report);
    } else {
      entry!.records = entry!.loaded + entry!.rejected;
      if (entry!.records === 0) entry!.empty = true;
      addObject(report, entry!);
      tracker?.update({ objects: report.objects, records: report.records, rejected: report.rejected });
    }
  }
}
