/**
 * The cloud path of the pipeline (src/pipeline/run.ts) against a real S3-compatible server (s3rver on loopback,
 * behind a fault-injecting proxy; see test/helpers/s3-server.ts):
 *
 *  - `run` from s3:// sources, with gzipped and plain objects, more than one ListObjectsV2 page of song files and
 *    faults mid-stream (cut bodies, 503, connection resets, on objects and on listing pages), gives the very
 *    tables a `run` from the same files on disk gives;
 *  - `extract` to an S3 staging area writes gzipped parts and a Redshift manifest per table, and `stage` on
 *    PostgreSQL (standing in for Redshift's COPY ... MANIFEST) loads exactly those parts;
 *  - a missing bucket or an unreachable endpoint fails the run with a one-line EtlError naming it.
 *
 * Staging rows and `songs` keep the object key a row came from (source_key): the full S3 key for an S3 source,
 * the path relative to the folder for a local one. Dumps are compared with the S3 prefix taken off that column;
 * every other column, songplay_id included on the same engine, must be equal as it is.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, relative, sep } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { EtlError } from '../../src/errors.js';
import { generate, type GenerateSummary } from '../../src/generate/generator.js';
import type { Manifest } from '../../src/pipeline/staging-area.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { extract, readReport, run, runsDir, stage, transform } from '../../src/pipeline/run.js';
import { S3RVER_CREDENTIALS, startS3Server, type Fault, type ProxiedRequest, type S3TestServer } from '../helpers/s3-server.js';
import {
  ALL_TABLES,
  ANALYTIC_TABLES,
  closeKeptOpen,
  removeTempDirs,
  runPgTests,
  tempDir,
  testWarehouse,
  type Dump,
  type Row,
  type TestWarehouse,
} from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's runs (see openKeptOpen): the runs are real, the reopening is skipped.
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const progress = createProgress(process.stderr, true);
const PG = await runPgTests();

const BUCKET = 'sparkify-input';
const PREFIX = 'udacity/';
const STAGING_BUCKET = 'staging-bucket';
const STAGING_URL = `s3://${STAGING_BUCKET}/sparkify/staging/`;
/** More than one ListObjectsV2 page (s3rver, like S3, returns at most 1,000 keys a page). */
const SONGS = 1_100;
/** Enough for an event CSV of more than one 1 MiB staging part. */
const EVENTS = 4_000;

let server: S3TestServer;
let root: string;
let summary: GenerateSummary;
/** Paths relative to the song and log folders (= keys relative to the S3 prefixes), sorted, with their sizes. */
let songKeys: string[];
let logKeys: string[];
const sizes = new Map<string, number>();
let local: TestWarehouse;
let fromS3: TestWarehouse;
let localDump: Dump;
let localReport: RunReport;
/** The run from S3 through the faulty proxy, and its tables. */
let report: RunReport;
let dump: Dump;
/** Faults put on objects, by key relative to the bucket. */
const objectFaults: [key: string, faults: Fault[]][] = [];

const localSources = () => ({ songData: join(root, 'song_data'), logData: join(root, 'log_data') });
const s3Sources = { songData: `s3://${BUCKET}/${PREFIX}song_data/`, logData: `s3://${BUCKET}/${PREFIX}log_data/` };

/**
 * The config of `base` (as the test helpers build it) plus S3 settings, built the way the CLI builds it:
 * from `SPARKIFY_<SECTION>_<KEY>` variables only.
 */
function withS3(base: Config, extra: Record<string, string>): Config {
  const env: NodeJS.ProcessEnv = {
    SPARKIFY_S3_SONG_DATA: base.s3.songData,
    SPARKIFY_S3_LOG_DATA: base.s3.logData,
    SPARKIFY_S3_CONCURRENCY: '32',
    SPARKIFY_S3_REGION: 'us-east-1',
    SPARKIFY_S3_ENDPOINT_URL: server.proxyEndpoint!,
    SPARKIFY_AWS_KEY: S3RVER_CREDENTIALS.accessKeyId,
    SPARKIFY_AWS_SECRET: S3RVER_CREDENTIALS.secretAccessKey,
    SPARKIFY_ETL_WORKERS: String(base.etl.workers),
    SPARKIFY_ETL_WORK_DIR: base.etl.workDir,
    SPARKIFY_WAREHOUSE_ENGINE: base.warehouse.engine,
    SPARKIFY_WAREHOUSE_PGLITE_DIR: base.warehouse.pgliteDir,
    SPARKIFY_CLUSTER_HOST: base.cluster.host,
    SPARKIFY_CLUSTER_DB_PORT: String(base.cluster.port),
    SPARKIFY_CLUSTER_DB_USER: base.cluster.user,
    SPARKIFY_CLUSTER_DB_NAME: base.cluster.database,
    SPARKIFY_CLUSTER_SSL: base.cluster.ssl,
    ...(base.cluster.password !== '' ? { SPARKIFY_CLUSTER_DB_PASSWORD: base.cluster.password } : {}),
    ...extra,
  };
  return loadConfig(undefined, env);
}

