import type { StagingArea } from '../pipeline/staging-area.js';
import type { Rejection } from '../transform/record-encoder.js';
import type { CsvTable, StagingTable } from '../transform/schema.js';
import type { Dialect } from './queries.js';
import type { EngineName } from '../config/settings.js';

/** One line of `etl preflight`: what was checked, whether it passed, what was found or what to fix. */
export interface PreflightCheck {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What `etl preflight` asks an engine that loads from S3 to validate: the COPYs a run would send. */
export interface LoadPlan {
  readonly loadMode: 'csv' | 'json';
  /** S3.LOG_DATA, S3.SONG_DATA, S3.LOG_JSONPATH. */
  readonly sources: { readonly events: string; readonly songs: string; readonly jsonPaths: string };
  readonly maxErrors: number;
  /** S3.STAGING, for the region check. */
  readonly staging: string;
  /**
   * A staging area holding one valid row per staging table (written for the check, removed by `remove`),
   * to COPY with NOLOAD as a run's staged parts are COPYed.
   */
  readonly probe: () => Promise<{ readonly area: StagingArea; remove(): Promise<void> }>;
  /** The region a bucket is in, where the store says. */
  readonly bucketRegion: (bucket: string) => Promise<string | undefined>;
}

/** How a command takes the run lock: who it is, how long its lease lasts unrenewed, where notices go. */
export interface RunLockOptions {
  readonly command: string;
  readonly ttlMs: number;
  readonly notice?: (message: string) => void;
}

export interface QueryResult {
  readonly fields: string[];
  /** Rows keyed by column name; integers and floats as numbers, timestamps and texts as strings. */
  readonly rows: Record<string, unknown>[];
}

/**
 * What the pipeline needs of a warehouse; one implementation per engine (pglite, postgres, redshift).
 * The pipeline never asks which engine it is talking to: what differs lives behind these methods.
 */
export interface Warehouse {
  readonly engine: EngineName;
  readonly dialect: Dialect;
  /** Where it is, for messages: never includes a password. */
  readonly description: string;
  /** How the connection travels, for `etl preflight`: in-process, TLS (certificate verified) or unencrypted. */
  readonly transport: string;
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  /**
   * Loads staging CSV (whole rows per chunk) into a staging table as extract produces it (`etl run`);
   * resolves to rows loaded. Engines that COPY from S3 (Redshift) first write the chunks to `area()`.
   */
  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>, area: () => StagingArea): Promise<number>;
  /**
   * ETL.LOAD_MODE = json, the original project's load: the warehouse reads the raw JSON under an S3 prefix
   * itself (Redshift only). Resolves to rows loaded and the lines it rejected.
   */
  copyJson?(table: StagingTable, from: string, jsonPaths: string | undefined, maxErrors: number): Promise<{ rows: number; rejections: Rejection[] }>;
  /** Loads what an extract wrote to a staging area (`etl stage`); resolves to rows loaded. */
  loadArea(table: CsvTable, area: StagingArea): Promise<number>;
  /**
   * Makes sure no other etl command works on this warehouse while this one does (held until `close`); fails
   * with a message saying so when one does.
   */
  lockRuns(options: RunLockOptions): Promise<void>;
  /** Throws when the run lock was lost meanwhile (this process stalled past its lease). */
  assertRunLock?(): void;
  /**
   * True for engines that load staging only from S3 (Redshift): S3.STAGING must then be an s3:// location,
   * checked before anything is read.
   */
  readonly stagesFromS3?: boolean;
  /** `etl preflight` of an engine that COPYs from S3: regions, authorization and each COPY with NOLOAD. */
  preflightLoads?(plan: LoadPlan): Promise<PreflightCheck[]>;
  /** Runs `work` in one transaction: all of it commits, or none of it. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * The process is being interrupted (SIGINT, SIGTERM): runs one statement committed on its own, whatever the
   * pipeline's connection is doing (a transform transaction, say), so that a record of the interruption
   * survives the exit. Server engines use a connection of their own; PGlite, which has one, first stops the
   * pipeline's statements and rolls back its open transaction (which the exit would lose anyway).
   */
  queryOnInterrupt?(sql: string, params?: readonly unknown[]): Promise<void>;
  close(): Promise<void>;
}

/** Parses result values the same way on every engine, so rows compare equal across engines. */
export const TYPE_PARSERS: Record<number, (value: string) => unknown> = {
  20: (v) => (Number.isSafeInteger(Number(v)) ? Number(v) : v), // int8
  1700: (v) => Number(v), // numeric (COUNT, EXTRACT)
  1114: (v) => v, // timestamp: keep PostgreSQL's text, no time-zone shift through Date
  1184: (v) => v, // timestamptz
  1082: (v) => v, // date
};
