/**
 * The benchmark: `npm run bench -- --events N [--songs S] [--seed X] [--skip a,b] [--keep] [--no-append]`.
 *
 * Generates data once (cached under <out>/data-<N>/), then runs every case on it, each as its own process,
 * measuring wall time and peak RSS: the floors (readline and stream-json parsing, psql \copy and PGlite COPY
 * of the staging CSV), the naive per-event INSERT baseline, `etl extract` with one and with all workers, and
 * `etl run` on PostgreSQL and on PGlite. Prints a table, saves <out>/bench-<timestamp>.json and appends a
 * section to BENCHMARKS.md. `runBench(options)` does the same for a program (the test).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import pg from 'pg';
import ts from 'typescript';
import { generate, type GenerateSummary } from '../src/generate/generator.js';
import { PGLITE_COPY_CHUNK_BYTES } from '../src/load/pglite/pglite-warehouse.js';
import { copyCsv, createTable, postgresDialect } from '../src/load/queries.js';
import type { RunReport } from '../src/pipeline/report.js';
import { EVENT_FIELDS, STAGING } from '../src/transform/schema.js';
import { FLOOR_ARGS_ENV, type FloorResult, type NaiveArgs, type ParseFloorArgs, type PgliteCopyArgs } from './floors/args.js';
import { listFiles } from './floors/common.js';
import { formatTable, MARKDOWN_INTRO, markdownSection, mib, seconds as fmtSeconds } from './format.js';
import { gitCommit, machineInfo } from './machine.js';
import { lastJsonLine, measure, type Measured } from './measure.js';
import { CASE_IDS, PG_CASES, type BenchCheck, type BenchResult, type BenchRow, type CaseId, type CaseResult, type DataInfo, type StepTime } from './types.js';

export * from './types.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ETL_BIN = join(REPO_ROOT, 'bin', 'etl.js');
const FLOORS_SRC = join(REPO_ROOT, 'bench', 'floors');

export const DEFAULT_EVENTS = 100_000;
export const DEFAULT_SEED = 1;
export const defaultSongs = (events: number): number => Math.max(1000, Math.floor(events / 100));
/** The naive baseline inserts one event in this many. */
export const NAIVE_SAMPLE_EVERY = 100;

export interface BenchOptions {
  /** Event lines to generate (default 100,000). */
  readonly events?: number;
  /** Song records (default max(1000, events / 100)). */
  readonly songs?: number;
  readonly seed?: number;
  /** Case ids not to run. */
  readonly skip?: readonly string[];
  /** Keep the generated data, the run folders and the databases. */
  readonly keep?: boolean;
  /** Append a section to `markdownFile` (default true). */
  readonly append?: boolean;
  /** Data cache, results and scratch (default bench/out). */
  readonly outDir?: string;
  /** Default BENCHMARKS.md at the repository root. */
  readonly markdownFile?: string;
  /** Compile dist/ first (`tsc -p tsconfig.build.json`): always (default), never, or only when it is missing. */
  readonly build?: boolean | 'if-missing';
  /** The command line, as BENCHMARKS.md records it (default: rebuilt from the options). */
  readonly command?: string;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

const PG_SERVER = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
} as const;

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL server

async function withPg<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
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

// ---------------------------------------------------------------------------------------------------------
// Data

async function dataInfo(dir: string, stampFile: string, cached: boolean): Promise<DataInfo> {
  const stamp = JSON.parse(await readFile(stampFile, 'utf8')) as { events: number; songs: number; seed: number; summary: GenerateSummary; generateSeconds: number };
  const logFiles = await listFiles(join(dir, 'log_data'));
  const sizes = await Promise.all(logFiles.map(async (f) => (await stat(f)).size));
  return {
    dir,
    events: stamp.events,
    songs: stamp.songs,
    seed: stamp.seed,
    logFiles: logFiles.length,
    logBytes: sizes.reduce((a, b) => a + b, 0),
    songPlays: stamp.summary.songPlays,
    matchedPlays: stamp.summary.matchedPlays,
    cached,
    generateSeconds: stamp.generateSeconds,
  };
}

