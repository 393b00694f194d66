import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { EtlError, describeError, isMissingTable } from '../errors.js';
import { onInterrupt } from '../exit-hooks.js';
import { isS3Url, openSource, s3Client } from '../extract/open-source.js';
import { openWarehouse, type OpenOptions } from '../load/connect.js';
import { countTables, createTables, ensureTables, inTransaction, rowsHeld, stageTable, transformCounted } from '../load/load-steps.js';
import { checkFailure, runChecks } from '../load/quality-checks.js';
import { ALL_TABLES, ledgerEntries, STAGING_TABLES, TABLES, truncateStaging, type TableName } from '../load/queries.js';
import type { Warehouse } from '../load/warehouse.js';
import { csvLine } from '../transform/csv.js';
import { encodeBatch } from '../transform/record-encoder.js';
import { LOAD_ERRORS, STAGING, STAGING_OBJECTS, type RecordKind } from '../transform/schema.js';
import { EncodePool } from '../transform/worker-pool.js';
import { knownObjects, LedgerWatch, prunedObjectsCsv, STAGING_PRUNED } from './deleted-objects.js';
import { extractTable } from './extract-table.js';
import { saveRunReportHtml } from '../report/run-report.js';
import { findRun, recordEnd, recordInterruption, recordStart, reportOf } from './history.js';
import type { Progress } from './progress.js';
import { dayRangeProblem, ledgerOf, selectObjects, type LedgerEntry, type Selection } from './object-selection.js';
import { loadErrorsCsv, readRejects, RejectsFile, type RejectedRecord } from './rejects.js';
import { addObject, emptySourceReport, rejectedIn, timed, type RunReport, type SourceReport } from './report.js';
import { markInProgress, pruneRuns, unmarkInProgress, type Pruned } from './retention.js';
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
  /**
   * Load every selected object, whether the ledger says it was loaded or not; and remove what came from
   * objects the source no longer holds, as `prune` does: the tables then equal a fresh load.
   */
  readonly fullRefresh?: boolean;
  /** Remove the rows of ledger objects the source no longer holds (else they are only counted). */
  readonly prune?: boolean;
  /** Inclusive day range (`YYYY-MM-DD`) of the log objects to load: a backfill. */
  readonly since?: string;
  readonly until?: string;
  /** Run the data quality checks after the transform (default true). */
  readonly checks?: boolean;
  /** Opens the warehouse (default: the configured one); a recording one for `--print-sql` and the Redshift conformance tests. */
  readonly openWarehouse?: (config: Config, notice?: (message: string) => void, how?: OpenOptions) => Promise<Warehouse>;
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
  /** Set when the command did not get the warehouse (run lock held elsewhere, no connection): no run, no folder. */
  discard?: boolean;
  /** The warehouse holding the run's etl_runs row, while open: where an interruption is recorded. */
  history?: Warehouse;
  /** The writes of report.json, one after another. */
  saving?: Promise<void>;
  /** The write of the run's end to etl_runs, while under way (an interruption then waits for it). */
  ending?: Promise<void>;
}

export const runsDir = (config: Config): string => resolve(config.etl.workDir, 'runs');
const latestExtractFile = (config: Config) => join(runsDir(config), 'LATEST_EXTRACT');

/** Sortable, unique enough for one machine: UTC time to the millisecond plus a random suffix. */
const newRunId = (): string =>
  new Date().toISOString().replace(/[-:]/g, '').replace('.', '') + '-' + Math.random().toString(36).slice(2, 6);

/** What the usual reasons a folder cannot be made mean to the user. */
const MKDIR_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOENT: 'a folder on the way does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'no space left on the device',
};

/** A failed mkdir of the run folder, as one line naming the setting to change. */
export function runFolderError(error: unknown, runDir: string, workDir: string): EtlError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = (code && MKDIR_REASONS[code]) ?? describeError(error);
  return new EtlError(
    `Cannot create the run folder ${runDir} under ETL.WORK_DIR (${workDir}): ${reason}; set ETL.WORK_DIR (or SPARKIFY_ETL_WORK_DIR) to a writable folder`,
    { cause: error },
  );
}

