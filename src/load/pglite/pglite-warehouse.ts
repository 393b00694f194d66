import { mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, damagedRelations, flushTableStats, tablesToVacuum, vacuumTable, type TableName } from '../queries.js';
import { inSessionTransaction, type Session } from '../session.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';
import { lockDirectory } from './directory-lock.js';
import { makeOwnerOnly } from './owner-only.js';
import { pgliteDialect, pgliteMemoryOptions } from './pglite-options.js';
import { PgliteSession } from './pglite-session.js';

export { PGLITE_COPY_CHUNK_BYTES } from './pglite-session.js';

const capital = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
const subject = (dataDir: string) => `the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR)`;
const damaged = (dataDir: string, what: string) =>
  `The embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR) is damaged (${what}): restore a copy of the directory, or remove it and run \`etl run\` to load the sources again`;

/**
 * SQLSTATEs of a directory whose files are not what its catalog says: XX001 data_corrupted, XX002
 * index_corrupted, 58P01 undefined_file (a relation's file is missing).
 */
const DAMAGE_CODES = new Set(['XX001', 'XX002', '58P01']);

/** Creates the data directory (owner-only) unless it exists; resolves to its real path, which the lock is named after. */
async function prepareDirectory(dataDir: string): Promise<string> {
  await mkdir(dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { mode: 0o700 }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  if (!(await stat(dataDir)).isDirectory()) throw new Error('it is a file, not a directory');
  return realpath(dataDir);
}

/**
 * What is wrong with the directory before PGlite sees it: files but no PG_VERSION (PGlite would run initdb
 * over them, silently). Undefined when it is empty (new) or looks like a data directory.
 */
async function notADataDirectory(dataDir: string): Promise<string | undefined> {
  const names = await readdir(dataDir);
  if (names.length === 0 || names.includes('PG_VERSION')) return undefined;
  return `holds ${names.length === 1 ? 'a file' : `${names.length} files`} but no PG_VERSION: it is no PGlite data directory, or a damaged one: point WAREHOUSE.PGLITE_DIR at a new folder, or restore a copy of the directory`;
}

/** The embedded warehouse: PostgreSQL compiled to WebAssembly, in this process, with its data on disk. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = pgliteDialect;
  readonly transport = 'in-process';

  constructor(
    private readonly session: Session,
    readonly description: string,
    private readonly unlock: () => Promise<void> = async () => {},
    /**
     * Set when opened on a real directory: its damage is reported as such, and it is vacuumed on close. `lock`:
     * the lock file this holds, for a main thread to release at its exit (releaseAtExit) when this runs in a worker.
     */
    readonly directory: { readonly dataDir?: string; readonly lock?: { readonly path: string; readonly token: string } } = {},
  ) {}

  /** Set by `queryOnInterrupt`: from then on the pipeline's statements are refused. */
  private stopped = false;
  /** The statements of `queryOnInterrupt`, in order; `close` waits for them. */
  private lastWords: Promise<unknown> = Promise.resolve();
  /** The session as the pipeline uses it: refused once interrupted. */
  private readonly live: Session = {
    query: (sql, params) => (this.stopped ? Promise.reject(this.stoppedError()) : this.session.query(sql, params).catch((e: unknown) => this.failed(e))),
    copyIn: (sql, chunks) => (this.stopped ? Promise.reject(this.stoppedError()) : this.session.copyIn(sql, chunks).catch((e: unknown) => this.failed(e))),
    close: () => this.session.close(),
  };

  /** A statement's error, said as damage where it is (a data file missing or corrupt), else as it came. */
  private failed(error: unknown): never {
    const { dataDir } = this.directory;
    const code = (error as { code?: unknown }).code;
    if (dataDir !== undefined && typeof code === 'string' && DAMAGE_CODES.has(code)) throw new EtlError(damaged(dataDir, describeError(error)), { cause: error });
    throw error;
  }

  private stoppedError(): EtlError {
    return new EtlError(`${this.description} takes no more statements: the command was interrupted`);
  }

  /**
   * Opens the data directory, locked for this process for as long as it lives (see directory-lock.ts): two
   * processes writing one PGlite directory corrupt it. A lock whose holder has gone is taken over, with
   * `notice` saying so. The directory is made its owner's only (owner-only.ts), and a damaged one (catalog
   * entries that disagree, files missing, PGlite failing to start) is refused with one line saying what to do,
   * unless `readDamaged` (then `notice` says so).
   */
  static async open(dataDir: string, notice: (message: string) => void = () => {}, options: { readDamaged?: boolean } = {}): Promise<PgliteWarehouse> {
    const real = await prepareDirectory(dataDir).catch((error: unknown) => {
      throw new EtlError(`Cannot use ${subject(dataDir)}: ${describeError(error)}`);
    });
    const lock = await lockDirectory(real, { subject: subject(dataDir), notice });
    let db: PGlite | undefined;
    try {
      const fresh = (await readdir(real)).length === 0;
      const foreign = await notADataDirectory(real);
      if (foreign) throw new EtlError(`${capital(subject(dataDir))} ${foreign}`);
      db = await PGlite.create(real, { parsers: TYPE_PARSERS, ...pgliteMemoryOptions() }).catch((error: unknown) => {
        // Emscripten's advice on its own build ("Build with -sASSERTIONS ...") is none of the user's business.
        throw new EtlError(damaged(dataDir, `PGlite cannot start on it: ${describeError(error).replace(/\s*Build with -s\w+.*$/, '')}`));
      });
      // After PGlite has started: its initdb leaves a new directory's files 0666, and it writes a few at start.
      const loose = await makeOwnerOnly(real);
      if (loose > 0 && !fresh) notice(`Made ${subject(dataDir)} its owner's only: ${loose} of its files and folders were writable by other users`);
      const problems = await db.query<{ name: string; problem: string }>(damagedRelations).then(
        ({ rows }) => rows.map((r) => `${r.name}: ${r.problem}`),
        (error: unknown) => [`its catalog cannot be read: ${describeError(error)}`],
      );
      if (problems.length > 0) {
        const message = damaged(dataDir, problems.join('; '));
        if (!options.readDamaged) throw new EtlError(message);
        notice(`${message}; what it shows may be incomplete`);
      }
      return new PgliteWarehouse(new PgliteSession(db), `PGlite at ${dataDir}`, () => lock.release(), { dataDir, lock: { path: lock.path, token: lock.holder.token } });
    } catch (error) {
      await db?.close().catch(() => {});
      await lock.release();
      throw error instanceof EtlError ? error : new EtlError(`Cannot open ${subject(dataDir)}: ${describeError(error)}`);
    }
  }

  /** The directory is locked from `open` to `close`: that is the run lock. */
  async lockRuns(): Promise<void> {}

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    const { fields, rows } = await this.live.query(sql, params);
    return { fields, rows };
  }

  copyCsv(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.live.copyIn(copyCsv(table, "'/dev/blob'"), chunks);
  }

  loadStream(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<number> {
    return this.copyCsv(table, chunks);
  }

  loadArea(table: CsvTable, area: StagingArea): Promise<number> {
    return this.copyCsv(table, area.read(table));
  }

  transaction<T>(work: () => Promise<T>): Promise<T> {
    return inSessionTransaction(this.live, work);
  }

  /**
   * One connection only: the pipeline's statements are refused from now on, its open transaction (if any) is
   * rolled back (the exit would lose it anyway: the transform stays all or nothing), then `sql` runs and commits.
   */
  queryOnInterrupt(sql: string, params: readonly unknown[] = []): Promise<void> {
    const first = !this.stopped;
    this.stopped = true;
    const done = this.lastWords.then(async () => {
      if (first) await this.session.query('ROLLBACK').catch(() => {});
      await this.session.query(sql, params);
    });
    this.lastWords = done.catch(() => {});
    return done;
  }

  async close(): Promise<void> {
    try {
      await this.lastWords;
      if (!this.stopped && this.directory.dataDir !== undefined) await this.vacuum();
      await this.session.close();
    } finally {
      await this.unlock();
    }
  }

  /**
   * PGlite has no autovacuum: the tables this session left with many dead rows (a full refresh's MERGE updates
   * every row) get a plain VACUUM, so the next run reuses their space instead of growing the directory. Best
   * effort: a failure here changes nothing the command did.
   */
  private async vacuum(): Promise<void> {
    try {
      await this.session.query(flushTableStats);
      const { rows } = await this.session.query(tablesToVacuum);
      for (const row of rows) await this.session.query(vacuumTable(String(row.table_name) as TableName));
    } catch {
      // The directory stays as it is; the next session's VACUUM takes the same space back.
    }
  }
}
