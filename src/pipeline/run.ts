import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { EtlError, describeError } from '../errors.js';
import { isS3Url, openSource, s3Client } from '../extract/open-source.js';
import { openWarehouse } from '../load/connect.js';
import { countTables, ensureTables, stageTable, transformStaged } from '../load/load-steps.js';
import type { Warehouse } from '../load/warehouse.js';
import { STAGING, type RecordKind } from '../transform/schema.js';
import { EncodePool } from '../transform/worker-pool.js';
import { extractTable } from './extract-table.js';
import type { Progress } from './progress.js';
import { RejectsFile } from './rejects.js';
import { emptySourceReport, timed, type RunReport } from './report.js';
import { LocalStagingArea, S3StagingArea, type StagingArea } from './staging-area.js';

/** Songs first: their staging table is what plays are matched against. */
const KINDS: readonly RecordKind[] = ['songs', 'events'];

export type Command = 'run' | 'extract' | 'stage' | 'transform';

export interface RunOptions {
  readonly config: Config;
  readonly progress: Progress;
  /** Extract and validate only; touch no warehouse. */
  readonly dryRun?: boolean;
  /** `etl stage`: the extract run to load; default the latest. */
  readonly fromRun?: string;
  /** Rejections tolerated before the run fails (default: ETL.MAX_ERRORS). */
  readonly maxErrors?: number;
}

/** One run's state: its folder (report, rejects, staging parts) and the report being filled in. */
interface RunContext {
  readonly options: RunOptions;
  readonly config: Config;
  readonly runDir: string;
  readonly report: RunReport;
  readonly rejects: RejectsFile;
  /** Parser threads, started on first use. */
  pool?: EncodePool;
}

export const runsDir = (config: Config): string => resolve(config.etl.workDir, 'runs');
const latestExtractFile = (config: Config) => join(runsDir(config), 'LATEST_EXTRACT');

/** Sortable, unique enough for one machine: UTC time to the millisecond plus a random suffix. */
const newRunId = (): string =>
  new Date().toISOString().replace(/[-:]/g, '').replace('.', '') + '-' + Math.random().toString(36).slice(2, 6);

async function startRun(command: Command, options: RunOptions): Promise<RunContext> {
  const { config } = options;
  const runId = newRunId();
  const runDir = join(runsDir(config), runId);
  await mkdir(runDir, { recursive: true });
  const report: RunReport = {
    runId,
    command,
    engine: config.warehouse.engine,
    dryRun: options.dryRun ?? false,
    startedAt: new Date().toISOString(),
    status: 'running',
    steps: [],
    sources: {},
    rowsAdded: {},
    counts: {},
    rejectsFile: join(runDir, 'rejects.jsonl'),
  };
  return { options, config, runDir, report, rejects: new RejectsFile(report.rejectsFile!) };
}