const sortRows = (rows: Row[]): Row[] =>
  rows
    .map((row) => ({ key: JSON.stringify(Object.values(row)), row }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => r.row);

/** A dump with the S3 prefix taken off source_key (so S3 and local keys compare), and `exclude` columns left out. */
function comparable(dump: Dump, exclude: Partial<Record<string, string>> = {}): Dump {
  const out: Dump = {};
  for (const [table, rows] of Object.entries(dump)) {
    out[table] = sortRows(
      rows.map((row) => {
        const copy: Row = { ...row };
        if (typeof copy.source_key === 'string') copy.source_key = copy.source_key.replace(new RegExp(`^${PREFIX}(song|log)_data/`), '');
        if (exclude[table] !== undefined) delete copy[exclude[table]];
        return copy;
      }),
    );
  }
  return out;
}

/** Waits for every promise to settle (so afterAll finds everything started), then throws the first failure. */
async function allSettled(promises: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The EtlError `promise` rejects with; its message must be one line. */
const etlError = async (promise: Promise<unknown>): Promise<EtlError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EtlError);
  expect((error as EtlError).message).not.toContain('\n');
  return error as EtlError;
};

/** Calls `hook` with every request the proxy sees, right after it decided the request's fault. */
function onProxiedRequest(target: S3TestServer, hook: (request: ProxiedRequest) => void): void {
  const requests = target.faults.requests;
  const push = requests.push.bind(requests);
  requests.push = (...items: ProxiedRequest[]) => {
    const n = push(...items);
    for (const item of items) hook(item);
    return n;
  };
}

const filesUnder = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

/** Gzips the files in place (`x.json` becomes `x.json.gz`). */
async function gzipInPlace(dir: string, files: readonly string[]): Promise<void> {
  for (const file of files) {
    const path = join(dir, file);
    await writeFile(`${path}.gz`, gzipSync(await readFile(path)));
    await unlink(path);
  }
}

/** Injects the faults of the run from S3: on objects of both kinds, gzipped and plain, and on two listing pages. */
function injectFaults(): void {
  const song = (i: number) => `${PREFIX}song_data/${songKeys[i]!}`;
  const log = (i: number) => `${PREFIX}log_data/${logKeys[i]!}`;
  const logSize = (i: number) => sizes.get(`log_data/${logKeys[i]!}`) ?? 0;
  // Song faults sit close together, so their retries overlap (the fetch runs up to S3.CONCURRENCY objects ahead).
  const gzSong = songKeys.findIndex((k, i) => i >= 300 && k.endsWith('.gz'));
  const plainSong = songKeys.findIndex((k, i) => i > gzSong && k.endsWith('.json'));
  const [slowSong, resetSong] = [plainSong + 1, plainSong + 2];
  const lateSong = songKeys.findIndex((k, i) => i > 1_050 && k.endsWith('.gz')); // listed on the second page
  const plainLog = logKeys.findIndex((k, i) => k.endsWith('.json') && logSize(i) > 20_000);
  const gzLog = logKeys.findIndex((k, i) => k.endsWith('.gz') && logSize(i) > 2_000);
  const otherLog = logKeys.findLastIndex((_, i) => i !== plainLog && i !== gzLog);
  expect(Math.min(gzSong, plainSong, lateSong, plainLog, gzLog, otherLog)).toBeGreaterThanOrEqual(0);
  objectFaults.push(
    [song(gzSong), [{ kind: 'cut', afterBytes: 15 }]],
    [song(plainSong), [{ kind: 'cut', afterBytes: 40 }]],
    [song(slowSong), [{ kind: 'status', status: 503, code: 'SlowDown' }]],
    [song(resetSong), [{ kind: 'reset' }]],
    [song(lateSong), [{ kind: 'cut', afterBytes: 1 }, { kind: 'reset' }]],
    [log(plainLog), [{ kind: 'cut', afterBytes: 10_000 }, { kind: 'status', status: 503, code: 'SlowDown' }]],
    [log(gzLog), [{ kind: 'cut', afterBytes: 1_000 }]],
    [log(otherLog), [{ kind: 'reset' }]],
  );
  expect(new Set(objectFaults.map(([key]) => key)).size).toBe(objectFaults.length);
  for (const [key, faults] of objectFaults) for (const fault of faults) server.faults.inject(BUCKET, key, fault);
  // The first listing page gets a 503; the page after the first one served (song_data's second page) a reset.
  server.faults.inject(BUCKET, '', { kind: 'status', status: 503, code: 'SlowDown' });
  let pagesServed = 0;
  onProxiedRequest(server, (request) => {
    if (request.bucket === BUCKET && request.key === '' && request.fault === undefined && ++pagesServed === 1) {
      server.faults.inject(BUCKET, '', { kind: 'reset' });
    }
  });
}

