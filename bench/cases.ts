/**
 * The benchmark's cases: each call runs one repetition of one case, as its own process where it can be
 * (wall time and peak RSS measured from outside), and says what it ran.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { pgliteMemoryOptions } from '../src/load/pglite/pglite-options.js';
import { PGLITE_COPY_CHUNK_BYTES } from '../src/load/pglite/pglite-session.js';
import { copyCsv, createTable, postgresDialect } from '../src/load/queries.js';
import type { RunReport } from '../src/pipeline/report.js';
import { EVENT_FIELDS, STAGING } from '../src/transform/schema.js';
import { FLOOR_ARGS_ENV, type FloorResult, type NaiveArgs, type ParseFloorArgs, type PgliteCopyArgs, type SongsFloorArgs } from './floors/args.js';
import { lastJsonLine, measure, type Measured } from './measure.js';
import { round } from './stats.js';
import type { CaseId, DataInfo, Sample, StepTime } from './types.js';

/** One repetition of a case, and how to name it. */
export interface CaseRun {
  readonly label: string;
  readonly command: string;
  readonly rssMethod: string;
  /** Events handled in the sample's `seconds` (objects, for small-objects). */
  readonly events: number;
  readonly sample: Sample;
}

export interface SmallObjectsSettings {
  readonly objects: number;
  readonly latencyMs: number;
  /** The script that runs the case (bench/small-objects.ts); absent: the case is unavailable. */
  readonly module: string;
}

export interface Context {
  readonly repoRoot: string;
  readonly data: DataInfo;
  readonly workDir: string;
  readonly floorsDir: string;
  readonly keep: boolean;
  readonly naiveSampleEvery: number;
  readonly smallObjects: SmallObjectsSettings;
  readonly log: (line: string) => void;
  /** Databases created, to drop at the end. */
  readonly databases: string[];
  /** Staging folder of an `etl extract` run: the CSV the COPY floors load (kept until the end). */
  stagingDir?: string;
  /** A PGlite data directory just made by `etl create-tables` (the first pglite-init's): copied for each run. */
  pgliteTemplate?: string;
}

export const PG_SERVER = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
} as const;

/** Songs read at once by the songs floor: enough to keep a local disk busy, as the extract's own fetching does. */
const SONGS_FLOOR_CONCURRENCY = 16;

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL server

export async function withPg<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...PG_SERVER, database, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The server's version, or undefined when it does not answer. */
export async function postgresVersion(): Promise<string | undefined> {
  try {
    return await withPg('postgres', async (c) => String((await c.query('SHOW server_version')).rows[0]?.server_version));
  } catch {
    return undefined;
  }
}