async function finishRun(context: RunContext, error?: unknown): Promise<void> {
  const { report } = context;
  report.finishedAt = new Date().toISOString();
  report.status = error ? 'failed' : 'ok';
  if (error) report.error = describeError(error);
  await context.rejects.close();
  await context.pool?.close();
  await writeFile(join(context.runDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
}

/** Runs a command in a run folder, writing its report whatever happens. */
async function inRun(command: Command, options: RunOptions, body: (context: RunContext) => Promise<void>): Promise<RunReport> {
  const context = await startRun(command, options);
  try {
    await body(context);
  } catch (error) {
    await finishRun(context, error);
    throw error;
  }
  await finishRun(context);
  return context.report;
}

async function withWarehouse<T>(config: Config, work: (warehouse: Warehouse) => Promise<T>): Promise<T> {
  const warehouse = await openWarehouse(config);
  try {
    return await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

/** A staging area at `url` (an s3:// prefix or a folder). */
function stagingAreaAt(config: Config, url: string): StagingArea {
  const partBytes = config.etl.partSizeMb * 1024 * 1024;
  return isS3Url(url) ? new S3StagingArea(url, s3Client(config), partBytes) : new LocalStagingArea(url, partBytes);
}

/** Where this run's staging CSV goes: under S3.STAGING (S3 or a folder) in a folder of its own, else the run folder. */
function runStagingArea(context: RunContext): StagingArea {
  const base = context.config.s3.staging;
  const url = base === '' ? join(context.runDir, 'staging') : isS3Url(base) ? `${base.replace(/\/*$/, '/')}${context.report.runId}/` : join(base, context.report.runId);
  return stagingAreaAt(context.config, url);
}

/** Validated staging CSV of one kind of record, as a stream of chunks; fills the run's report as it goes. */
function stagingCsv(context: RunContext, kind: RecordKind): AsyncGenerator<Buffer> {
  const { config, report, rejects, options } = context;
  const url = kind === 'songs' ? config.s3.songData : config.s3.logData;
  const source = openSource(url, config);
  const sourceReport = (report.sources[kind] = emptySourceReport(url));
  const tracker = options.progress.track(kind === 'songs' ? 'song_data' : 'log_data');
  context.pool ??= new EncodePool(config.etl.workers);
  const chunks = extractTable({ table: STAGING[kind], source, concurrency: config.s3.concurrency, pool: context.pool, report: sourceReport, rejects, tracker });
  return (async function* () {
    yield* chunks;
    tracker.done();
  })();
}

/** Fails the run when it rejected more records than allowed; the rejections stay recorded. */
function checkErrorBudget(context: RunContext): void {
  const limit = context.options.maxErrors ?? context.config.etl.maxErrors;
  const rejected = Object.values(context.report.sources).reduce((n, s) => n + (s?.rejected ?? 0), 0);
  if (rejected > limit) {
    throw new EtlError(
      `${rejected} records were rejected, more than MAX_ERRORS = ${limit}: nothing was transformed; see ${context.report.rejectsFile}`,
    );
  }
}

/** `etl extract`: sources -> validated staging CSV parts in the run folder (or a dry run that keeps nothing). */
export function extract(options: RunOptions): Promise<RunReport> {
  return inRun('extract', options, async (context) => {
    const area = runStagingArea(context);
    context.report.stagingArea = area.url;
    for (const kind of KINDS) {
      await timed(context.report, `extract ${kind}`, async () => {
        await area.write(STAGING[kind], stagingCsv(context, kind));
        context.report.rowsAdded[STAGING[kind].table] = context.report.sources[kind]!.loaded;
      });
    }
    await writeFile(latestExtractFile(context.config), context.report.runId + '\n');
  });
}

/** `etl run --dry-run`: extract and validate everything, keep nothing but the report and rejects. */
export function dryRun(options: RunOptions): Promise<RunReport> {
  return inRun('run', { ...options, dryRun: true }, async (context) => {
    for (const kind of KINDS) {
      await timed(context.report, `extract ${kind}`, async () => {
        for await (const chunk of stagingCsv(context, kind)) void chunk;
      });
    }
  });
}

/** `etl stage`: an extract run's staging parts -> staging tables. */
export function stage(options: RunOptions): Promise<RunReport> {
  return inRun('stage', options, async (context) => {
    const { config, report } = context;
    const fromRun = options.fromRun ?? (await readFile(latestExtractFile(config), 'utf8').catch(() => '')).trim();
    if (!fromRun) throw new EtlError(`No extract run found in ${runsDir(config)}: run \`etl extract\` first`);
    const extracted = await readReport(config, fromRun);
    if (extracted.command !== 'extract' || !extracted.stagingArea) throw new EtlError(`Run ${fromRun} is not an extract run with staging data`);
    const area = stagingAreaAt(config, extracted.stagingArea);
    report.stagingArea = area.url;
    await withWarehouse(config, async (warehouse) => {
      await ensureTables(warehouse);
      for (const kind of KINDS) {
        const table = STAGING[kind];
        report.rowsAdded[table.table] = await timed(report, `stage ${kind}`, () => stageTable(warehouse, table, () => warehouse.loadArea(table, area)));
      }
      report.counts = await countTables(warehouse);
    });
  });
}

/** `etl transform`: staging tables -> star schema, atomically. */
export function transform(options: RunOptions): Promise<RunReport> {
  return inRun('transform', options, async (context) => {
    await withWarehouse(context.config, async (warehouse) => {
      await ensureTables(warehouse);
      Object.assign(context.report.rowsAdded, await timed(context.report, 'transform', () => transformStaged(warehouse)));
      context.report.counts = await countTables(warehouse);
    });
  });
}

/** `etl run`: extract, stage and transform in one streaming pass: no intermediate files. */
export function run(options: RunOptions): Promise<RunReport> {
  if (options.dryRun) return dryRun(options);
  return inRun('run', options, async (context) => {
    const { config, report } = context;
    await withWarehouse(config, async (warehouse) => {
      await ensureTables(warehouse);
      let area: StagingArea | undefined;
      const stagingArea = () => (area ??= runStagingArea(context));
      for (const kind of KINDS) {
        const table = STAGING[kind];
        const load = () => warehouse.loadStream(table, stagingCsv(context, kind), stagingArea);
        report.rowsAdded[table.table] = await timed(report, `extract+stage ${kind}`, () => stageTable(warehouse, table, load));
      }
      if (area) report.stagingArea = area.url;
      checkErrorBudget(context);
      Object.assign(report.rowsAdded, await timed(report, 'transform', () => transformStaged(warehouse)));
      report.counts = await countTables(warehouse);
    });
  });
}

/** A run's report, by id or the latest. */
export async function readReport(config: Config, runId?: string): Promise<RunReport> {
  const { readdir } = await import('node:fs/promises');
  const id = runId ?? (await readdir(runsDir(config)).catch(() => [] as string[])).filter((n) => /^\d{8}T/.test(n)).sort().at(-1);
  if (!id) throw new EtlError(`No runs in ${runsDir(config)} yet`);
  const path = join(runsDir(config), id, 'report.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RunReport;
  } catch {
    throw new EtlError(`No report for run ${id} (${path})`);
  }
}