beforeAll(async () => {
  root = await tempDir('sparkify-s3run-');
  const prepareInput = async () => {
    summary = await generate({ dir: root, songs: SONGS, events: EVENTS, seed: 20181101, matchShare: 0.3 });
    // The same mix of gzipped and plain objects on disk and in the bucket: every third song file, every other day's log.
    const songs = await filesUnder(join(root, 'song_data'));
    const logs = await filesUnder(join(root, 'log_data'));
    await gzipInPlace(join(root, 'song_data'), songs.filter((_, i) => i % 3 === 0));
    await gzipInPlace(join(root, 'log_data'), logs.filter((_, i) => i % 2 === 1));
    songKeys = await filesUnder(join(root, 'song_data'));
    logKeys = await filesUnder(join(root, 'log_data'));
    for (const [kind, keys] of [['song_data', songKeys], ['log_data', logKeys]] as const) {
      for (const key of keys) sizes.set(`${kind}/${key}`, (await readFile(join(root, kind, key))).length);
    }
  };
  await allSettled([
    startS3Server({ buckets: [BUCKET, STAGING_BUCKET] }).then((started) => void (server = started)),
    testWarehouse('pglite', 'local').then((w) => void (local = w)),
    testWarehouse('pglite', 's3').then((w) => void (fromS3 = w)),
    prepareInput(),
  ]);
  await server.putDir(BUCKET, PREFIX, root);
  injectFaults();
  // Side by side: the run from S3 spends much of its time waiting on the server and on retry delays.
  await allSettled([
    run({ config: local.config(localSources()), progress }).then((r) => void (localReport = r)),
    run({ config: withS3(fromS3.config(s3Sources), {}), progress }).then((r) => void (report = r)),
  ]);
  // One after the other: when two dynamic imports of a vi.mock'ed module race, vitest may hand one of them the
  // real module, so concurrent TestWarehouse.use calls could bypass openKeptOpen and find the directory locked.
  localDump = await local.dump(ALL_TABLES);
  dump = await fromS3.dump(ALL_TABLES);
});

afterAll(async () => {
  await closeKeptOpen();
  await Promise.all([local?.dispose(), fromS3?.dispose()]);
  await server?.stop();
  await removeTempDirs();
});

describe('the generated input', () => {
  it('has more than one listing page of song objects, gzipped and plain, and gzipped and plain logs', () => {
    expect(songKeys).toHaveLength(SONGS);
    expect(songKeys.filter((k) => k.endsWith('.json.gz'))).toHaveLength(Math.ceil(SONGS / 3));
    expect(logKeys.filter((k) => k.endsWith('.json.gz')).length).toBeGreaterThan(10);
    expect(logKeys.filter((k) => k.endsWith('.json')).length).toBeGreaterThan(10);
    expect(localReport.sources.songs).toMatchObject({ objects: SONGS, loaded: SONGS, rejected: 0 });
    expect(localReport.sources.events).toMatchObject({ objects: logKeys.length, loaded: EVENTS, rejected: 0 });
    expect(localReport.counts.songplays).toBe(summary.songPlays);
  });
});