async function createDatabase(context: Context, purpose: string): Promise<string> {
  const name = `sparkify_bench_${purpose}_${randomBytes(4).toString('hex')}`;
  await withPg('postgres', (c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`));
  context.databases.push(name);
  return name;
}

export async function dropDatabase(context: Context, name: string): Promise<void> {
  if (context.keep) return;
  await withPg('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  context.databases.splice(context.databases.indexOf(name), 1);
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

export const shellWord = (w: string): string => (/^[\w./:=,@+-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);
const commandLine = (env: Record<string, string>, file: string, args: readonly string[]): string =>
  [...Object.entries(env).map(([k, v]) => `${k}=${shellWord(v)}`), ...[file, ...args].map(shellWord)].join(' ');

/** The parent's environment without SPARKIFY_* settings, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SPARKIFY_')));
  return { ...env, ...extra };
}

const sample = (m: Measured, seconds: number, detail: Record<string, unknown>, steps?: readonly StepTime[]): Sample => ({
  wallSeconds: round(m.wallSeconds),
  peakRssKb: m.peakRssKb,
  seconds: round(seconds),
  ...(steps ? { steps } : {}),
  detail,
});

/** A fresh folder for one repetition of a case. */
async function caseDir(context: Context, name: string, round: number): Promise<string> {
  const dir = join(context.workDir, `${name}-r${round}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Removes a repetition's folder (its staging CSV, its PGlite directory) unless told to keep it. */
async function dropDir(context: Context, dir: string): Promise<void> {
  if (!context.keep && dir !== context.stagingDir && !context.stagingDir?.startsWith(dir + '/')) await rm(dir, { recursive: true, force: true });
}

/** Runs a floor script (plain node) with its arguments; its own timing is the sample's time. */
async function runFloor(context: Context, label: string, script: string, args: object): Promise<CaseRun> {
  const file = join(context.floorsDir, script);
  const measured = await measure(process.execPath, [file], { cwd: context.workDir, env: childEnv({ [FLOOR_ARGS_ENV]: JSON.stringify(args) }) });
  const { seconds, events, ...detail } = lastJsonLine<FloorResult>(measured.stdout);
  const command = `node bench/floors/${script.replace(/\.js$/, '.ts')} (transpiled)`;
  return { label, command, rssMethod: measured.rssMethod, events, sample: sample(measured, seconds, detail) };
}

// ---------------------------------------------------------------------------------------------------------
// etl commands

const ETL = (context: Context) => join(context.repoRoot, 'bin', 'etl.js');

/** The environment of an `etl` command on the bench data. */
function etlSettings(context: Context, workDir: string, settings: Record<string, string>): Record<string, string> {
  return {
    SPARKIFY_S3_SONG_DATA: join(context.data.dir, 'song_data'),
    SPARKIFY_S3_LOG_DATA: join(context.data.dir, 'log_data'),
    SPARKIFY_ETL_WORK_DIR: workDir,
    SPARKIFY_CLUSTER_HOST: PG_SERVER.host,
    SPARKIFY_CLUSTER_DB_PORT: String(PG_SERVER.port),
    SPARKIFY_CLUSTER_DB_USER: PG_SERVER.user,
    SPARKIFY_CLUSTER_SSL: 'disable',
    ...settings,
  };
}

const pgliteSettings = (dir: string) => ({ SPARKIFY_WAREHOUSE_ENGINE: 'pglite', SPARKIFY_WAREHOUSE_PGLITE_DIR: dir });
/** The settings a case's command line shows (the others only point at the bench's folders). */
const shownSettings = (settings: Record<string, string>) => Object.fromEntries(Object.entries(settings).filter(([k]) => /ENGINE|WORKERS/.test(k)));

/** Runs `etl <args>` in `workDir`; returns the measurement and, for a run command, its report. */
async function runEtl(context: Context, workDir: string, args: readonly string[], settings: Record<string, string>) {
  const env = etlSettings(context, workDir, settings);
  const measured = await measure(process.execPath, [ETL(context), '-q', ...args], { cwd: workDir, env: childEnv(env) });
  return { measured, command: commandLine(shownSettings(settings), 'node', ['bin/etl.js', '-q', ...args]) };
}

/** The one run of a work folder: its folder and report, which must say ok. */
async function onlyRun(workDir: string, command: string): Promise<{ runDir: string; report: RunReport }> {
  const runs = join(workDir, 'runs');
  const ids = (await readdir(runs)).filter((n) => /^\d{8}T/.test(n)).sort();
  if (ids.length !== 1) throw new Error(`Expected one run in ${runs}, found ${ids.length}`);
  const runDir = join(runs, ids[0]!);
  const report = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunReport;
  if (report.status !== 'ok') throw new Error(`etl ${command} failed: ${report.error ?? report.status}`);
  return { runDir, report };
}

const sumSteps = (steps: readonly StepTime[], pick: (name: string) => boolean): number => steps.filter((s) => pick(s.name)).reduce((a, s) => a + s.seconds, 0);
const reportDetail = (report: RunReport): Record<string, unknown> => ({
  runId: report.runId,
  loaded: { songs: report.sources.songs?.loaded, events: report.sources.events?.loaded },
  rejected: { songs: report.sources.songs?.rejected, events: report.sources.events?.rejected },
  rowsAdded: report.rowsAdded,
});

/**
 * `etl create-tables` on a data directory that does not exist yet: PGlite's initdb and the tables, what the
 * first command on a new embedded warehouse pays once. The first one made is the template of every later
 * PGlite case, so they measure a warehouse that exists (as every run after the first does).
 */
async function pgliteInitCase(context: Context, round: number): Promise<CaseRun> {
  const workDir = await caseDir(context, 'pglite-init', round);
  const dir = join(workDir, 'pglite');
  const { measured, command } = await runEtl(context, workDir, ['create-tables', '--yes'], pgliteSettings(dir));
  if (!existsSync(join(dir, 'PG_VERSION'))) throw new Error(`etl create-tables made no PGlite data directory at ${dir}`);
  if (context.pgliteTemplate) await dropDir(context, workDir);
  else context.pgliteTemplate = dir;
  return { label: 'etl create-tables, new PGlite data directory (initdb)', command, rssMethod: measured.rssMethod, events: 0, sample: sample(measured, measured.wallSeconds, {}) };
}

/** A PGlite data directory with the tables and nothing in them, at `dir`: a copy of the template. */
async function pgliteWarehouse(context: Context, dir: string): Promise<Record<string, string>> {
  if (!context.pgliteTemplate) {
    context.log('pglite: no pglite-init case ran; making the template data directory (untimed)');
    await pgliteInitCase(context, 0);
  }
  await cp(context.pgliteTemplate!, dir, { recursive: true });
  return pgliteSettings(dir);
}

/**
 * `etl extract` as a user runs it: on the default engine (PGlite, a warehouse with empty tables), so its
 * ledger is read first. The events and songs steps are compared with their floors, the whole process with
 * the sum of both floors.
 */
async function extractCase(context: Context, id: 'extract-1' | 'extract-all' | 'csv', workers: number, round: number): Promise<CaseRun> {
  const workDir = await caseDir(context, id, round);
  const settings = { ...(await pgliteWarehouse(context, join(workDir, 'pglite'))), SPARKIFY_ETL_WORKERS: String(workers) };
  const { measured, command } = await runEtl(context, workDir, ['extract'], settings);
  const { runDir, report } = await onlyRun(workDir, 'extract');
  context.stagingDir ??= join(runDir, 'staging');
  await dropDir(context, workDir);
  const label = id === 'extract-1' ? 'etl extract, 1 worker' : 'etl extract, all workers';
  const seconds = sumSteps(report.steps, (n) => n.startsWith('extract '));
  return { label, command, rssMethod: measured.rssMethod, events: context.data.events, sample: sample(measured, seconds, reportDetail(report), report.steps) };
}

/** `etl run` into an empty warehouse: a new PostgreSQL database, or a copy of the PGlite template. */
async function runCase(context: Context, id: 'pg-run' | 'pglite-run', round: number): Promise<CaseRun> {
  const workDir = await caseDir(context, id, round);
  let database: string | undefined;
  let settings: Record<string, string>;
  if (id === 'pg-run') {
    database = await createDatabase(context, 'run');
    settings = { SPARKIFY_WAREHOUSE_ENGINE: 'postgres', SPARKIFY_CLUSTER_DB_NAME: database };
  } else {
    settings = await pgliteWarehouse(context, join(workDir, 'pglite'));
  }
  settings.SPARKIFY_ETL_WORKERS = '0';
  try {
    const { measured, command } = await runEtl(context, workDir, ['run'], settings);
    const { report } = await onlyRun(workDir, 'run');
    const label = id === 'pg-run' ? 'etl run, PostgreSQL' : 'etl run, PGlite';
    const detail = { ...reportDetail(report), counts: report.counts, ...(database ? { database } : {}) };
    // The run's own time is its process's: what a user waits for (opening the warehouse included).
    return { label, command, rssMethod: measured.rssMethod, events: context.data.events, sample: sample(measured, measured.wallSeconds, detail, report.steps) };
  } finally {
    if (database) await dropDatabase(context, database);
    await dropDir(context, workDir);
  }
}

// ---------------------------------------------------------------------------------------------------------
// COPY floors

/** The staging_events CSV parts of an extract run, as absolute paths. */
async function stagingParts(context: Context): Promise<string[]> {
  if (!context.stagingDir) {
    context.log('csv: no extract case ran; running `etl extract` (untimed) for the COPY floors');
    await extractCase(context, 'csv', 0, 0);
  }
  const dir = context.stagingDir!;
  const manifest = JSON.parse(await readFile(join(dir, `${STAGING.events.table}.manifest`), 'utf8')) as { entries: { url: string }[] };
  return manifest.entries.map((e) => resolve(dir, e.url));
}

/** `\copy` lines equivalent to the pipeline's COPY (its options, NULL marker included, come from queries.ts). */
export function psqlCopyLine(file: string): string {
  const sql = copyCsv(STAGING.events, 'STDIN').replace(/\s*\n\s*/g, ' ');
  const m = /^COPY (.+?) FROM STDIN\b(.*)$/i.exec(sql);
  if (!m) throw new Error(`Cannot turn the pipeline's COPY into a \\copy: ${sql}`);
  return `\\copy ${m[1]} FROM '${file.replaceAll("'", "''")}'${m[2]}`;
}

async function psqlCopyCase(context: Context, round: number): Promise<CaseRun> {
  const files = await stagingParts(context);
  const database = await createDatabase(context, 'copy');
  const workDir = await caseDir(context, 'psql-copy', round);
  try {
    await withPg(database, (c) => c.query(createTable(postgresDialect, 'staging_events')));
    const script = join(workDir, 'copy.sql');
    await writeFile(script, files.map(psqlCopyLine).join('\n') + '\n');
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', PG_SERVER.host, '-p', String(PG_SERVER.port), '-U', PG_SERVER.user, '-d', database, '-f', script];
    const env = childEnv(PG_SERVER.password ? { PGPASSWORD: PG_SERVER.password } : {});
    const measured = await measure('psql', args, { cwd: workDir, env });
    const rows = await withPg(database, async (c) => Number((await c.query('SELECT COUNT(*) AS n FROM staging_events')).rows[0]?.n));
    const command = `psql -f copy.sql  # ${files.length} × ${psqlCopyLine('<part>')}`;
    return { label: 'floor: psql \\copy of the staging CSV', command, rssMethod: measured.rssMethod, events: rows, sample: sample(measured, measured.wallSeconds, { rows, parts: files.length }) };
  } finally {
    await dropDatabase(context, database);
    await dropDir(context, workDir);
  }
}

async function pgliteCopyCase(context: Context, round: number): Promise<CaseRun> {
  const files = await stagingParts(context);
  const workDir = await caseDir(context, 'pglite-copy', round);
  const dataDir = join(workDir, 'pglite');
  await pgliteWarehouse(context, dataDir);
  const args: PgliteCopyArgs = {
    dataDir,
    startParams: pgliteMemoryOptions().startParams ?? [],
    ddl: createTable(postgresDialect, 'staging_events'),
    copySql: copyCsv(STAGING.events, "'/dev/blob'"),
    files,
    chunkBytes: PGLITE_COPY_CHUNK_BYTES,
  };
  try {
    return await runFloor(context, 'floor: PGlite COPY of the staging CSV', 'pglite-copy-floor.js', args);
  } finally {
    await dropDir(context, workDir);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Naive baselines

async function naiveCase(context: Context, loadSongs: boolean): Promise<CaseRun> {
  const database = await createDatabase(context, 'naive');
  try {
    const args: NaiveArgs = {
      logDir: join(context.data.dir, 'log_data'),
      songDir: join(context.data.dir, 'song_data'),
      connection: { ...PG_SERVER, database },
      ddl: [createTable(postgresDialect, 'staging_events'), createTable(postgresDialect, 'songs')],
      eventColumns: EVENT_FIELDS.map((f) => ({ json: f.json, column: f.column })),
      sampleEvery: context.naiveSampleEvery,
      loadSongs,
    };
    const lookup = loadSongs ? 'on the loaded songs' : 'on an empty songs table';
    return await runFloor(context, `baseline: INSERT per event + song SELECT ${lookup} (pg, 1/${context.naiveSampleEvery} sample)`, 'naive-insert.js', args);
  } finally {
    await dropDatabase(context, database);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Many small objects (bench/small-objects.ts: its own S3 server, with latency, and the pipeline's extract)

/** Why the small-objects case cannot run here, or undefined when it can. */
export function smallObjectsUnavailable(settings: SmallObjectsSettings): string | undefined {
  return existsSync(settings.module) ? undefined : `${settings.module} is missing (the case's script)`;
}

/** What `bench/small-objects.ts --json` prints (the fields read here). */
interface SmallObjectsResult {
  readonly objects: number;
  readonly seconds: number;
  readonly objectsPerSecond: number;
  readonly concurrency: number;
  readonly [detail: string]: unknown;
}

/** The script in a process of its own (through tsx): its peak RSS is the client's (s3rver runs in a child of its own). */
async function smallObjectsCase(context: Context): Promise<CaseRun> {
  const { objects, latencyMs, module } = context.smallObjects;
  const args = ['--import', 'tsx', module, '--objects', String(objects), '--latency', String(latencyMs), '--json'];
  const measured = await measure(process.execPath, args, { cwd: context.repoRoot, env: childEnv({}) });
  const { seconds, objects: done, ...detail } = lastJsonLine<SmallObjectsResult>(measured.stdout);
  return {
    label: `many small objects: ${objects.toLocaleString('en-US')} song objects from a loopback S3, ${latencyMs} ms a request`,
    command: `npx tsx bench/small-objects.ts --objects ${objects} --latency ${latencyMs}`,
    rssMethod: measured.rssMethod,
    events: done,
    sample: sample(measured, seconds, detail),
  };
}

// ---------------------------------------------------------------------------------------------------------

/** One repetition (`round`, from 1) of case `id`. */
export function runCase1(context: Context, id: CaseId, round: number): Promise<CaseRun> {
  const logs: ParseFloorArgs = { logDir: join(context.data.dir, 'log_data') };
  const songs: SongsFloorArgs = { songDir: join(context.data.dir, 'song_data'), concurrency: SONGS_FLOOR_CONCURRENCY };
  switch (id) {
    case 'readline':
      return runFloor(context, 'floor: readline + JSON.parse (events)', 'readline-floor.js', logs);
    case 'stream-json':
      return runFloor(context, 'floor: stream-json JSONL parser (events)', 'stream-json-floor.js', logs);
    case 'songs-floor':
      return runFloor(context, `floor: readFile + JSON.parse (songs, ${SONGS_FLOOR_CONCURRENCY} files at once)`, 'songs-floor.js', songs);
    case 'pglite-init':
      return pgliteInitCase(context, round);
    case 'extract-1':
      return extractCase(context, id, 1, round);
    case 'extract-all':
      return extractCase(context, id, 0, round);
    case 'psql-copy':
      return psqlCopyCase(context, round);
    case 'pglite-copy':
      return pgliteCopyCase(context, round);
    case 'naive':
      return naiveCase(context, true);
    case 'naive-empty':
      return naiveCase(context, false);
    case 'pg-run':
    case 'pglite-run':
      return runCase(context, id, round);
    case 'small-objects':
      return smallObjectsCase(context);
  }
}
