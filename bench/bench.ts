/**
 * The benchmark: `npm run bench -- --events N [--repeat R] [--only a,b | --skip a,b] [--songs S] [--seed X]
 * [--small-objects N] [--latency MS] [--keep] [--no-append]`.
 *
 * Generates data once (cached under <out>/data-<N>/), then runs the cases in rounds: each round runs every
 * selected case once, each as its own process, measuring wall time and peak RSS (cases.ts). The cases: the
 * floors (readline and stream-json parsing of the events, reading and parsing the song files, psql \copy and
 * PGlite COPY of the staging CSV), the two naive per-event INSERT baselines (song lookup on the loaded songs,
 * and on an empty table), the first open of a new PGlite directory, `etl extract` with one and with all
 * workers, `etl run` on PostgreSQL and on PGlite, and many small objects from a loopback S3 with latency.
 * Prints a table with medians and spreads and the issue's targets (rows.ts), saves
 * <out>/bench-<timestamp>.json and appends a section to BENCHMARKS.md. `runBench(options)` does the same for
 * a program (the test).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import ts from 'typescript';
import { generate, type GenerateSummary } from '../src/generate/generator.js';
import { dropDatabase, PG_SERVER, postgresVersion, runCase1, shellWord, smallObjectsUnavailable, type CaseRun, type Context } from './cases.js';
import { listFiles } from './floors/common.js';
import { formatTable, MARKDOWN_INTRO, markdownSection, mib, seconds as fmtSeconds } from './format.js';
import { gitCommit, machineInfo } from './machine.js';
import { buildChecks, buildRows } from './rows.js';
import { median, medianSteps, round } from './stats.js';
import { CASE_IDS, PG_CASES, type BenchResult, type CaseId, type CaseResult, type DataInfo } from './types.js';

export * from './types.js';
export { buildChecks, buildRows } from './rows.js';
export { postgresVersion, psqlCopyLine } from './cases.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FLOORS_SRC = join(REPO_ROOT, 'bench', 'floors');
const SMALL_OBJECTS_MODULE = join(REPO_ROOT, 'bench', 'small-objects.ts');

export const DEFAULT_EVENTS = 100_000;
export const DEFAULT_SEED = 1;
export const DEFAULT_REPEAT = 3;
export const defaultSongs = (events: number): number => Math.max(1000, Math.floor(events / 100));
/** The naive baselines insert one event in this many. */
export const NAIVE_SAMPLE_EVERY = 100;
/** Production's song objects in S3 (issue 12), and the added latency of each request to the loopback S3. */
export const DEFAULT_SMALL_OBJECTS = 15_000;
export const DEFAULT_LATENCY_MS = 20;

