/**
 * Many small objects (issue 12): production holds ~15,000 song files of ~250 bytes in S3, where each request
 * costs a round trip. This case serves N generated song objects from the loopback S3 (s3rver, in a process of
 * its own, adding a fixed latency to every request inside that process: the client neither sleeps nor knows)
 * and extracts them with the pipeline's own parts: S3Source listing, the ordered fetch at the configured
 * concurrency, validation and CSV encoding. Measured: from the first listing request to the last CSV row.
 *
 *   npx tsx bench/small-objects.ts --objects 15000 --latency 20 [--concurrency N] [--json]
 *
 * `runSmallObjects(options)` does the same for a program (bench/cases.ts runs it in its own process).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { SETTINGS } from '../src/config/settings.js';
import { createS3Client } from '../src/extract/s3-client.js';
import { S3Source } from '../src/extract/s3-source.js';
import { generatedSong, songFileText } from '../src/generate/generator.js';
import { extractTable } from '../src/pipeline/extract-table.js';
import { RejectsFile } from '../src/pipeline/rejects.js';
import { emptySourceReport } from '../src/pipeline/report.js';
import { STAGING } from '../src/transform/schema.js';
import { EncodePool } from '../src/transform/worker-pool.js';
import { startS3Server } from '../test/helpers/s3-server.js';

export interface SmallObjectsOptions {
  /** Song objects served (default 15,000). */
  readonly objects?: number;
  /** Added to every request by the server, ms (default 20). */
  readonly latencyMs?: number;
  /** Objects fetched at once (default: S3.CONCURRENCY's default, what `etl` uses unless configured). */
  readonly concurrency?: number;
  /** Parser threads (default: ETL.WORKERS's default). */
  readonly workers?: number;
  readonly seed?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

export interface SmallObjectsResult {
  readonly objects: number;
  /** Bytes of the objects. */
  readonly bytes: number;
  /** Staging rows written (one per valid song object). */
  readonly rows: number;
  /** Listing plus fetching and encoding every object, seconds. */
  readonly seconds: number;
  readonly objectsPerSecond: number;
  /** The fetch concurrency the extract was given (S3.CONCURRENCY). */
  readonly concurrency: number;
  /** The most requests the server had in progress at once: the concurrency really reached. */
  readonly maxConcurrentRequests: number;
  /** Requests the server received during the measurement: GetObject, and the rest (ListObjectsV2 pages). */
  readonly getRequests: number;
  readonly otherRequests: number;
  readonly latencyMs: number;
  /** CPU time of this process during the measurement (user + system), seconds: the client's cost. */
  readonly cpuSeconds: number;
  /** CPU time of the s3rver process during the measurement, seconds (on the same cores, unlike real S3). */
  readonly serverCpuSeconds: number;
  /** Setup (server start, seeding) included. */
  readonly wallSeconds: number;
}

const BUCKET = 'small-objects';
const PREFIX = 'song_data/';

/** Serves `objects` generated song files from s3rver with `latencyMs` per request and extracts them. */
export async function runSmallObjects(options: SmallObjectsOptions = {}): Promise<SmallObjectsResult> {
  const started = performance.now();
  const objects = options.objects ?? 15_000;
  const latencyMs = options.latencyMs ?? 20;
  const concurrency = options.concurrency ?? Number(SETTINGS.S3.CONCURRENCY.default);
  const workers = options.workers ?? Number(SETTINGS.ETL.WORKERS.default);
  const seed = options.seed ?? 12;
  const log = options.log ?? (() => {});

  const server = await startS3Server({ buckets: [BUCKET], proxy: false });
  const scratch = await mkdtemp(join(tmpdir(), 'sparkify-small-objects-'));
  const pool = new EncodePool(workers);
  try {
    log(`small-objects: seeding ${objects.toLocaleString('en-US')} song objects`);
    let bytes = 0;
    const bodies: [string, string][] = [];
    for (let i = 0; i < objects; i++) {
      const song = generatedSong(seed, i);
      const text = songFileText(song.record);
      bytes += Buffer.byteLength(text);
      bodies.push([PREFIX + song.path.slice('song_data/'.length), text]);
    }
    await server.putAll(BUCKET, bodies);
    await server.setLatency(latencyMs);

    const client = createS3Client(server.options);
    const source = new S3Source(`s3://${BUCKET}/${PREFIX}`, client);
    const report = emptySourceReport(source.url);
    const rejects = new RejectsFile(join(scratch, 'rejects.jsonl'));
    log(`small-objects: extracting at concurrency ${concurrency}, ${latencyMs} ms per request`);
    const before = await server.requestStats({ reset: true });
    const cpu = process.cpuUsage();
    const begin = performance.now();
    let rows = 0;
    for await (const chunk of extractTable({ table: STAGING.songs, source, concurrency, pool, report, rejects })) {
      for (let at = chunk.indexOf('\n'); at !== -1; at = chunk.indexOf('\n', at + 1)) rows++;
    }
    const seconds = (performance.now() - begin) / 1000;
    const used = process.cpuUsage(cpu);
    const stats = await server.requestStats();
    await rejects.close();
    client.destroy();
    if (report.objects !== objects || rows !== objects) {
      throw new Error(`small-objects: ${report.objects} objects and ${rows} rows extracted, expected ${objects} of each (${report.rejected} rejected)`);
    }
    return {
      objects,
      bytes,
      rows,
      seconds: round(seconds),
      objectsPerSecond: Math.round(objects / seconds),
      concurrency,
      maxConcurrentRequests: stats.maxConcurrent,
      getRequests: stats.gets,
      otherRequests: stats.requests - stats.gets,
      latencyMs,
      cpuSeconds: round((used.user + used.system) / 1e6),
      serverCpuSeconds: round(stats.cpuSeconds - before.cpuSeconds),
      wallSeconds: round((performance.now() - started) / 1000),
    };
  } finally {
    await pool.close();
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

const positive = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('small-objects')
    .description('extract many small song objects from a loopback S3 with a fixed latency per request')
    .option('--objects <n>', 'song objects', positive('--objects'), 15_000)
    .option('--latency <ms>', 'added to each request by the server', positive('--latency'), 20)
    .option('--concurrency <n>', 'objects fetched at once (default: S3.CONCURRENCY default)', positive('--concurrency'))
    .option('--workers <n>', 'parser threads (default: ETL.WORKERS default)', positive('--workers'))
    .option('--json', 'print the result as one JSON line')
    .parse(argv, { from: 'user' });
  const opts = program.opts<{ objects: number; latency: number; concurrency?: number; workers?: number; json?: boolean }>();
  const result = await runSmallObjects({
    objects: opts.objects,
    latencyMs: opts.latency,
    concurrency: opts.concurrency,
    workers: opts.workers,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    `${result.objects.toLocaleString('en-US')} objects (${result.bytes.toLocaleString('en-US')} bytes) at ${result.latencyMs} ms per request: ` +
      `${result.seconds} s, ${result.objectsPerSecond.toLocaleString('en-US')} objects/s; concurrency ${result.concurrency} ` +
      `(at most ${result.maxConcurrentRequests} requests in progress at the server; ${result.getRequests} GETs, ${result.otherRequests} other); ` +
      `CPU: client ${result.cpuSeconds} s, server ${result.serverCpuSeconds} s; wall time with setup ${result.wallSeconds} s\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`small-objects: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