async function startRun(command: Command, options: RunOptions): Promise<RunContext> {
  const { config } = options;
  // Before anything is created: a wrong range is the caller's to fix (the CLI refuses it earlier still).
  const rangeProblem = dayRangeProblem(options.since, options.until);
  if (rangeProblem) throw new EtlError(rangeProblem);
  const runId = newRunId();
  const runDir = join(runsDir(config), runId);
  await mkdir(runDir, { recursive: true }).catch((error: unknown) => {
    throw runFolderError(error, runDir, config.etl.workDir);
  });
  await markInProgress(runDir);
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
  // The run's log: every progress line and step, timestamped, whatever the terminal shows.
  options.progress.logTo(join(runDir, 'run.log'));
  return { options, config, runDir, report, rejects: new RejectsFile(report.rejectsFile!) };
}

/** The run's outcome, set once: what happens after an interruption (statements refused, say) changes nothing. */
function settle(report: RunReport, error?: unknown, status?: 'interrupted'): void {
  if (report.status !== 'running') return;
  report.finishedAt = new Date().toISOString();
  report.status = status ?? (error ? 'failed' : 'ok');
  if (error) report.error = describeError(error);
}

/** Writes report.json (writes of one run never overlap). */
function saveReport(context: RunContext): Promise<void> {
  const text = JSON.stringify(context.report, null, 2) + '\n';
  context.saving = (context.saving?.catch(() => {}) ?? Promise.resolve()).then(() => writeFile(join(context.runDir, 'report.json'), text));
  return context.saving;
}

async function finishRun(context: RunContext, error?: unknown): Promise<void> {
  const { report, config, options } = context;
  settle(report, error);
  await context.rejects.close();
  await context.pool?.close();
  await context.options.progress.detach();
  // Refused by the run lock (or no warehouse at all): it was no run; it must not become the latest.
  if (context.discard) return rm(context.runDir, { recursive: true, force: true });
  await saveReport(context);
  // Interrupted, the process is on its way out: the interrupt hook has the last word.
  if (report.status === 'interrupted') return;
  // The same report as a page with charts, best effort: a report.html that cannot be written never fails the run.
  await saveRunReportHtml(context.runDir, report).catch((cause: unknown) => options.progress.log(`Could not write report.html in ${context.runDir}: ${describeError(cause)}`));
  await unmarkInProgress(context.runDir);
  try {
    const { removed } = await cleanRuns(config, { current: report.runId });
    if (removed.length > 0) options.progress.log(`Removed ${removed.length} run folder${removed.length === 1 ? '' : 's'} beyond the newest ETL.KEEP_RUNS = ${config.etl.keepRuns} from ${runsDir(config)}`);
  } catch (cause) {
    options.progress.log(`Could not remove old run folders from ${runsDir(config)}: ${describeError(cause)}`);
  }
}

/**
 * SIGINT or SIGTERM while the run works: its report says so, in the run folder and (best effort) in etl_runs.
 * A run that had ended already (its report being written) gets its report written as it ended.
 */
async function interruptRun(context: RunContext, signal?: string): Promise<void> {
  const { report } = context;
  if (context.discard) return;
  if (report.status !== 'running') {
    await context.ending;
    await saveReport(context).catch(() => {});
    return;
  }
  settle(report, `${signal ?? 'a signal'} received`, 'interrupted');
  // First, so PGlite stops taking the pipeline's statements before it could commit any more of them.
  const recorded = context.history ? recordInterruption(context.history, report).catch(() => {}) : undefined;
  await saveReport(context).catch(() => {});
  await unmarkInProgress(context.runDir).catch(() => {});
  await recorded;
}

