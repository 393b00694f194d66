/**
 * Tools of the kill-and-race harness (test/pipeline/kill-and-race.test.ts): the built CLI as a child process
 * under the test's control (its stderr lines watched; stopped, continued, killed), whether such a process holds
 * the warehouse, warehouses cloned from a loaded one, and a warehouse's content as a CLI command reads it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, readdir, readlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Config } from '../../src/config/config.js';
import { openWarehouse } from '../../src/load/connect.js';
import { cliEnv, ETL, etl, type Outcome } from './cli.js';
import { createPgDatabase, dropPgDatabase, etlConfig, freshPgliteDir, pgClient, tempDir, type Row } from './warehouses.js';

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Polls `condition` every 50 ms until it holds; fails after `ms` saying what it waited for. */
export async function waitFor(what: string, condition: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`gave up waiting (${ms / 1000} s) for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------
// CLI processes under control

export interface Child {
  readonly pid: number;
  /** The stderr lines so far. */
  readonly lines: readonly string[];
  /** How the process ended. */
  readonly done: Promise<Outcome>;
  /** Resolves with the first stderr line (so far or to come) that matches; rejects if the process ends first. */
  line(match: (line: string) => boolean): Promise<string>;
  signal(signal: NodeJS.Signals): void;
  /** Whether the process still runs (stopped counts as running). */
  readonly running: boolean;
}

/**
 * CLI processes a test starts and controls; `stopAll` ends those still running (a failed test must not leave
 * one stopped). One per suite, so suites running concurrently stop only their own.
 */
export class Processes {
  private readonly running = new Set<ChildProcess>();

  /**
   * Starts `etl ...args` on `config` (stderr a pipe: progress as lines); `onLine` sees every stderr line as it
   * comes, in the same tick, so a signal it sends lands as close to that line as the machine allows.
   */
  start(config: Config, args: readonly string[], onLine?: (line: string, child: Child) => void): Child {
    const spawned = spawn(process.execPath, [ETL, ...args], { cwd: config.etl.workDir, env: cliEnv(config), stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(spawned);
    const lines: string[] = [];
    const watchers: { match: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
    let ended = false;
    const out = { stdout: '', stderr: '' };
    const done = new Promise<Outcome>((resolveDone, rejectDone) => {
      spawned.on('error', rejectDone);
      spawned.on('close', (code, signal) => {
        ended = true;
        this.running.delete(spawned);
        for (const w of watchers.splice(0)) w.reject(new Error(`etl ${args.join(' ')} ended (${signal ?? code}) before the line awaited; its stderr:\n${out.stderr}`));
        resolveDone({ code, signal, ...out });
      });
    });
    const child: Child = {
      pid: spawned.pid!,
      lines,
      done,
      line(match) {
        const seen = lines.find(match);
        if (seen !== undefined) return Promise.resolve(seen);
        if (ended) return Promise.reject(new Error(`etl ${args.join(' ')} ended before the line awaited; its stderr:\n${out.stderr}`));
        return new Promise((resolveLine, rejectLine) => watchers.push({ match, resolve: resolveLine, reject: rejectLine }));
      },
      signal(signal) {
        if (!ended) spawned.kill(signal);
      },
      get running() {
        return !ended;
      },
    };
    let pending = '';
    spawned.stdout!.setEncoding('utf8').on('data', (text: string) => (out.stdout += text));
    spawned.stderr!.setEncoding('utf8').on('data', (text: string) => {
      out.stderr += text;
      pending += text;
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        lines.push(line);
        onLine?.(line, child);
        for (const w of [...watchers]) {
          if (!w.match(line)) continue;
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    return child;
  }

  /** Continues and kills every process started here that still runs. */
  async stopAll(): Promise<void> {
    const ending = [...this.running].map((c) => new Promise((resolveEnd) => c.once('close', resolveEnd)));
    for (const c of this.running) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
    await Promise.all(ending);
  }
}

/** Whether a `--log-format json` line says the source `label` (song_data, log_data) has been read to its end. */
export const sourceDone = (line: string, label: string): boolean => {
  try {
    const entry = JSON.parse(line) as { event?: string; label?: string };
    return entry.event === 'source' && entry.label === label;
  } catch {
    return false;
  }
};

/** The last step begun or source finished among `--log-format json` lines: how far a killed run got. */
export function lastMilestone(lines: readonly string[]): string {
  for (const line of [...lines].reverse()) {
    try {
      const entry = JSON.parse(line) as { event?: string; message?: string; name?: string };
      if (entry.event === 'step-start') return `step ${entry.name}`;
      if (entry.event === 'source') return `source ${entry.message}`;
    } catch {
      // A text line: not a milestone.
    }
  }
  return 'no milestone';
}

// ---------------------------------------------------------------------------------------------------------
// Warehouses

/** One warehouse of a scenario: its config (sources, work folder, PGlite directory or database). */
export interface RaceWarehouse {
  readonly engine: 'pglite' | 'postgres';
  readonly config: Config;
  readonly pgliteDir?: string;
  readonly database?: string;
}

export interface Sources {
  readonly songData: string;
  readonly logData: string;
}

const databases: string[] = [];

async function warehouseAt(engine: RaceWarehouse['engine'], sources: Sources, at: { pgliteDir?: string; database?: string }): Promise<RaceWarehouse> {
  const workDir = await tempDir(`sparkify-race-${engine}-`);
  return { engine, ...at, config: etlConfig({ ...sources, workDir, engine, ...at }) };
}

/** A new, empty warehouse: a fresh PGlite directory, or a new database on the test server (prefix `prefix`). */
export async function freshWarehouse(engine: RaceWarehouse['engine'], sources: Sources, prefix: string): Promise<RaceWarehouse> {
  if (engine === 'pglite') return warehouseAt(engine, sources, { pgliteDir: await freshPgliteDir() });
  const database = await createPgDatabase(prefix);
  databases.push(database);
  return warehouseAt(engine, sources, { database });
}

/**
 * A copy of `from` (no process may have it open): its PGlite directory copied, or a database made from it as
 * a template. Cheaper than loading a fresh one, and every scenario starts from the same state.
 */
export async function cloneWarehouse(from: RaceWarehouse, sources: Sources): Promise<RaceWarehouse> {
  if (from.pgliteDir) {
    const pgliteDir = join(await tempDir('sparkify-race-pglite-'), 'pglite');
    await cp(from.pgliteDir, pgliteDir, { recursive: true });
    return warehouseAt(from.engine, sources, { pgliteDir });
  }
  const database = `${from.database!.replace(/_[0-9a-f]{10}$/, '')}_${randomBytes(5).toString('hex')}`;
  const client = await pgClient();
  try {
    await client.query(`CREATE DATABASE ${database} TEMPLATE ${from.database!}`);
  } finally {
    await client.end();
  }
  databases.push(database);
  return warehouseAt(from.engine, sources, { database });
}

/** Drops the databases made so far. */
export async function dropDatabases(): Promise<void> {
  for (const database of databases.splice(0)) await dropPgDatabase(database);
}

/** Runs `work` with a client on the warehouse's database (postgres only). */
export async function onDatabase<T>(warehouse: RaceWarehouse, work: (client: Awaited<ReturnType<typeof pgClient>>) => Promise<T>): Promise<T> {
  const client = await pgClient(warehouse.database!);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The CLI's server processes on the warehouse's database (postgres), waiting for a lock (`waiting`) or all. */
export const etlBackends = (warehouse: RaceWarehouse, waiting = false): Promise<number> =>
  onDatabase(warehouse, async (client) => {
    const wait = waiting ? ` AND wait_event_type = 'Lock'` : '';
    const { rows } = await client.query<{ n: string }>(
      `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sparkify-etl'${wait}`,
    );
    return Number(rows[0]!.n);
  });