/** The data of these options: from the cache, or generated there (a folder without its stamp is redone). */
async function prepareData(outDir: string, events: number, songs: number, seed: number, log: (l: string) => void): Promise<DataInfo> {
  const name = `data-${events}${songs === defaultSongs(events) ? '' : `-songs${songs}`}${seed === DEFAULT_SEED ? '' : `-seed${seed}`}`;
  const dir = join(outDir, name);
  const stampFile = join(dir, 'bench-data.json');
  if (existsSync(stampFile)) {
    log(`data: cached in ${dir}`);
    return dataInfo(dir, stampFile, true);
  }
  await rm(dir, { recursive: true, force: true });
  log(`data: generating ${events} events and ${songs} songs (seed ${seed}) into ${dir}`);
  const started = performance.now();
  const summary = await generate({ dir, events, songs, seed });
  const generateSeconds = (performance.now() - started) / 1000;
  await writeFile(stampFile, JSON.stringify({ events, songs, seed, summary, generateSeconds }, null, 2) + '\n');
  return dataInfo(dir, stampFile, false);
}

// ---------------------------------------------------------------------------------------------------------
// Floor scripts: transpiled alone to plain JavaScript, so that they run on `node` without a TypeScript loader.

async function buildFloors(): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'out', `.floors-${process.pid}-${randomBytes(3).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  for (const file of (await readdir(FLOORS_SRC)).filter((f) => f.endsWith('.ts'))) {
    const source = await readFile(join(FLOORS_SRC, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    await writeFile(join(dir, file.replace(/\.ts$/, '.js')), outputText);
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// Cases

interface Context {
  readonly data: DataInfo;
  readonly workDir: string;
  readonly floorsDir: string;
  readonly keep: boolean;
  readonly log: (line: string) => void;
  /** Databases created, to drop at the end. */
  readonly databases: string[];
  /** Staging folder of an `etl extract` run: the CSV the COPY floors load. */
  stagingDir?: string;
}

const shellWord = (w: string): string => (/^[\w./:=,@+-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);
const commandLine = (env: Record<string, string>, file: string, args: readonly string[]): string =>
  [...Object.entries(env).map(([k, v]) => `${k}=${shellWord(v)}`), ...[file, ...args].map(shellWord)].join(' ');

/** The parent's environment without SPARKIFY_* settings, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SPARKIFY_')));
  return { ...env, ...extra };
}

async function createDatabase(context: Context, purpose: string): Promise<string> {
  const name = `sparkify_bench_${purpose}_${randomBytes(4).toString('hex')}`;
  await withPg('postgres', (c) => c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`));
  context.databases.push(name);
  return name;
}

