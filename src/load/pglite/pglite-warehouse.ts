import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { PGlite } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { EtlError, describeError } from '../../errors.js';
import type { StagingArea } from '../../pipeline/staging-area.js';
import type { CsvTable } from '../../transform/schema.js';
import { copyCsv, postgresDialect } from '../queries.js';
import { inSessionTransaction, type Session } from '../session.js';
import { TYPE_PARSERS, type QueryResult, type Warehouse } from '../warehouse.js';
import { PgliteSession } from './pglite-session.js';
import { processAlive as alive } from '../../process-alive.js';

export { PGLITE_COPY_CHUNK_BYTES } from './pglite-session.js';

/** A lock not refreshed for this long belongs to a process that died: the next command takes it over. */
const LOCK_STALE_MS = 10_000;

/** Who holds a data directory's lock: written beside the lock while it is held. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

const ownerFile = (dataDir: string) => `${dataDir}.owner.json`;
const lockOptions = (dataDir: string) => ({ lockfilePath: `${dataDir}.lock`, stale: LOCK_STALE_MS, update: LOCK_STALE_MS / 4, realpath: false });

/** Locks `dataDir` for this process; resolves to the function that unlocks it. */
async function lockDirectory(dataDir: string, notice: (message: string) => void): Promise<() => Promise<void>> {
  const take = async () => {
    const release = await lockfile.lock(dataDir, lockOptions(dataDir));
    const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    await writeFile(ownerFile(dataDir), JSON.stringify(owner) + '\n').catch(() => {});
    return async () => {
      await rm(ownerFile(dataDir), { force: true });
      await release();
    };
  };
  try {
    return await take();
  } catch (error) {
    if ((error as { code?: string }).code !== 'ELOCKED') throw new EtlError(`Cannot lock the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${describeError(error)}`);
  }
  const owner = await readFile(ownerFile(dataDir), 'utf8').then((text) => JSON.parse(text) as LockOwner, () => undefined);
  if (owner && owner.host === hostname() && !alive(owner.pid)) {
    // Killed (kill -9, a crash): its lock would go stale within seconds anyway; nothing can still be writing.
    await rm(`${dataDir}.lock`, { recursive: true, force: true });
    notice(`Took over the lock of the embedded warehouse at ${dataDir}: process ${owner.pid}, which held it since ${owner.since}, has exited`);
    return take();
  }
  const who = owner ? ` (process ${owner.pid} on ${owner.host}, since ${owner.since})` : '';
  throw new EtlError(
    `The embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR) is in use by another etl command${who}: wait for it to finish, then run this again; a lock whose holder stops refreshing it is taken over after ${LOCK_STALE_MS / 1000} s`,
  );
}

/** The embedded warehouse: PostgreSQL compiled to WebAssembly, in this process, with its data on disk. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = postgresDialect;
  readonly transport = 'in-process';

  constructor(
    private readonly session: Session,
    readonly description: string,
    private readonly unlock: () => Promise<void> = async () => {},
  ) {}

  /** Set by `queryOnInterrupt`: from then on the pipeline's statements are refused. */
  private stopped = false;
  /** The statements of `queryOnInterrupt`, in order; `close` waits for them. */
  private lastWords: Promise<unknown> = Promise.resolve();
  /** The session as the pipeline uses it: refused once interrupted. */
  private readonly live: Session = {
    query: (sql, params) => (this.stopped ? Promise.reject(this.stoppedError()) : this.session.query(sql, params)),
    copyIn: (sql, chunks) => (this.stopped ? Promise.reject(this.stoppedError()) : this.session.copyIn(sql, chunks)),
    close: () => this.session.close(),
  };

  private stoppedError(): EtlError {
    return new EtlError(`${this.description} takes no more statements: the command was interrupted`);
  }

  /**
   * Opens the data directory, locked for this process: two processes writing one PGlite directory would
   * corrupt it. The lock file's mtime is refreshed while open, so a killed process's lock goes stale; and the
   * lock's owner (process, host, since) is written beside it, so a lock whose process has exited on this
   * host is taken over at once, with `notice` saying so.
   */
  static async open(dataDir: string, notice: (message: string) => void = () => {}): Promise<PgliteWarehouse> {
    await mkdir(dataDir, { recursive: true });
    const unlock = await lockDirectory(dataDir, notice);
    try {
      const db = await PGlite.create(dataDir, { parsers: TYPE_PARSERS });
      return new PgliteWarehouse(new PgliteSession(db), `PGlite at ${dataDir}`, unlock);
    } catch (error) {
      await unlock();
      throw new EtlError(`Cannot open the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${describeError(error)}`);
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
      await this.session.close();
    } finally {
      await this.unlock();
    }
  }
}
