/**
 * The run history in the warehouse, like dlt's _dlt_loads: a row in `etl_runs` per command that worked on
 * the warehouse, started once the command holds the run lock and ended when it ends (ok, failed,
 * interrupted). Each write is one statement of its own, outside any transaction: a run in a container that
 * goes away leaves its record, which `etl runs` lists and `etl report RUN_ID` reads back.
 */
import { RUN_HISTORY_TEXT_BYTES, runHistory } from '../load/queries.js';
import { sqlTimestamp } from '../load/run-lease.js';
import type { Warehouse } from '../load/warehouse.js';
import { formatRows } from './format.js';
import { rejectedIn, type RunReport } from './report.js';

/** One run as etl_runs keeps it. */
export interface RunRecord {
  readonly runId: string;
  readonly command: string;
  readonly status: RunReport['status'];
  /** ISO 8601, UTC. */
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly durationSeconds?: number;
  /** Rows each table gained. */
  readonly rowsAdded: Record<string, number>;
  /** Records rejected (they are in load_errors under the run's id). */
  readonly rejected?: number;
  readonly error?: string;
}

/** `text` cut to what a VARCHAR of `bytes` bytes holds (UTF-8, whole characters), NUL (refused by every engine) replaced. */
export function fitText(text: string, bytes = RUN_HISTORY_TEXT_BYTES): string {
  const clean = text.replaceAll('\u0000', '\ufffd');
  if (Buffer.byteLength(clean) <= bytes) return clean;
  let out = '';
  let used = 0;
  const room = bytes - 3; // for the '...'
  for (const char of clean) {
    const size = Buffer.byteLength(char);
    if (used + size > room) break;
    out += char;
    used += size;
  }
  return `${out}...`;
}


/** Creates etl_runs where it is missing and records the run as running. */
export async function recordStart(warehouse: Warehouse, report: RunReport): Promise<void> {
  await warehouse.query(runHistory.create(warehouse.dialect));
  await warehouse.query(runHistory.start, [report.runId, report.command, sqlTimestamp(new Date(report.startedAt))]);
}

/** The values of `runHistory.finish` for a settled report. */
function endValues(report: RunReport): unknown[] {
  const rowsAdded = JSON.stringify(report.rowsAdded);
  return [
    report.status,
    sqlTimestamp(report.finishedAt ? new Date(report.finishedAt) : new Date()),
    // A cut JSON text would not parse: too long (it never is: a few tables), none is kept.
    Buffer.byteLength(rowsAdded) <= RUN_HISTORY_TEXT_BYTES ? rowsAdded : null,
    rejectedIn(report),
    report.error === undefined ? null : fitText(report.error),
    report.runId,
  ];
}

/** Records how the run ended, on the pipeline's connection (no transaction is open by then). */
export async function recordEnd(warehouse: Warehouse, report: RunReport): Promise<void> {
  await warehouse.query(runHistory.finish, endValues(report));
}

/** Records an interruption, outside whatever the pipeline's connection is doing where the engine can. */
export async function recordInterruption(warehouse: Warehouse, report: RunReport): Promise<void> {
  if (warehouse.queryOnInterrupt) await warehouse.queryOnInterrupt(runHistory.finish, endValues(report));
  else await warehouse.query(runHistory.finish, endValues(report));
}

/** A TIMESTAMP as the engines return it ('2018-11-01 21:01:46.796', text) as ISO 8601 UTC. */
function isoOf(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  const text = String(value).replace(' ', 'T').replace(/(\.\d{3})\d*/, '$1');
  const date = new Date(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

function parseRowsAdded(value: unknown): Record<string, number> {
  if (typeof value !== 'string' || value === '') return {};
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

function recordOf(row: Record<string, unknown>): RunRecord {
  const startedAt = isoOf(row.started_at) ?? '';
  const finishedAt = isoOf(row.finished_at);
  const seconds = finishedAt ? (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 : undefined;
  return {
    runId: String(row.run_id),
    command: String(row.command),
    status: String(row.status) as RunReport['status'],
    startedAt,
    ...(finishedAt ? { finishedAt } : {}),
    ...(seconds !== undefined && Number.isFinite(seconds) ? { durationSeconds: seconds } : {}),
    rowsAdded: parseRowsAdded(row.rows_added),
    ...(row.rejected === null || row.rejected === undefined ? {} : { rejected: Number(row.rejected) }),
    ...(row.error_message === null || row.error_message === undefined ? {} : { error: String(row.error_message) }),
  };
}

/** Whether the warehouse has a run history at all. */
async function hasHistory(warehouse: Warehouse): Promise<boolean> {
  return (await warehouse.query(runHistory.exists)).rows.length > 0;
}

/** The newest `limit` runs, newest first; undefined when the warehouse has no etl_runs yet. */
export async function listRuns(warehouse: Warehouse, limit: number): Promise<RunRecord[] | undefined> {
  if (!(await hasHistory(warehouse))) return undefined;
  return (await warehouse.query(runHistory.newest(limit))).rows.map(recordOf);
}

/** One run's record, if the warehouse has it. */
export async function findRun(warehouse: Warehouse, runId: string): Promise<RunRecord | undefined> {
  if (!(await hasHistory(warehouse))) return undefined;
  const row = (await warehouse.query(runHistory.one, [runId])).rows[0];
  return row ? recordOf(row) : undefined;
}

/** A run's record as a report (what etl_runs keeps: no sources, steps or checks). */
export function reportOf(record: RunRecord, engine: string): RunReport {
  return {
    runId: record.runId,
    command: record.command,
    engine,
    dryRun: false,
    startedAt: record.startedAt,
    ...(record.finishedAt ? { finishedAt: record.finishedAt } : {}),
    status: record.status,
    ...(record.error !== undefined ? { error: record.error } : {}),
    steps: [],
    sources: {},
    rowsAdded: record.rowsAdded,
    counts: {},
  };
}

const n = (value: number) => value.toLocaleString('en-US');
const shownTime = (iso: string) => iso.slice(0, 19).replace('T', ' ');
const ERROR_SHOWN = 100;

/** The runs as a text table, newest first. */
export function formatRuns(records: readonly RunRecord[]): string {
  const rows = records.map((r) => ({
    run_id: r.runId,
    command: r.command,
    status: r.status,
    'started (UTC)': shownTime(r.startedAt),
    duration: r.durationSeconds === undefined ? '' : `${r.durationSeconds.toFixed(1)} s`,
    'rows added': Object.entries(r.rowsAdded)
      .filter(([, count]) => count !== 0)
      .map(([table, count]) => `${table} ${n(count)}`)
      .join(', '),
    rejected: r.rejected ?? null,
    error: r.error === undefined ? '' : r.error.length > ERROR_SHOWN ? `${r.error.slice(0, ERROR_SHOWN - 3)}...` : r.error,
  }));
  return formatRows(['run_id', 'command', 'status', 'started (UTC)', 'duration', 'rows added', 'rejected', 'error'], rows);
}
