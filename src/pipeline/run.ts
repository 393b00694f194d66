import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { EtlError, describeError } from '../errors.js';
import { isS3Url, openSource, s3Client } from '../extract/open-source.js';
import { openWarehouse } from '../load/connect.js';
import { countTables, createTables, ensureTables, inTransaction, stageTable, transformStaged } from '../load/load-steps.js';
import { checkFailure, runChecks } from '../load/quality-checks.js';
import { ledgerEntries, STAGING_TABLES, truncateStaging } from '../load/queries.js';
import type { Warehouse } from '../load/warehouse.js';
import { csvLine } from '../transform/csv.js';
import { encodeBatch } from '../transform/record-encoder.js';
import { LOAD_ERRORS, STAGING, STAGING_OBJECTS, type RecordKind } from '../transform/schema.js';
import { EncodePool } from '../transform/worker-pool.js';
import { extractTable } from './extract-table.js';
import type { Progress } from './progress.js';
import { isDay, selectObjects, type Selection } from './object-selection.js';
import { loadErrorsCsv, readRejects, RejectsFile, type RejectedRecord } from './rejects.js';
import { addObject, emptySourceReport, timed, type RunReport, type SourceReport } from './report.js';
import { LocalStagingArea, PlannedStagingArea, S3StagingArea, type StagingArea } from './staging-area.js';

/** Songs first: their staging table is what plays are matched against. */
const KINDS: readonly RecordKind[] = ['songs', 'events'];

export type Command = 'run' | 'extract' | 'stage' | 'transform' | 'replay';