describe('run from S3 with faults mid-stream', () => {
  it('triggers every fault injected, on objects of both kinds and on two listing pages', () => {
    expect(server.faults.pending()).toBe(0);
    const pages = server.faults.requests.filter((r) => r.bucket === BUCKET && r.key === '');
    // song_data: page 1 (503, then served), page 2 (reset, then served); log_data: one page.
    expect(pages.map((r) => r.fault)).toEqual(['status', undefined, 'reset', undefined, undefined]);
    for (const [key, faults] of objectFaults) {
      const gets = server.faults.requests.filter((r) => r.bucket === BUCKET && r.key === key);
      expect(gets.map((r) => r.fault), key).toEqual([...faults.map((f) => f.kind), undefined]);
    }
  });

  it('reads a cut body of an object under 1 MiB again whole (a plain GET; larger ones resume with Range + If-Match)', () => {
    const [plainLogKey] = objectFaults[5]!;
    expect(sizes.get(plainLogKey.slice(PREFIX.length))).toBeLessThan(1024 * 1024);
    const gets = server.faults.requests.filter((r) => r.key === plainLogKey);
    expect(gets).toHaveLength(3);
    expect(gets.map((r) => r.range)).toEqual([undefined, undefined, undefined]);
    // Resumption of large objects: test/extract/s3-source.test.ts ("body cut mid-stream").
  });

  it('reads every object whole: the same records as from disk, nothing rejected', () => {
    expect(report.status).toBe('ok');
    expect(report.sources.songs).toMatchObject({ objects: SONGS, bytes: localReport.sources.songs!.bytes, loaded: SONGS, rejected: 0 });
    expect(report.sources.events).toMatchObject({ objects: logKeys.length, bytes: localReport.sources.events!.bytes, loaded: EVENTS, rejected: 0 });
    const objects = [...report.sources.songs!.objectReports, ...report.sources.events!.objectReports];
    expect(objects.filter((o) => o.error !== undefined)).toEqual([]);
    expect(report.sources.songs!.objectReports.map((o) => o.key)).toEqual(songKeys.map((k) => `${PREFIX}song_data/${k}`));
    expect(report.sources.songs!.objectReports.map((o) => o.size)).toEqual(songKeys.map((k) => sizes.get(`song_data/${k}`)));
    expect(report.rowsAdded).toEqual(localReport.rowsAdded);
    expect(report.counts).toEqual(localReport.counts);
  });

  it('gives the same rows as a run from the same files on disk, in all seven tables (songplay_id included)', () => {
    expect(dump.songplays!.length).toBeGreaterThan(0);
    for (const table of ALL_TABLES) expect(comparable(dump)[table], table).toEqual(comparable(localDump)[table]);
  });

  it('keeps the full S3 key as source_key (the comparison above takes the prefix off)', () => {
    expect(dump.staging_songs!.every((r) => String(r.source_key).startsWith(`${PREFIX}song_data/`))).toBe(true);
    expect(dump.staging_events!.every((r) => String(r.source_key).startsWith(`${PREFIX}log_data/`))).toBe(true);
    expect(dump.songs!.some((r) => String(r.source_key).endsWith('.json.gz'))).toBe(true);
  });
});

