import type { RecordKind } from '../transform/schema.js';

/** What happened to one source object. */
export interface ObjectReport {
  key: string;
  size: number;
  version: string;
  /** Records found: loaded + rejected. */
  records: number;
  loaded: number;
  rejected: number;
  /** Set when the object could not be read to its end (e.g. truncated gzip): records before it still load. */
  error?: string;
  /** The object held no record at all (zero bytes or only blank lines). */
  empty?: boolean;
}

export interface SourceReport {
  source: string;
  objects: number;
  bytes: number;
  records: number;
  loaded: number;
  rejected: number;
  /** Objects listed but not read: already loaded and unchanged, or outside the --since/--until range. */
  skipped: { unchanged: number; outOfRange: number };
  /** Rejections by kind of reason. */
  reasons: Record<string, number>;
  objectReports: ObjectReport[];
  /**
   * Objects the load ledger lists that the listing no longer showed (within --since/--until); absent where
   * the ledger was not read. `pruned`: the batch removes their rows (--prune, --full-refresh); `keys` then
   * lists them.
   */
  gone?: { objects: number; pruned: boolean; keys: string[] };
}

export interface StepReport {
  name: string;
  seconds: number;
}

/** The validation report every run writes (`<run folder>/report.json`), shown again by `etl report`. */
export interface RunReport {
  runId: string;
  command: string;
  engine: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt?: string;
  /** interrupted: stopped by SIGINT or SIGTERM (`error` names the signal). */
  status: 'running' | 'ok' | 'failed' | 'interrupted';
  error?: string;
  steps: StepReport[];
  sources: Partial<Record<RecordKind, SourceReport>>;
  /** Rows each table gained in this run (staging: rows loaded). */
  rowsAdded: Record<string, number>;
  /** Row counts after the run. */
  counts: Record<string, number>;
  rejectsFile?: string;
  /** Data quality checks after the transform. */
  checks?: { name: string; passed: boolean; count: number; offending: string[] }[];
  /** `etl extract`: where the staging CSV went (a folder or an s3:// prefix). */
  stagingArea?: string;
}

export const emptySourceReport = (source: string): SourceReport => ({
  source,
  objects: 0,
  bytes: 0,
  records: 0,
  loaded: 0,
  rejected: 0,
  skipped: { unchanged: 0, outOfRange: 0 },
  reasons: {},
  objectReports: [],
});

export function addObject(report: SourceReport, object: ObjectReport): void {
  report.objects += 1;
  report.bytes += object.size;
  report.records += object.records;
  report.loaded += object.loaded;
  report.rejected += object.rejected;
  report.objectReports.push(object);
}

/** Runs a step and records its duration. */
export async function timed<T>(report: RunReport, name: string, step: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await step();
  } finally {
    report.steps.push({ name, seconds: Math.round(performance.now() - start) / 1000 });
  }
}

/** Records the run rejected, over all its sources. */
export const rejectedIn = (report: RunReport): number => Object.values(report.sources).reduce((n, s) => n + (s?.rejected ?? 0), 0);