/** Runs a command in a run folder, writing its report whatever happens (also when interrupted). */
async function inRun(command: Command, options: RunOptions, body: (context: RunContext) => Promise<void>): Promise<RunReport> {
  const context = await startRun(command, options);
  // Until the report is written: a signal that comes while the run is finishing must not lose it.
  const forget = onInterrupt((signal) => interruptRun(context, signal));
  try {
    await body(context);
  } catch (error) {
    await finishRun(context, error).finally(forget);
    throw error;
  }
  await finishRun(context).finally(forget);
  return context.report;
}

/**
 * Opens the warehouse (a recording one for `--print-sql`), takes the run lock (one etl command at a time per
 * warehouse) and makes sure the tables exist. `stages`: the command puts data into staging, which an engine
 * that loads from S3 can only take from an S3 staging area: said before anything is read.
 */
async function withWarehouse<T>(context: RunContext, work: (warehouse: Warehouse) => Promise<T>, { stages = true, record = true, apart = false } = {}): Promise<T> {
  const { config, options, report } = context;
  let warehouse: Warehouse | undefined;
  let locked = false;
  try {
    warehouse = await (options.openWarehouse ?? openWarehouse)(config, (m) => options.progress.log(m), { apart });
    if (stages && warehouse.stagesFromS3 && !isS3Url(config.s3.staging)) {
      throw new EtlError(
        `${warehouse.description} loads staging tables from S3 only: set S3.STAGING to an s3:// prefix (now ${config.s3.staging === '' ? 'empty' : `"${config.s3.staging}"`}), where the run's staging parts, object list and rejected records go for COPY`,
      );
    }
    await warehouse.lockRuns({ command: `etl ${context.report.command}`, ttlMs: config.etl.runLockTtlSeconds * 1000, notice: (m) => options.progress.log(m) });
    locked = true;
    if (record) {
      await recordStart(warehouse, report);
      context.history = warehouse;
    }
    await ensureTables(warehouse);
    const result = await work(warehouse);
    if (context.history) await endHistory(context, context.history);
    return result;
  } catch (error) {
    if (!locked) context.discard = true;
    if (context.history) await endHistory(context, context.history, error);
    throw error;
  } finally {
    context.history = undefined;
    await warehouse?.close();
  }
}

/**
 * The command's work on the warehouse is over (`record`ing commands end with it): settles the report and
 * records its end in etl_runs. Not recording it fails nothing: the run did what it did.
 */
async function endHistory(context: RunContext, warehouse: Warehouse, error?: unknown): Promise<void> {
  const { report, options } = context;
  settle(report, error);
  // An interrupted run is recorded by its interrupt hook.
  if (report.status === 'interrupted') return;
  context.ending = recordEnd(warehouse, report).catch((cause: unknown) => {
    options.progress.log(`Could not record the end of run ${report.runId} in etl_runs on ${warehouse.description}: ${describeError(cause)}`);
  });
  await context.ending;
}

/** The tables `etl create-tables` keeps unless told `--all`: the history of rejections and of loaded objects. */
export const KEPT_BY_CREATE_TABLES: readonly TableName[] = ['load_errors', 'load_ledger'];

export interface RecreateOptions extends Pick<RunOptions, 'progress' | 'openWarehouse'> {
  /** Drop load_errors and load_ledger too. */
  readonly all?: boolean;
  /** Asked before rows are dropped (a terminal's prompt); absent, dropping rows needs `yes`. */
  readonly confirm?: (question: string) => Promise<boolean>;
  /** Drop rows without asking (`--yes`). */
  readonly yes?: boolean;
}

/**
 * `etl create-tables`: under the run lock, drop the tables (all but load_errors and load_ledger, unless
 * `all`) and create them empty. Tables holding rows are dropped only when the user agrees or said `yes`.
 * Resolves to where, and the tables kept.
 */