/**
 * Whether process `pid` holds the warehouse. PostgreSQL: the run lock's lease row names it (holder
 * host:pid:tag). PGlite: it has files of the data directory open, so it is past the directory's lock (Linux:
 * its /proc/<pid>/fd).
 */
export async function holdsWarehouse(warehouse: RaceWarehouse, pid: number): Promise<boolean> {
  if (warehouse.pgliteDir) {
    const dir = resolve(warehouse.pgliteDir) + sep;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith(dir)) return true;
    }
    return false;
  }
  return onDatabase(warehouse, async (client) => {
    const { rows } = await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM etl_run_lock WHERE holder LIKE $1`, [`%:${pid}:%`]).catch(() => ({ rows: [{ n: '0' }] }));
    return Number(rows[0]!.n) > 0;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Content

/** The tables compared, and the columns left out: surrogate keys and when or by which run a row was loaded. */
export const COMPARED = {
  songplays: ['songplay_id'],
  users: [],
  songs: [],
  artists: [],
  time: [],
  load_ledger: ['run_id', 'loaded_at'],
} as const satisfies Record<string, readonly string[]>;

/**
 * One statement reading every row of the compared tables as JSON, and counting the staging tables: it runs
 * only if all seven tables of `etl counts` and the ledger are there and readable (what `etl counts` proves).
 */
const CONTENT_SQL = `SELECT ${[
  ...Object.keys(COMPARED).map((t) => `(SELECT json_agg(r) FROM ${t} r) AS ${t}`),
  ...['staging_events', 'staging_songs'].map((t) => `(SELECT COUNT(*) FROM ${t}) AS ${t}`),
].join(', ')}`;

export type Content = Record<keyof typeof COMPARED, Row[]>;

const sortKey = (row: Row): string => JSON.stringify(Object.values(row));

/** The rows of the compared tables (sorted, columns of COMPARED left out) from CONTENT_SQL's one row. */
function contentOf(tables: Record<string, unknown>): Content {
  const result = {} as Content;
  for (const [table, excluded] of Object.entries(COMPARED) as [keyof Content, readonly string[]][]) {
    const rows = ((tables[table] ?? []) as Row[]).map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => !excluded.includes(column))));
    result[table] = rows.map((row) => ({ key: sortKey(row), row })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((r) => r.row);
  }
  return result;
}

/**
 * The compared tables' rows, read as a command reads them. PGlite: `etl query` in a process of its own (an
 * embedded engine here would hold up this process's event loop, and the kills other scenarios send), which
 * must open the directory without a word (no damage found, no lock taken over). PostgreSQL: `openWarehouse`.
 */
export async function content(warehouse: RaceWarehouse): Promise<Content> {
  if (warehouse.pgliteDir) {
    const read = await etl(warehouse.config, ['query', '--json', CONTENT_SQL]);
    if (read.code !== 0 || read.stderr !== '') throw new Error(`${warehouse.pgliteDir} did not open cleanly (exit ${read.signal ?? read.code}): ${read.stderr}`);
    return contentOf((JSON.parse(read.stdout) as Record<string, unknown>[])[0]!);
  }
  const opened = await openWarehouse(warehouse.config);
  try {
    return contentOf((await opened.query(CONTENT_SQL)).rows[0]!);
  } finally {
    await opened.close();
  }
}