export interface RunOptions {
  readonly config: Config;
  readonly progress: Progress;
  /** Extract and validate only; touch no warehouse. */
  readonly dryRun?: boolean;
  /** `etl stage`: the extract run to load; default the latest. */
  readonly fromRun?: string;
  /** Rejections tolerated before the run fails (default: ETL.MAX_ERRORS). */
  readonly maxErrors?: number;
  /** Load every selected object, whether the ledger says it was loaded or not. */
  readonly fullRefresh?: boolean;
  /** Inclusive day range (`YYYY-MM-DD`) of the log objects to load: a backfill. */
  readonly since?: string;
  readonly until?: string;
  /** Run the data quality checks after the transform (default true). */
  readonly checks?: boolean;
  /** Opens the warehouse (default: the configured one); a recording one for `--print-sql` and the Redshift conformance tests. */
  readonly openWarehouse?: (config: Config) => Promise<Warehouse>;
  /**
   * `--print-sql`: read no source and write no staging data; each table that `fills` says a batch fills
   * stands in for one staged part, so the statements the warehouse records are those a real run sends.
   */
  readonly plan?: { readonly fills: (table: string) => boolean };
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
  for (const [flag, value] of [['--since', options.since], ['--until', options.until]] as const) {
    if (value !== undefined && !isDay(value)) throw new EtlError(`${flag} must be a date YYYY-MM-DD, got "${value}"`);
  }
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

/**
 * Opens the warehouse (a recording one for `--print-sql`), takes the run lock (one etl command at a time per
 * warehouse) and makes sure the tables exist. `stages`: the command puts data into staging, which an engine
 * that loads from S3 can only take from an S3 staging area: said before anything is read.
 */
async function withWarehouse<T>(context: RunContext, work: (warehouse: Warehouse) => Promise<T>, { stages = true } = {}): Promise<T> {
  const { config, options } = context;
  const warehouse = await (options.openWarehouse ?? openWarehouse)(config);
  try {
    if (stages && warehouse.stagesFromS3 && !isS3Url(config.s3.staging)) {
      throw new EtlError(
        `${warehouse.description} loads staging tables from S3 only: set S3.STAGING to an s3:// prefix (now ${config.s3.staging === '' ? 'empty' : `"${config.s3.staging}"`}), where the run's staging parts, object list and rejected records go for COPY`,
      );
    }
    await warehouse.lockRuns({ command: `etl ${context.report.command}`, ttlMs: config.etl.runLockTtlSeconds * 1000, notice: (m) => options.progress.log(m) });
    await ensureTables(warehouse);
    return await work(warehouse);
  } finally {
    await warehouse.close();
  }
}

/** `etl create-tables`: under the run lock, drop every table and create them empty; resolves to where. */
export async function recreateTables(config: Config, options: Pick<RunOptions, 'progress' | 'openWarehouse'>): Promise<string> {
  const warehouse = await (options.openWarehouse ?? openWarehouse)(config);
  try {
    await warehouse.lockRuns({ command: 'etl create-tables', ttlMs: config.etl.runLockTtlSeconds * 1000, notice: (m) => options.progress.log(m) });
    await createTables(warehouse);
    return warehouse.description;
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
  const { plan } = context.options;
  return plan ? new PlannedStagingArea(url, plan.fills) : stagingAreaAt(context.config, url);
}

/** What to load of each kind: the ledger (unless a full refresh) and the day range. */
async function selectionOf(context: RunContext, warehouse: Warehouse | undefined, kind: RecordKind): Promise<Selection> {
  const { options } = context;
  let ledger: Map<string, string> | undefined;
  if (warehouse && !options.fullRefresh) {
    const { rows } = await warehouse.query(ledgerEntries, [kind]);
    ledger = new Map(rows.map((r) => [String(r.source_key), String(r.version)]));
  }
  return { ledger, since: options.since, until: options.until };
}

/** Validated staging CSV of one kind of record, as a stream of chunks; fills the run's report as it goes. */
function stagingCsv(context: RunContext, kind: RecordKind, selection: Selection): AsyncGenerator<string> {
  const { config, report, rejects, options } = context;
  const url = kind === 'songs' ? config.s3.songData : config.s3.logData;
  // A planned run reads no source: its staging area stands in for the parts a real run would write.
  if (options.plan) return (async function* () {})();
  const source = openSource(url, config);
  const sourceReport = (report.sources[kind] = emptySourceReport(url));
  const objects = selectObjects(source.list(), { ...selection, dated: kind === 'events' }, sourceReport.skipped);
  const tracker = options.progress.track(kind === 'songs' ? 'song_data' : 'log_data');
  context.pool ??= new EncodePool(config.etl.workers);
  const chunks = extractTable({ table: STAGING[kind], source, objects, concurrency: config.s3.concurrency, pool: context.pool, report: sourceReport, rejects, tracker });
  return (async function* () {
    yield* chunks;
    tracker.done();
  })();
}

/** The batch's objects as staging_objects CSV: what the ledger records once the batch is transformed. */
async function* stagedObjectsCsv(report: RunReport): AsyncGenerator<string> {
  const loadedAt = report.startedAt.replace('T', ' ').replace('Z', '');
  for (const kind of KINDS) {
    let chunk = '';
    for (const o of report.sources[kind]?.objectReports ?? []) chunk += csvLine([report.runId, kind, o.key, o.size, o.version, loadedAt]) + '\n';
    if (chunk) yield chunk;
  }
}

/**
 * After the staging tables: the batch's object list (staging_objects) and its rejected records (appended to
 * load_errors, where they stay for inspection whatever happens next).
 */
async function stageBookkeeping(context: RunContext, warehouse: Warehouse, area: () => StagingArea, batch: RunReport, rejectsFile: string): Promise<void> {
  await timed(context.report, 'stage bookkeeping', async () => {
    await stageTable(warehouse, STAGING_OBJECTS, () => warehouse.loadStream(STAGING_OBJECTS, stagedObjectsCsv(batch), area));
    context.report.rowsAdded.load_errors = await warehouse.loadStream(LOAD_ERRORS, loadErrorsCsv(batch.runId, rejectsFile), area);
  });
}

/**
 * Fails the run when its batch rejected more records than allowed; the rejections stay recorded (load_errors,
 * rejects file) and the batch is taken out of staging, so no later `etl transform` commits it by accident.
 */
async function checkErrorBudget(context: RunContext, warehouse: Warehouse, batch: RunReport): Promise<void> {
  const limit = context.options.maxErrors ?? context.config.etl.maxErrors;
  const rejected = Object.values(batch.sources).reduce((n, s) => n + (s?.rejected ?? 0), 0);
  if (rejected > limit) {
    for (const table of [...STAGING_TABLES, 'staging_objects'] as const) await warehouse.query(truncateStaging(table));
    throw new EtlError(
      `${rejected} records were rejected, more than MAX_ERRORS = ${limit}: the analytic tables were not changed; see ${batch.rejectsFile} or the load_errors table`,
    );
  }
}

/** The transform, then the quality checks: a failed check fails the command (the transform stays committed). */
async function transformAndCheck(context: RunContext, warehouse: Warehouse): Promise<void> {
  const { report, options } = context;
  warehouse.assertRunLock?.();
  const onStep = (name: string) => void (name.startsWith('drop ') || options.progress.log(`transform: ${name}`));
  Object.assign(report.rowsAdded, await timed(report, 'transform', () => transformStaged(warehouse, onStep)));
  report.counts = await countTables(warehouse);
  if (options.checks === false) return;
  // The checks' anti-joins and groupings over the whole fact table get the transform's memory settings.
  const results = await timed(report, 'check', () =>
inTransaction(warehouse, () => runChecks(warehouse), { tuned: true }));
  report.checks = results.map((r) => ({ name: r.name, passed: r.passed, count: r.count, offending: r.offending }));
  const failure = checkFailure(results);
  if (failure) throw failure;
}

/** `etl extract`: sources -> validated staging CSV parts (run folder or S3.STAGING) and a report. */
export function extract(options: RunOptions): Promise<RunReport> {
  return inRun('extract', options, async (context) => {
    const { config, report } = context;
    // The ledger says what is new; read it if the warehouse has one (a full refresh needs none).
    const selections = options.fullRefresh
      ? { songs: await selectionOf(context, undefined, 'songs'), events: await selectionOf(context, undefined, 'events') }
      : await withWarehouse(context, async (w) => ({ songs: await selectionOf(context, w, 'songs'), events: await selectionOf(context, w, 'events') }));
    const area = runStagingArea(context);
    report.stagingArea = area.url;
    for (const kind of KINDS) {
      await timed(report, `extract ${kind}`, async () => {
        await area.write(STAGING[kind], stagingCsv(context, kind, selections[kind]));
        report.rowsAdded[STAGING[kind].table] = report.sources[kind]!.loaded;
      });
    }
    await writeFile(latestExtractFile(config), report.runId + '\n');
  });
}

/** `etl run --dry-run`: extract and validate everything selected, keep nothing but the report and rejects. */
export function dryRun(options: RunOptions): Promise<RunReport> {
  return inRun('run', { ...options, dryRun: true }, async (context) => {
    for (const kind of KINDS) {
      const selection = await selectionOf(context, undefined, kind);
      await timed(context.report, `extract ${kind}`, async () => {
        for await (const chunk of stagingCsv(context, kind, selection)) void chunk;
      });
    }
  });
}

/** `etl stage`: an extract run's staging parts -> staging tables, its objects and rejections -> bookkeeping. */
export function stage(options: RunOptions): Promise<RunReport> {
  return inRun('stage', options, async (context) => {
    const { config, report } = context;
    const fromRun = options.fromRun ?? (await readFile(latestExtractFile(config), 'utf8').catch(() => '')).trim();
    if (!fromRun) throw new EtlError(`No extract run found in ${runsDir(config)}: run \`etl extract\` first`);
    const extracted = await readReport(config, fromRun);
    if (extracted.command !== 'extract' || !extracted.stagingArea) throw new EtlError(`Run ${fromRun} is not an extract run with staging data`);
    const area = stagingAreaAt(config, extracted.stagingArea);
    report.stagingArea = area.url;
    report.sources = extracted.sources;
    await withWarehouse(context, async (warehouse) => {
      for (const kind of KINDS) {
        const table = STAGING[kind];
        report.rowsAdded[table.table] = await timed(report, `stage ${kind}`, () => stageTable(warehouse, table, () => warehouse.loadArea(table, area)));
      }
      await stageBookkeeping(context, warehouse, () => area, extracted, extracted.rejectsFile!);
      report.counts = await countTables(warehouse);
    });
  });
}

/** `etl transform`: staging tables -> star schema, atomically; then the quality checks. */
export function transform(options: RunOptions): Promise<RunReport> {
  return inRun('transform', options, async (context) => {
    await withWarehouse(context, (warehouse) => transformAndCheck(context, warehouse), { stages: false });
  });
}

/** `etl run`: extract, stage and transform in one streaming pass: no intermediate files (but on Redshift, S3). */
export function run(options: RunOptions): Promise<RunReport> {
  if (options.dryRun) return dryRun(options);
  return inRun('run', options, async (context) => {
    const { config, report } = context;
    await withWarehouse(context, async (warehouse) => {
      let area: StagingArea | undefined;
      const stagingArea = () => (area ??= runStagingArea(context));
      for (const kind of KINDS) {
        const table = STAGING[kind];
        const selection = await selectionOf(context, warehouse, kind);
        const load =
          config.etl.loadMode === 'json'
            ? () => copyRawJson(context, warehouse, kind)
            : () => warehouse.loadStream(table, stagingCsv(context, kind, selection), stagingArea);
        report.rowsAdded[table.table] = await timed(report, `extract+stage ${kind}`, () => stageTable(warehouse, table, load));
      }
      await context.rejects.close();
      await stageBookkeeping(context, warehouse, stagingArea, report, report.rejectsFile!);
      if (area) report.stagingArea = area.url;
      await checkErrorBudget(context, warehouse, report);
      await transformAndCheck(context, warehouse);
    });
  });
}

/**
 * ETL.LOAD_MODE = json: the original project's load, where Redshift reads the raw JSON under the source prefix
 * itself; the lines it rejects (STL_LOAD_ERRORS) join the run's rejects. No ledger: COPY reads the whole prefix.
 */
async function copyRawJson(context: RunContext, warehouse: Warehouse, kind: RecordKind): Promise<number> {
  const { config, report, options } = context;
  if (!warehouse.copyJson) {
    throw new EtlError(`ETL.LOAD_MODE = json needs WAREHOUSE.ENGINE = redshift: only Redshift reads the raw JSON from S3 itself`);
  }
  const url = kind === 'songs' ? config.s3.songData : config.s3.logData;
  if (kind === 'events' && config.s3.logJsonPath === '') throw new EtlError('ETL.LOAD_MODE = json needs S3.LOG_JSONPATH: the JSONPaths file mapping event fields to columns');
  const sourceReport = (report.sources[kind] = emptySourceReport(url));
  const jsonPaths = kind === 'events' ? config.s3.logJsonPath : undefined;
  const { rows, rejections } = await warehouse.copyJson(STAGING[kind], url, jsonPaths, options.maxErrors ?? config.etl.maxErrors);
  Object.assign(sourceReport, { loaded: rows, rejected: rejections.length, records: rows + rejections.length });
  await context.rejects.write(kind, rejections, sourceReport);
  return rows;
}

/**
 * `etl replay FILE`: re-submits rejected records from a rejects file (after fixing their raw text): they are
 * validated again, the good ones staged and transformed like any batch, the others rejected again.
 */
export function replay(options: RunOptions & { readonly file: string }): Promise<RunReport> {
  return inRun('replay', options, async (context) => {
    const { report } = context;
    const batches: Record<RecordKind, RejectedRecord[]> = { songs: [], events: [] };
    for await (const record of readRejects(options.file)) batches[record.kind].push(record);
    await withWarehouse(context, async (warehouse) => {
      let area: StagingArea | undefined;
      const stagingArea = () => (area ??= runStagingArea(context));
      for (const kind of KINDS) {
        const table = STAGING[kind];
        const sourceReport = (report.sources[kind] = emptySourceReport(options.file));
        const csv = replayCsv(context, kind, batches[kind], sourceReport);
        report.rowsAdded[table.table] = await timed(report, `stage ${kind}`, () => stageTable(warehouse, table, () => warehouse.loadStream(table, csv, stagingArea)));
      }
      await context.rejects.close();
      // No objects: a replay changes no ledger entry.
      await stageBookkeeping(context, warehouse, stagingArea, { ...report, sources: {} }, report.rejectsFile!);
      await checkErrorBudget(context, warehouse, report);
      await transformAndCheck(context, warehouse);
    });
  });
}

/**
 * A rejection that cannot be validated again as it stands, so it is rejected again for its first reason: no
 * text was kept (corrupt gzip data), or the text still holds the U+FFFD that stand for bytes that were not
 * UTF-8 (the rejects file cannot hold those bytes; loading the stand-ins would change the data unasked).
 */
const notReplayable = (record: RejectedRecord): boolean =>
  record.raw === '' || (record.reason === 'invalid UTF-8' && record.raw.includes('\ufffd'));

/** Replayed records of one kind, validated again; each keeps the object and line it first came from. */
async function* replayCsv(context: RunContext, kind: RecordKind, records: readonly RejectedRecord[], sourceReport: SourceReport): AsyncGenerator<string> {
  for (const record of records) {
    // Where it stood is kept too: a truncated last line replayed unchanged is still one.
    const raw = { line: record.line, bytes: Buffer.from(record.raw, 'utf8'), unterminated: record.reason === 'truncated last line' };
    const batch = notReplayable(record)
      ? { csv: '', rows: 0, rejections: [{ source: record.source, line: record.line, reason: record.reason, raw: record.raw }] }
      : encodeBatch(STAGING[kind], record.source, [raw]);
    addObject(sourceReport, { key: record.source, size: raw.bytes.length, version: '', records: 1, loaded: batch.rows, rejected: batch.rejections.length });
    await context.rejects.write(kind, batch.rejections, sourceReport);
    if (batch.csv) yield batch.csv;
  }
}

/** A run's report, by id or the latest. */
export async function readReport(config: Config, runId?: string): Promise<RunReport> {
  const id = runId ?? (await readdir(runsDir(config)).catch(() => [] as string[])).filter((n) => /^\d{8}T/.test(n)).sort().at(-1);
  if (!id) throw new EtlError(`No runs in ${runsDir(config)} yet`);
  const path = join(runsDir(config), id, 'report.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RunReport;
  } catch {
    throw new EtlError(`No report for run ${id} (${path})`);
  }
}