export interface BenchOptions {
  /** Event lines to generate (default 100,000). */
  readonly events?: number;
  /** Song records (default max(1000, events / 100)). */
  readonly songs?: number;
  readonly seed?: number;
  /** Rounds: every selected case runs once in each (default 3). */
  readonly repeat?: number;
  /** Case ids to run (default all). */
  readonly only?: readonly string[];
  /** Case ids not to run. */
  readonly skip?: readonly string[];
  /** The small-objects case: objects served and the latency added to each request. */
  readonly smallObjects?: number;
  readonly latencyMs?: number;
  /** The small-objects case's module (default bench/small-objects.ts); tests point it elsewhere. */
  readonly smallObjectsModule?: string;
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

/** Under the repository, so that the PGlite floor's import resolves to its node_modules. */
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
// Repetitions -> one result per case

function aggregate(id: CaseId, runs: readonly CaseRun[]): CaseResult {
  const first = runs[0]!;
  const samples = runs.map((r) => r.sample);
  return {
    id,
    label: first.label,
    command: first.command,
    rssMethod: first.rssMethod,
    events: first.events,
    wallSeconds: round(median(samples.map((s) => s.wallSeconds))),
    peakRssKb: round(median(samples.map((s) => s.peakRssKb))),
    seconds: round(median(samples.map((s) => s.seconds))),
    ...(first.sample.steps ? { steps: medianSteps(samples.map((s) => s.steps)) } : {}),
    detail: first.sample.detail,
    samples,
  };
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

interface CommandParts {
  events: number;
  songs?: number;
  seed?: number;
  repeat: number;
  only: readonly string[];
  skip: readonly string[];
  keep?: boolean;
  append: boolean;
}
const defaultCommand = (o: CommandParts): string =>
  [
    'npm run bench --',
    `--events ${o.events}`,
    o.songs === undefined ? '' : `--songs ${o.songs}`,
    o.seed === undefined ? '' : `--seed ${o.seed}`,
    o.repeat === DEFAULT_REPEAT ? '' : `--repeat ${o.repeat}`,
    o.only.length ? `--only ${o.only.join(',')}` : '',
    o.skip.length ? `--skip ${o.skip.join(',')}` : '',
    o.keep ? '--keep' : '',
    o.append ? '' : '--no-append',
  ]
    .filter(Boolean)
    .join(' ');

/** Case ids from comma-separated lists; unknown ones are refused, naming the list. */
function caseList(lists: readonly string[], flag: string): CaseId[] {
  const ids = lists.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !(CASE_IDS as readonly string[]).includes(id));
  if (unknown.length) throw new Error(`Unknown case(s) for ${flag}: ${unknown.join(', ')} (cases: ${CASE_IDS.join(', ')})`);
  return CASE_IDS.filter((id) => ids.includes(id));
}

export async function runBench(options: BenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const events = options.events ?? DEFAULT_EVENTS;
  const songs = options.songs ?? defaultSongs(events);
  const seed = options.seed ?? DEFAULT_SEED;
  const repeat = options.repeat ?? DEFAULT_REPEAT;
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be an integer of at least 1 (got ${repeat})`);
  const append = options.append ?? true;
  const keep = options.keep ?? false;
  const only = caseList(options.only ?? [], '--only');
  const selected = only.length ? only : [...CASE_IDS];
  const skipped = CASE_IDS.filter((id) => !selected.includes(id) || caseList(options.skip ?? [], '--skip').includes(id));
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, 'bench', 'out'));
  const markdownFile = resolve(options.markdownFile ?? join(REPO_ROOT, 'BENCHMARKS.md'));
  const command =
    options.command ?? defaultCommand({ events, songs: options.songs, seed: options.seed, repeat, only, skip: caseList(options.skip ?? [], '--skip'), keep, append });
  const smallObjects = { objects: options.smallObjects ?? DEFAULT_SMALL_OBJECTS, latencyMs: options.latencyMs ?? DEFAULT_LATENCY_MS, module: options.smallObjectsModule ?? SMALL_OBJECTS_MODULE };
  const unavailable: Partial<Record<CaseId, string>> = {};
  const missing = smallObjectsUnavailable(smallObjects);
  if (missing && !skipped.includes('small-objects')) unavailable['small-objects'] = missing;
  const toRun = CASE_IDS.filter((id) => !skipped.includes(id) && !unavailable[id]);
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
  const context: Context = {
    repoRoot: REPO_ROOT,
    data,
    workDir: join(outDir, `work-${stamp}`),
    floorsDir: await buildFloors(),
    keep,
    naiveSampleEvery: NAIVE_SAMPLE_EVERY,
    smallObjects,
    log,
    databases: [],
  };
  for (const [id, why] of Object.entries(unavailable)) log(`${id}: not run: ${why}`);
  const runs: Partial<Record<CaseId, CaseRun[]>> = {};
  try {
    await mkdir(context.workDir, { recursive: true });
    for (let r = 1; r <= repeat; r++) {
      for (const [i, id] of toRun.entries()) {
        log(`[round ${r}/${repeat}, ${i + 1}/${toRun.length}] ${id}`);
        const run = await runCase1(context, id, r);
        (runs[id] ??= []).push(run);
        const s = run.sample;
        log(`      ${fmtSeconds(s.seconds)} s measured, ${fmtSeconds(s.wallSeconds)} s wall${s.peakRssKb ? `, peak RSS ${mib(s.peakRssKb)}` : ''}`);
      }
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

  const cases: Partial<Record<CaseId, CaseResult>> = {};
  for (const id of toRun) if (runs[id]) cases[id] = aggregate(id, runs[id]);
  const rows = buildRows(cases);
  const checks = buildChecks(rows, events);
  const jsonFile = join(outDir, `bench-${stamp}.json`);
  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    machine: machineInfo(pgVersion ?? 'not reachable'),
    commit: gitCommit(REPO_ROOT),
    data,
    repeat,
    naiveSampleEvery: NAIVE_SAMPLE_EVERY,
    skipped,
    unavailable,
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
    .description('sparkify-etl benchmark: floors, naive baselines, etl extract, etl run on PostgreSQL and PGlite, many small objects; medians of rounds')
    .option('--events <n>', 'event lines to generate', integer('--events', 1), DEFAULT_EVENTS)
    .option('--songs <n>', 'song records (default max(1000, events / 100))', integer('--songs', 1))
    .option('--seed <n>', 'random seed of the generated data', integer('--seed', 0))
    .option('--repeat <n>', 'rounds: each runs every case once; medians and spreads are over them', integer('--repeat', 1), DEFAULT_REPEAT)
    .option('--only <cases>', `comma-separated cases to run (default all): ${CASE_IDS.join(', ')}`)
    .option('--skip <cases>', 'comma-separated cases not to run')
    .option('--small-objects <n>', 'song objects the small-objects case serves', integer('--small-objects', 1), DEFAULT_SMALL_OBJECTS)
    .option('--latency <ms>', "latency the small-objects case's S3 server adds to each request", integer('--latency', 0), DEFAULT_LATENCY_MS)
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
  const o = program.opts<{
    events: number;
    songs?: number;
    seed?: number;
    repeat: number;
    only?: string;
    skip?: string;
    smallObjects: number;
    latency: number;
    keep?: boolean;
    append: boolean;
    build: boolean;
    out: string;
  }>();
  try {
    const result = await runBench({
      events: o.events,
      songs: o.songs,
      seed: o.seed,
      repeat: o.repeat,
      only: o.only ? [o.only] : [],
      skip: o.skip ? [o.skip] : [],
      smallObjects: o.smallObjects,
      latencyMs: o.latency,
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
