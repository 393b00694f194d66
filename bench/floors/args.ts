/**
 * What the floor scripts take (as JSON in the BENCH_FLOOR_ARGS environment variable) and print (one JSON line
 * on stdout). The scripts import nothing from the project: they are transpiled alone and run by plain `node`,
 * so no TypeScript loader weighs on their time or memory.
 */

export const FLOOR_ARGS_ENV = 'BENCH_FLOOR_ARGS';

/** readline and stream-json floors: every log file under `logDir`. */
export interface ParseFloorArgs {
  readonly logDir: string;
}

/** Songs floor: every song file under `songDir`. */
export interface SongsFloorArgs {
  readonly songDir: string;
  /** Files read at once. */
  readonly concurrency: number;
}

/** PGlite COPY floor: the staging CSV parts into a data directory with empty tables, started as the warehouse starts it. */
export interface PgliteCopyArgs {
  readonly dataDir: string;
  /** PGlite's start parameters (its memory settings), as the warehouse passes them. */
  readonly startParams: readonly string[];
  /** CREATE TABLE of staging_events. */
  readonly ddl: string;
  /** COPY ... FROM '/dev/blob' statement. */
  readonly copySql: string;
  readonly files: readonly string[];
  readonly chunkBytes: number;
}

/** The naive per-event INSERT baseline. */
export interface NaiveArgs {
  readonly logDir: string;
  readonly songDir: string;
  readonly connection: { host: string; port: number; user: string; password?: string; database: string };
  /** CREATE TABLE statements (staging_events and songs). */
  readonly ddl: readonly string[];
  /** Event JSON field -> staging_events column, in column order. */
  readonly eventColumns: readonly { json: string; column: string }[];
  /** One event in `sampleEvery` is inserted (the first, then every sampleEvery-th line). */
  readonly sampleEvery: number;
  /** Load the songs first (the original projects' lookup finds them); false: every lookup is on an empty table. */
  readonly loadSongs: boolean;
}

export interface FloorResult {
  /** Seconds of measured work, set-up (opening a database, creating tables) excluded. */
  readonly seconds: number;
  /** Events handled in that time. */
  readonly events: number;
  readonly [detail: string]: unknown;
}