describe.runIf(PG)('extract to an S3 staging area, stage on PostgreSQL (for Redshift COPY), transform', () => {
  let pg: TestWarehouse;
  let config: Config;
  let extracted: RunReport;
  let runPrefix: string;
  let listed: { key: string; size: number }[];

  beforeAll(async () => {
    server.faults.clear();
    pg = await testWarehouse('postgres', 's3stage');
    // 1 MiB parts: the event CSV takes more than one.
    config = withS3(pg.config(s3Sources), { SPARKIFY_S3_STAGING: STAGING_URL, SPARKIFY_ETL_PART_SIZE_MB: '1' });
    extracted = await extract({ config, progress });
    runPrefix = `sparkify/staging/${extracted.runId}/`;
    const page = await server.client.send(new ListObjectsV2Command({ Bucket: STAGING_BUCKET, Prefix: runPrefix }));
    listed = (page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size! }));
  });

  afterAll(async () => {
    await pg?.dispose();
  });

  const getObject = async (key: string): Promise<Buffer> => {
    const response = await server.client.send(new GetObjectCommand({ Bucket: STAGING_BUCKET, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  };

  it('writes gzipped parts and one manifest per table under s3://<staging>/<run id>/, and nothing locally', async () => {
    expect(extracted.status).toBe('ok');
    expect(extracted.stagingArea).toBe(`${STAGING_URL}${extracted.runId}/`);
    expect(extracted.rowsAdded).toMatchObject({ staging_songs: SONGS, staging_events: EVENTS });
    const keys = listed.map((o) => o.key.slice(runPrefix.length));
    expect(keys).toContain('staging_events.manifest');
    expect(keys).toContain('staging_songs.manifest');
    const parts = keys.filter((k) => !k.endsWith('.manifest'));
    expect(parts.every((k) => /^staging_(events|songs)\/part-\d{5}\.csv\.gz$/.test(k))).toBe(true);
    expect(parts.filter((k) => k.startsWith('staging_events/')).length).toBeGreaterThan(1);
    expect(parts.filter((k) => k.startsWith('staging_songs/')).length).toBeGreaterThanOrEqual(1);
    expect(keys).toHaveLength(parts.length + 2);
    // Nothing staged on local disk: no staging/ folder in the run folder, no part or manifest anywhere under it.
    const runDir = join(runsDir(config), extracted.runId);
    expect(existsSync(join(runDir, 'staging'))).toBe(false);
    expect((await readdir(runDir, { recursive: true })).filter((n) => /\.(csv|csv\.gz|manifest)$/.test(n))).toEqual([]);
  });

  it('each manifest lists exactly its table\'s parts, with content_length the stored object size, and they hold every row', async () => {
    for (const table of ['staging_events', 'staging_songs'] as const) {
      const manifest = JSON.parse((await getObject(`${runPrefix}${table}.manifest`)).toString('utf8')) as Manifest;
      const parts = listed.filter((o) => o.key.startsWith(`${runPrefix}${table}/`));
      expect(manifest.entries).toEqual(
        parts.map((o) => ({ url: `s3://${STAGING_BUCKET}/${o.key}`, mandatory: true, meta: { content_length: o.size } })),
      );
      let rows = 0;
      for (const part of parts) {
        const body = await getObject(part.key);
        expect([...body.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
        expect(body.length).toBe(part.size);
        const csv = gunzipSync(body).toString('utf8');
        expect(csv.endsWith('\n')).toBe(true);
        rows += csv.split('\n').length - 1; // generated values hold no line breaks
      }
      expect(rows, table).toBe(table === 'staging_events' ? EVENTS : SONGS);
    }
  });

  it('stage loads those parts and transform gives the tables of a local run', async () => {
    const staged = await stage({ config, progress });
    expect(staged.stagingArea).toBe(extracted.stagingArea);
    expect(staged.rowsAdded).toMatchObject({ staging_songs: SONGS, staging_events: EVENTS });
    const transformed = await transform({ config, progress });
    expect(transformed.counts).toEqual(localReport.counts);
    expect((await readReport(config)).runId).toBe(transformed.runId);
    // Another engine than the local PGlite run: songplay_id is a surrogate key that need not agree (contract rule 1).
    const dump = comparable(await pg.dump(ALL_TABLES), { songplays: 'songplay_id' });
    const expected = comparable(localDump, { songplays: 'songplay_id' });
    for (const table of ALL_TABLES) expect(dump[table], table).toEqual(expected[table]);
  });
});

describe('permanent failures end the run with a one-line EtlError naming what to fix', () => {
  let before: Dump;

  beforeAll(async () => {
    server.faults.clear();
    before = await fromS3.dump(ANALYTIC_TABLES);
  });

  it('a missing bucket', async () => {
    const config = withS3(fromS3.config({ ...s3Sources, songData: 's3://no-such-bucket/song_data/' }), {});
    const error = await etlError(run({ config, progress }));
    expect(error.message).toContain('S3 bucket "no-such-bucket" does not exist');
    expect(error.message).toContain(server.proxyEndpoint);
    const report = await readReport(config);
    expect(report).toMatchObject({ status: 'failed', error: error.message });
    expect(await fromS3.dump(ANALYTIC_TABLES)).toEqual(before);
  });

  it('an unreachable endpoint', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const config = withS3(fromS3.config(s3Sources), { SPARKIFY_S3_ENDPOINT_URL: endpoint });
    const error = await etlError(run({ config, progress }));
    expect(error.message).toContain(`Cannot reach the S3 endpoint ${endpoint} (ECONNREFUSED)`);
    expect(error.message).toContain(s3Sources.songData);
    expect(await fromS3.dump(ANALYTIC_TABLES)).toEqual(before);
  });
});