async function dropDatabase(context: Context, name: string): Promise<void> {
  if (context.keep) return;
  await withPg('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  context.databases.splice(context.databases.indexOf(name), 1);
}

/** Runs a floor script (plain node) with its arguments; its own timing is the case's time. */
async function runFloor(context: Context, id: CaseId, label: string, script: string, args: object): Promise<CaseResult> {
  const file = join(context.floorsDir, script);
  const measured = await measure(process.execPath, [file], { cwd: context.workDir, env: childEnv({ [FLOOR_ARGS_ENV]: JSON.stringify(args) }) });
  const result = lastJsonLine<FloorResult>(measured.stdout);
  const { seconds, events, ...detail } = result;
  return caseResult(id, label, `node bench/floors/${script.replace(/\.js$/, '.ts')} (transpiled)`, measured, seconds, events, detail);
}

function caseResult(id: CaseId, label: string, command: string, m: Measured, seconds: number, events: number, detail: Record<string, unknown>, steps?: StepTime[]): CaseResult {
  return { id, label, command, wallSeconds: round(m.wallSeconds), peakRssKb: m.peakRssKb, rssMethod: m.rssMethod, seconds: round(seconds), events, steps, detail };
}

const round = (s: number): number => Math.round(s * 1e6) / 1e6;

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

/** Runs `etl <command>` in its own work folder; returns the measurement and the run's report. */
async function runEtl(context: Context, name: string, command: 'extract' | 'run', settings: Record<string, string>) {
  const workDir = join(context.workDir, name);
  await mkdir(workDir, { recursive: true });
  const env = etlSettings(context, workDir, settings);
  // extract --full-refresh: JSON -> validated CSV alone, without reading the load ledger from a warehouse.
  const args = command === 'extract' ? ['-q', command, '--full-refresh'] : ['-q', command];
  const measured = await measure(process.execPath, [ETL_BIN, ...args], { cwd: workDir, env: childEnv(env) });
  const runs = join(workDir, 'runs');
  const ids = (await readdir(runs)).filter((n) => /^\d{8}T/.test(n)).sort();
  if (ids.length !== 1) throw new Error(`Expected one run in ${runs}, found ${ids.length}`);
  const runDir = join(runs, ids[0]!);
  const report = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunReport;
  if (report.status !== 'ok') throw new Error(`etl ${command} failed: ${report.error ?? report.status}`);
  const shown = Object.fromEntries(Object.entries(settings).filter(([k]) => /ENGINE|WORKERS/.test(k)));
  return { measured, report, runDir, command: commandLine(shown, 'node', ['bin/etl.js', ...args]) };
}

const sumSteps = (steps: readonly StepTime[], pick: (name: string) => boolean): number => steps.filter((s) => pick(s.name)).reduce((a, s) => a + s.seconds, 0);
const reportDetail = (report: RunReport): Record<string, unknown> => ({
  runId: report.runId,
  loaded: { songs: report.sources.songs?.loaded, events: report.sources.events?.loaded },
  rejected: { songs: report.sources.songs?.rejected, events: report.sources.events?.rejected },
  rowsAdded: report.rowsAdded,
});

async function extractCase(context: Context, id: 'extract-1' | 'extract-all' | 'csv', workers: number): Promise<CaseResult> {
  const label = id === 'extract-1' ? 'etl extract, 1 worker' : 'etl extract, all workers';
  const { measured, report, runDir, command } = await runEtl(context, id, 'extract', { SPARKIFY_ETL_WORKERS: String(workers) });
  context.stagingDir ??= join(runDir, 'staging');
  const seconds = sumSteps(report.steps, (n) => n.startsWith('extract '));
  return caseResult(id as CaseId, label, command, measured, seconds, context.data.events, reportDetail(report), report.steps);
}

async function runCase(context: Context, id: 'pg-run' | 'pglite-run'): Promise<CaseResult> {
  let settings: Record<string, string>;
  let database: string | undefined;
  if (id === 'pg-run') {
    database = await createDatabase(context, 'run');
    settings = { SPARKIFY_WAREHOUSE_ENGINE: 'postgres', SPARKIFY_CLUSTER_DB_NAME: database, SPARKIFY_ETL_WORKERS: '0' };
  } else {
    const dir = join(context.workDir, id, 'pglite');
    settings = { SPARKIFY_WAREHOUSE_ENGINE: 'pglite', SPARKIFY_WAREHOUSE_PGLITE_DIR: dir, SPARKIFY_ETL_WORKERS: '0' };
  }
  try {
    const { measured, report, command } = await runEtl(context, id, 'run', settings);
    const seconds = sumSteps(report.steps, () => true);
    const label = id === 'pg-run' ? 'etl run, PostgreSQL' : 'etl run, PGlite';
    return caseResult(id, label, command, measured, seconds, context.data.events, { ...reportDetail(report), counts: report.counts, database }, report.steps);
  } finally {
    if (database) await dropDatabase(context, database);
  }
}

/** The staging_events CSV parts of an extract run, as absolute paths. */
async function stagingParts(context: Context): Promise<string[]> {
  if (!context.stagingDir) {
    context.log('csv: no extract case ran; running `etl extract` (untimed) for the COPY floors');
    await extractCase(context, 'csv', 0);
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

async function psqlCopyCase(context: Context): Promise<CaseResult> {
  const files = await stagingParts(context);
  const database = await createDatabase(context, 'copy');
  try {
    await withPg(database, (c) => c.query(createTable(postgresDialect, 'staging_events')));
    const workDir = join(context.workDir, 'psql-copy');
    await mkdir(workDir, { recursive: true });
    const script = join(workDir, 'copy.sql');
    await writeFile(script, files.map(psqlCopyLine).join('\n') + '\n');
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', PG_SERVER.host, '-p', String(PG_SERVER.port), '-U', PG_SERVER.user, '-d', database, '-f', script];
    const env = childEnv(PG_SERVER.password ? { PGPASSWORD: PG_SERVER.password } : {});
    const measured = await measure('psql', args, { cwd: workDir, env });
    const rows = await withPg(database, async (c) => Number((await c.query('SELECT COUNT(*) AS n FROM staging_events')).rows[0]?.n));
    const command = `psql -f copy.sql  # ${files.length} × ${psqlCopyLine('<part>')}`;
    return caseResult('psql-copy', 'floor: psql \\copy of the staging CSV', command, measured, measured.wallSeconds, rows, { rows, parts: files.length });
  } finally {
    await dropDatabase(context, database);
  }
}

async function pgliteCopyCase(context: Context): Promise<CaseResult> {
  const files = await stagingParts(context);
  const workDir = join(context.workDir, 'pglite-copy');
  await mkdir(workDir, { recursive: true });
  const args: PgliteCopyArgs = {
    dataDir: join(workDir, 'pglite'),
    ddl: createTable(postgresDialect, 'staging_events'),
    copySql: copyCsv(STAGING.events, "'/dev/blob'"),
    files,
    chunkBytes: PGLITE_COPY_CHUNK_BYTES,
  };
  return runFloor(context, 'pglite-copy', 'floor: PGlite COPY of the staging CSV', 'pglite-copy-floor.js', args);
}

async function naiveCase(context: Context): Promise<CaseResult> {
  const database = await createDatabase(context, 'naive');
  try {
    const args: NaiveArgs = {
      logDir: join(context.data.dir, 'log_data'),
      songDir: join(context.data.dir, 'song_data'),
      connection: { ...PG_SERVER, database },
      ddl: [createTable(postgresDialect, 'staging_events'), createTable(postgresDialect, 'songs')],
      eventColumns: EVENT_FIELDS.map((f) => ({ json: f.json, column: f.column })),
      sampleEvery: NAIVE_SAMPLE_EVERY,
    };
    return await runFloor(context, 'naive', `baseline: INSERT per event + song SELECT (pg, 1/${NAIVE_SAMPLE_EVERY} sample)`, 'naive-insert.js', args);
  } finally {
    await dropDatabase(context, database);
  }
}

function runOne(context: Context, id: CaseId): Promise<CaseResult> {
  const logs: ParseFloorArgs = { logDir: join(context.data.dir, 'log_data') };
  switch (id) {
    case 'readline':
      return runFloor(context, id, 'floor: readline + JSON.parse', 'readline-floor.js', logs);
    case 'stream-json':
      return runFloor(context, id, 'floor: stream-json JSONL parser', 'stream-json-floor.js', logs);
    case 'extract-1':
      return extractCase(context, id, 1);
    case 'extract-all':
      return extractCase(context, id, 0);
    case 'psql-copy':
      return psqlCopyCase(context);
    case 'pglite-copy':
      return pgliteCopyCase(context);
    case 'naive':
      return naiveCase(context);
    case 'pg-run':
    case 'pglite-run':
      return runCase(context, id);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rows and checks

/**
 * The table's rows. The floors read (or load) the event logs only, so an `etl` case is compared with its
 * floor on its events step (`extract events`, `extract+stage events`); its songs step has a row of its own,
 * and the `etl run` total (every step) is compared with the naive baseline.
 */
export function buildRows(cases: Partial<Record<CaseId, CaseResult>>): BenchRow[] {
  const rows: BenchRow[] = [];
  interface Part {
    id?: string;
    label?: string;
    short: string;
    seconds?: number;
    floor: string | null;
    /** A songs step: no events/s. */
    songs?: boolean;
  }
  const add = (c: CaseResult, part: Part) => {
    const seconds = round(part.seconds ?? c.seconds);
    rows.push({
      id: part.id ?? c.id,
      case: c.id,
      label: part.label ?? c.label,
      short: part.short,
      seconds,
      events: part.songs ? 0 : c.events,
      eventsPerSecond: part.songs ? null : seconds > 0 ? c.events / seconds : null,
      floor: part.floor,
      ratio: null,
      peakRssKb: c.peakRssKb,
      wallSeconds: c.wallSeconds,
    });
  };
  const step = (c: CaseResult, name: string) => sumSteps(c.steps ?? [], (n) => n === name);
  const kindRows = (c: CaseResult, prefix: string, short: string, floor: string) => {
    add(c, { id: `${c.id}:events`, label: `${c.label}: ${prefix} events`, short: `${short} events`, seconds: step(c, `${prefix} events`), floor });
    add(c, { id: `${c.id}:songs`, label: `${c.label}: ${prefix} songs`, short: `${short} songs`, seconds: step(c, `${prefix} songs`), floor: null, songs: true });
  };
  const runRows = (c: CaseResult | undefined, engine: string, copyFloor: string) => {
    if (!c) return;
    kindRows(c, 'extract+stage', engine, copyFloor);
    add(c, { id: `${c.id}:transform`, label: `${c.label}: transform`, short: `${engine} transform`, seconds: step(c, 'transform'), floor: null });
    add(c, { id: `${c.id}:total`, label: `${c.label}: total`, short: `${engine} run`, floor: 'naive' });
  };
  if (cases.readline) add(cases.readline, { short: 'readline', floor: null });
  if (cases['stream-json']) add(cases['stream-json'], { short: 'stream-json', floor: 'readline' });
  for (const id of ['extract-1', 'extract-all'] as const) {
    const c = cases[id];
    if (c) kindRows(c, 'extract', id, 'readline');
  }
  if (cases['psql-copy']) add(cases['psql-copy'], { short: 'psql \\copy', floor: null });
  runRows(cases['pg-run'], 'PostgreSQL', 'psql-copy');
  if (cases['pglite-copy']) add(cases['pglite-copy'], { short: 'PGlite COPY', floor: null });
  runRows(cases['pglite-run'], 'PGlite', 'pglite-copy');
  if (cases.naive) add(cases.naive, { short: 'naive', floor: null });
  return rows.map((row) => {
    const floor = rows.find((r) => r.id === row.floor);
    const ratio = floor?.eventsPerSecond && row.eventsPerSecond ? round(floor.eventsPerSecond / row.eventsPerSecond) : null;
    return { ...row, floor: floor ? row.floor : null, ratio };
  });
}

export function buildChecks(rows: readonly BenchRow[]): BenchCheck[] {
  const row = (id: string) => rows.find((r) => r.id === id);
  const check = (name: string, figure: number | null, op: BenchCheck['op'], target: number, note?: string): BenchCheck => {
    const pass = figure !== null && (op === '<' ? figure < target : op === '<=' ? figure <= target : figure >= target);
    return { name, figure: figure === null ? null : round(figure), op, target, status: figure === null ? 'SKIP' : pass ? 'PASS' : 'MISS', ...(note ? { note } : {}) };
  };
  const pgRun = row('pg-run:total');
  const naive = row('naive');
  const eps = (r: BenchRow | undefined) => r?.eventsPerSecond ?? null;
  return [
    check('extract all workers (events step) / readline floor', row('extract-all:events')?.ratio ?? null, '<', 1.0),
    check('extract 1 worker (events step) / readline floor', row('extract-1:events')?.ratio ?? null, '<=', 1.4),
    check('PostgreSQL stage (extract+stage events) / psql \\copy floor', row('pg-run:events')?.ratio ?? null, '<=', 1.3),
    check(
      'PostgreSQL run events/s / naive events/s',
      eps(pgRun) !== null && eps(naive) ? eps(pgRun)! / eps(naive)! : null,
      '>=',
      50,
      pgRun && naive ? `${Math.round(eps(pgRun) ?? 0)} vs ${Math.round(eps(naive) ?? 0)} events/s` : undefined,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// The run

function buildDist(build: BenchOptions['build'], log: (l: string) => void): void {
  if (build === false || (build === 'if-missing' && existsSync(join(REPO_ROOT, 'dist', 'cli.js')))) return;
  log('build: tsc -p tsconfig.build.json');
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (error) {
    const out = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`The build failed; the bench runs the compiled CLI (dist/):\n${out}`, { cause: error });
  }
}

const defaultCommand = (o: { events: number; songs?: number; seed?: number; skip: readonly string[]; keep?: boolean; append: boolean }): string =>
  [
    'npm run bench --',
    `--events ${o.events}`,
    o.songs === undefined ? '' : `--songs ${o.songs}`,
    o.seed === undefined ? '' : `--seed ${o.seed}`,
    o.skip.length ? `--skip ${o.skip.join(',')}` : '',
    o.keep ? '--keep' : '',
    o.append ? '' : '--no-append',
  ]
    .filter(Boolean)
    .join(' ');

function parseSkip(skip: readonly string[]): CaseId[] {
  const ids = skip.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !(CASE_IDS as readonly string[]).includes(id));
  if (unknown.length) throw new Error(`Unknown case(s) to skip: ${unknown.join(', ')} (cases: ${CASE_IDS.join(', ')})`);
  return CASE_IDS.filter((id) => ids.includes(id));
}

export async function runBench(options: BenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const events = options.events ?? DEFAULT_EVENTS;
  const songs = options.songs ?? defaultSongs(events);
  const seed = options.seed ?? DEFAULT_SEED;
  const append = options.append ?? true;
  const keep = options.keep ?? false;
  const skipped = parseSkip(options.skip ?? []);
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, 'bench', 'out'));
  const markdownFile = resolve(options.markdownFile ?? join(REPO_ROOT, 'BENCHMARKS.md'));
  const command = options.command ?? defaultCommand({ events, songs: options.songs, seed: options.seed, skip: skipped, keep, append });
  const toRun = CASE_IDS.filter((id) => !skipped.includes(id));
  const startedAt = new Date();

  const pgVersion = await postgresVersion();
  const needsPg = toRun.filter((id) => PG_CASES.includes(id));
  if (needsPg.length && !pgVersion) {
    throw new Error(
      `PostgreSQL does not answer at ${PG_SERVER.host}:${PG_SERVER.port} (user ${PG_SERVER.user}); it is needed by ${needsPg.join(', ')}: start it, or --skip ${PG_CASES.join(',')}`,
    );
  }
  buildDist(options.build ?? true, log);
  await mkdir(outDir, { recursive: true });
  const data = await prepareData(outDir, events, songs, seed, log);
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const context: Context = { data, workDir: join(outDir, `work-${stamp}`), floorsDir: await buildFloors(), keep, log, databases: [] };
  const cases: Partial<Record<CaseId, CaseResult>> = {};
  try {
    await mkdir(context.workDir, { recursive: true });
    for (const [i, id] of toRun.entries()) {
      log(`[${i + 1}/${toRun.length}] ${id}`);
      const result = await runOne(context, id);
      cases[id] = result;
      log(`      ${fmtSeconds(result.seconds)} s measured, ${fmtSeconds(result.wallSeconds)} s wall, peak RSS ${mib(result.peakRssKb)}`);
    }
  } finally {
    await rm(context.floorsDir, { recursive: true, force: true });
    if (keep) {
      log(`kept: data in ${data.dir}, runs in ${context.workDir}${context.databases.length ? `, databases ${context.databases.join(', ')}` : ''}`);
    } else {
      await rm(context.workDir, { recursive: true, force: true });
      for (const db of [...context.databases]) await dropDatabase(context, db).catch(() => undefined);
      if (!data.cached) await rm(data.dir, { recursive: true, force: true });
    }
  }

  const rows = buildRows(cases);
  const checks = buildChecks(rows);
  const jsonFile = join(outDir, `bench-${stamp}.json`);
  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    machine: machineInfo(pgVersion ?? 'not reachable'),
    commit: gitCommit(REPO_ROOT),
    data,
    skipped,
    cases,
    rows,
    checks,
    jsonFile,
    markdownFile: append ? markdownFile : null,
  };
  await writeFile(jsonFile, JSON.stringify(result, null, 2) + '\n');
  if (append) {
    const section = markdownSection(result);
    if (existsSync(markdownFile)) await appendFile(markdownFile, '\n' + section);
    else await writeFile(markdownFile, MARKDOWN_INTRO + '\n' + section);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Command line

const integer = (name: string, min: number) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}`);
  return Number(value);
};

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('bench')
    .description('sparkify-etl benchmark: floors, naive baseline, etl extract and etl run on PostgreSQL and PGlite')
    .option('--events <n>', 'event lines to generate', integer('--events', 1), DEFAULT_EVENTS)
    .option('--songs <n>', 'song records (default max(1000, events / 100))', integer('--songs', 1))
    .option('--seed <n>', 'random seed of the generated data', integer('--seed', 0))
    .option('--skip <cases>', `comma-separated cases not to run: ${CASE_IDS.join(', ')}`)
    .option('--keep', 'keep the generated data, run folders and databases')
    .option('--no-append', 'do not append to BENCHMARKS.md')
    .option('--no-build', 'run the existing dist/ without compiling it first')
    .option('--out <dir>', 'data cache, results and scratch', join(REPO_ROOT, 'bench', 'out'))
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{ events: number; songs?: number; seed?: number; skip?: string; keep?: boolean; append: boolean; build: boolean; out: string }>();
  try {
    const result = await runBench({
      events: o.events,
      songs: o.songs,
      seed: o.seed,
      skip: o.skip ? [o.skip] : [],
      keep: o.keep,
      append: o.append,
      build: o.build,
      outDir: o.out,
      command: ['npm run bench --', ...argv.map(shellWord)].join(' '),
    });
    process.stdout.write('\n' + formatTable(result));
    process.stdout.write(`\nSaved ${result.jsonFile}${result.markdownFile ? `; appended to ${result.markdownFile}` : ''}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