export async function recreateTables(config: Config, options: RecreateOptions): Promise<{ where: string; kept: readonly TableName[] }> {
  const warehouse = await (options.openWarehouse ?? openWarehouse)(config, (m) => options.progress.log(m));
  try {
    await warehouse.lockRuns({ command: 'etl create-tables', ttlMs: config.etl.runLockTtlSeconds * 1000, notice: (m) => options.progress.log(m) });
    const keep = options.all ? [] : KEPT_BY_CREATE_TABLES;
    const held = await rowsHeld(warehouse, TABLES.filter((t) => !keep.includes(t)));
    const rows = Object.entries(held).map(([table, n]) => `${table} ${n.toLocaleString('en-US')}`);
    if (rows.length > 0 && !options.yes) {
      const question = `${warehouse.description} holds rows that create-tables drops (${rows.join(', ')})`;
      if (!options.confirm) throw new EtlError(`${question}: pass --yes to drop them`);
      if (!(await options.confirm(`${question}. Drop them? [y/N] `))) throw new EtlError('create-tables stopped: nothing was dropped');
    }
    // A lease that expired meanwhile (the process stalled at the prompt) may belong to a run now: drop nothing under it.
    warehouse.assertRunLock?.();
    await createTables(warehouse, { keep });
    return { where: warehouse.description, kept: keep };
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
async function selectionOf(context: Pick<RunContext, 'options'>, warehouse: Warehouse | undefined, kind: RecordKind): Promise<Selection> {
  const { options } = context;
  let ledger: Map<string, LedgerEntry> | undefined;
  if (warehouse && !options.fullRefresh) {
    const { rows } = await warehouse.query(ledgerEntries, [kind]);
    ledger = ledgerOf(rows);
  }
  return { ledger, since: options.since, until: options.until };
}

/** What to load of both kinds. */
async function selectionsOf(context: Pick<RunContext, 'options'>, warehouse: Warehouse | undefined): Promise<Record<RecordKind, Selection>> {
  return { songs: await selectionOf(context, warehouse, 'songs'), events: await selectionOf(context, warehouse, 'events') };
}

/**
 * Validated staging CSV of one kind of record, as a stream of chunks; fills the run's report as it goes.
 * `known`: the ledger's keys (default: the selection's), whose objects the listing must show or they are gone.
 */
function stagingCsv(context: RunContext, kind: RecordKind, selection: Selection, known: Iterable<string> | undefined = selection.ledger?.keys()): AsyncGenerator<string | Buffer> {
  const { config, report, rejects, options } = context;
  const url = kind === 'songs' ? config.s3.songData : config.s3.logData;
  // A planned run reads no source: its staging area stands in for the parts a real run would write.
  if (options.plan) return (async function* () {})();
  const source = openSource(url, config, (m) => options.progress.log(m));
  const sourceReport = (report.sources[kind] = emptySourceReport(url));
  const tracker = options.progress.track(kind === 'songs' ? 'song_data' : 'log_data');
  // The bar's total: from a listing of its own where listing is cheap (a folder; the main one is consumed only
  // as fast as objects are fetched), else when the one listing ends. Same selection either way.
  const dated = kind === 'events';
  const watch = known && new LedgerWatch(known);
  const selected = selectObjects(watch ? watch.watch(source.list()) : source.list(), { ...selection, dated }, sourceReport.skipped);
  const objects = source.listsCheaply ? selected : countedListing(selected, (n) => tracker.total(n));
  if (source.listsCheaply) {
    const counting = selectObjects(openSource(url, config).list(), { ...selection, dated }, { unchanged: 0, outOfRange: 0 });
    void (async () => {
      let count = 0;
      for await (const object of counting) if (object) count++;
      tracker.total(count);
    })().catch(() => {});
  }
  context.pool ??= new EncodePool(config.etl.workers);
  const chunks = extractTable({ table: STAGING[kind], source, objects, concurrency: config.s3.concurrency, pool: context.pool, report: sourceReport, rejects, tracker });
  return (async function* () {
    yield* chunks;
    tracker.done();
    checkSourceFound(kind, sourceReport);
    if (watch) {
      const gone = watch.gone({ ...selection, dated });
      const pruned = Boolean(options.prune || options.fullRefresh);
      sourceReport.gone = { objects: gone.length, pruned, keys: pruned ? gone : [] };
    }
  })();
}

/** The listing, telling `onEnd` how many objects it held once it is done. */
async function* countedListing<T>(listing: AsyncIterable<T>, onEnd: (count: number) => void): AsyncGenerator<T> {
  let count = 0;
  for await (const item of listing) {
    count++;
    yield item;
  }
  onEnd(count);
}

/** The setting that names a kind's source. */
const sourceSetting = (kind: RecordKind): string => (kind === 'songs' ? 'S3.SONG_DATA' : 'S3.LOG_DATA');

/**
 * A source that holds no object at all is a wrong prefix, not an empty day; one whose every record is
 * rejected is most likely the other kind's folder. Either fails the command before anything is transformed.
 */
function checkSourceFound(kind: RecordKind, report: SourceReport): void {
  const listed = report.objects + report.skipped.unchanged + report.skipped.outOfRange;
  if (listed === 0) {
    throw new EtlError(`${sourceSetting(kind)} (${report.source}) holds no .json or .json.gz object: check the prefix or folder`);
  }
  if (report.records > 0 && report.loaded === 0) {
    const reason = Object.keys(report.reasons)[0] ?? 'unknown';
    const other = kind === 'songs' ? 'S3.LOG_DATA' : 'S3.SONG_DATA';
    throw new EtlError(
      `Every one of the ${report.records.toLocaleString('en-US')} records under ${sourceSetting(kind)} (${report.source}) was rejected (${reason}): is it the right folder, or swapped with ${other}?`,
    );
  }
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
 * After the staging tables: the batch's object list (staging_objects), the ledger objects it removes
 * (staging_pruned) and its rejected records (appended to load_errors, where they stay for inspection
 * whatever happens next).
 */
async function stageBookkeeping(context: RunContext, warehouse: Warehouse, area: () => StagingArea, batch: RunReport, rejectsFile: string): Promise<void> {
  await timed(context.report, 'stage bookkeeping', async () => {
    await stageTable(warehouse, STAGING_OBJECTS, () => warehouse.loadStream(STAGING_OBJECTS, stagedObjectsCsv(batch), area));
    await stageTable(warehouse, STAGING_PRUNED, () => warehouse.loadStream(STAGING_PRUNED, prunedObjectsCsv(batch), area));
    context.report.rowsAdded.load_errors = await warehouse.loadStream(LOAD_ERRORS, loadErrorsCsv(batch.runId, rejectsFile), area);
  });
}

/**
 * Fails the run when its batch rejected more records than allowed; the rejections stay recorded (load_errors,
 * rejects file) and the batch is taken out of staging, so no later `etl transform` commits it by accident.
 */
async function checkErrorBudget(context: RunContext, warehouse: Warehouse, batch: RunReport): Promise<void> {
  const over = overBudget(context, batch);
  if (!over) return;
  for (const table of [...STAGING_TABLES, 'staging_objects', 'staging_pruned'] as const) await warehouse.query(truncateStaging(table));
  throw new EtlError(`${over}: the analytic tables were not changed; see ${batch.rejectsFile} or the load_errors table`);
}

/** `N records were rejected, more than MAX_ERRORS = M` when the batch is over its error budget, else undefined. */
function overBudget(context: Pick<RunContext, 'options' | 'config'>, batch: RunReport): string | undefined {
  const limit = context.options.maxErrors ?? context.config.etl.maxErrors;
  const rejected = rejectedIn(batch);
  return rejected > limit ? `${rejected} records were rejected, more than MAX_ERRORS = ${limit}` : undefined;
}

/**
 * The seven tables' rows after the transform, without counting them again: the analytic tables as the
 * transform counted them at its end; the staging tables as this command loaded them (each was truncated, then
 * COPYed into), else (`etl transform`, which loads none) counted.
 */
async function countsAfter(warehouse: Warehouse, loaded: Readonly<Record<string, number>>, analytic: Readonly<Record<string, number>>): Promise<Record<string, number>> {
  const staged = STAGING_TABLES.every((t) => loaded[t] !== undefined) ? loaded : await countTables(warehouse, STAGING_TABLES);
  return Object.fromEntries(ALL_TABLES.map((t) => [t, ((STAGING_TABLES as readonly string[]).includes(t) ? staged[t] : analytic[t]) ?? 0]));
}

/** The transform, then the quality checks: a failed check fails the command (the transform stays committed). */
async function transformAndCheck(context: RunContext, warehouse: Warehouse): Promise<void> {
  const { report, options } = context;
  warehouse.assertRunLock?.();
  const start = performance.now();
  let statements = 0;
  const onStep = (name: string) => {
    statements++;
    return options.progress.step(`transform: ${name}`);
  };
  const { added, counts } = await timed(report, 'transform', () => transformCounted(warehouse, onStep));
  Object.assign(report.rowsAdded, added);
  options.progress.log(`transform: ${statements} statements in ${((performance.now() - start) / 1000).toFixed(1)} s, one transaction`);
  report.counts = await countsAfter(warehouse, report.rowsAdded, counts);
  if (options.checks === false) return;
  // The checks' anti-joins and groupings over the whole fact table get the transform's memory settings.
  const results = await timed(report, 'check', async () => {
    const step = options.progress.step('quality checks');
    const checked = await inTransaction(warehouse, () => runChecks(warehouse), { tuned: true });
    step.done();
    return checked;
  });
  report.checks = results.map((r) => ({ name: r.name, passed: r.passed, count: r.count, offending: r.offending }));
  const failure = checkFailure(results);
  if (failure) throw failure;
}

/** `etl extract`: sources -> validated staging CSV parts (run folder or S3.STAGING) and a report. */
export function extract(options: RunOptions): Promise<RunReport> {
  return inRun('extract', options, async (context) => {
    const { config, report } = context;
    // The ledger says what is new, and which loaded objects are gone (all a full refresh reads it for).
    // Not recorded in etl_runs: it only reads the ledger, and works on after the warehouse is closed.
    const { selections, known } = await withWarehouse(
      context,
      async (w) => {
        const selections = await selectionsOf(context, w);
        return { selections, known: { songs: await knownObjects(w, 'songs', selections.songs), events: await knownObjects(w, 'events', selections.events) } };
      },
      // Apart: the embedded engine's memory is given back before the extraction starts.
      { record: false, apart: true },
    );
    const area = runStagingArea(context);
    report.stagingArea = area.url;
    for (const kind of KINDS) {
      await timed(report, `extract ${kind}`, async () => {
        await area.write(STAGING[kind], stagingCsv(context, kind, selections[kind], known[kind]));
        report.rowsAdded[STAGING[kind].table] = report.sources[kind]!.loaded;
      });
    }
    await writeFile(latestExtractFile(config), report.runId + '\n');
  });
}

/** `etl run --dry-run`: extract and validate everything selected, keep nothing but the report and rejects. */
export async function dryRun(options: RunOptions): Promise<RunReport> {
  // What a real run would read: the ledger too (read only: no lock, no table created). Read before the run
  // folder exists, so a warehouse that cannot be opened leaves no run behind.
  const selections = options.fullRefresh ? undefined : await readOnlySelections(options);
  return inRun('run', { ...options, dryRun: true }, async (context) => {
    const chosen = selections ?? (await selectionsOf(context, undefined));
    for (const kind of KINDS) {
      const selection = chosen[kind];
      await timed(context.report, `extract ${kind}`, async () => {
        for await (const chunk of stagingCsv(context, kind, selection)) void chunk;
      });
    }
    // And the error budget: a real run would stop here, before the transform.
    const over = overBudget(context, context.report);
    if (over) throw new EtlError(`${over}: a real run would stop before the transform; see ${context.report.rejectsFile}`);
  });
}

/**
 * The selections of a real run, the ledger read without the run lock; a warehouse without tables has none.
 * Opened apart: the embedded engine's memory is given back before the dry run reads the sources.
 */
async function readOnlySelections(options: RunOptions): Promise<Record<RecordKind, Selection>> {
  const { config } = options;
  const context = { options };
  const warehouse = await (options.openWarehouse ?? openWarehouse)(config, (m) => options.progress.log(m), { apart: true });
  try {
    return await selectionsOf(context, warehouse).catch((error: unknown) => {
      if (isMissingTable(error)) return selectionsOf(context, undefined);
      throw error;
    });
  } finally {
    await warehouse.close();
  }
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
    await withWarehouse(
      context,
      async (warehouse) => {
        const staged = await countTables(warehouse, STAGING_TABLES);
        if (Object.values(staged).every((n) => n === 0)) {
          throw new EtlError(`Nothing is staged on ${warehouse.description}: run \`etl extract\` and \`etl stage\` first, or \`etl run\`, which does all three`);
        }
        await transformAndCheck(context, warehouse);
      },
      { stages: false },
    );
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
        const known = await knownObjects(warehouse, kind, selection);
        const load =
          config.etl.loadMode === 'json'
            ? () => copyRawJson(context, warehouse, kind)
            : () => warehouse.loadStream(table, stagingCsv(context, kind, selection, known), stagingArea);
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

/** A run's report, by id or the latest (the newest run that has one: not a run still working). */
export async function readReport(config: Config, runId?: string): Promise<RunReport> {
  const dir = runsDir(config);
  const newestFirst = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d{8}T/.test(n)).sort().reverse();
  const id = runId ?? newestFirst.find((n) => existsSync(join(dir, n, 'report.json')));
  if (!id) throw new EtlError(`No runs in ${runsDir(config)} yet`);
  const path = join(runsDir(config), id, 'report.json');
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RunReport;
  } catch {
    throw new EtlError(`No report for run ${id} (${path})`);
  }
}

/** A report and where it was read: the run folder's report.json, or the warehouse's etl_runs row. */
export interface FoundReport {
  readonly report: RunReport;
  readonly from: string;
  /** Records rejected, from etl_runs (a report.json counts them per source). */
  readonly rejected?: number;
}

/**
 * `etl report [RUN_ID]`: the run's report.json when its folder is here, else (a run of another machine or
 * container, or a folder removed since) what etl_runs recorded of it.
 */
export async function findReport(config: Config, runId?: string, open: RunOptions['openWarehouse'] = openWarehouse): Promise<FoundReport> {
  if (runId !== undefined && !/^[\w.-]+$/.test(runId)) throw new EtlError(`"${runId}" is not a run id (as printed by a run, e.g. 20181101T000000000Z-ab12)`);
  if (runId === undefined || existsSync(join(runsDir(config), runId, 'report.json'))) {
    const report = await readReport(config, runId);
    return { report, from: join(runsDir(config), report.runId, 'report.json') };
  }
  const warehouse = await open(config);
  try {
    const record = await findRun(warehouse, runId);
    if (!record) throw new EtlError(`No report for run ${runId}: no folder in ${runsDir(config)}, and etl_runs on ${warehouse.description} has no such run`);
    return { report: reportOf(record, warehouse.engine), from: `etl_runs on ${warehouse.description}`, ...(record.rejected !== undefined ? { rejected: record.rejected } : {}) };
  } finally {
    await warehouse.close();
  }
}

/**
 * Removes the run folders beyond the newest `keep` (default ETL.KEEP_RUNS) with their local staging parts:
 * never the `current` run's, one still in progress, or the latest extract's (what `etl stage` loads next).
 */
export async function cleanRuns(config: Config, options: { keep?: number; dryRun?: boolean; current?: string } = {}): Promise<Pruned & { dir: string }> {
  const dir = runsDir(config);
  const latestExtract = (await readFile(latestExtractFile(config), 'utf8').catch(() => '')).trim();
  const protect = [options.current, latestExtract].filter((id): id is string => Boolean(id));
  return { dir, ...(await pruneRuns(dir, options.keep ?? config.etl.keepRuns, { protect, dryRun: options.dryRun })) };
}
