/**
 * A PGlite warehouse opened in a thread of its own, for a command that only reads it before working on
 * without it (`etl extract`, a dry run: the load ledger). An open PGlite's WebAssembly heap (its buffers,
 * ~100-300 MB) is never given back while its instance lives, and a closed one is not collected promptly:
 * in this process it would stay resident through the extraction that follows. In a thread, it goes when
 * the thread ends, at `close`.
 *
 * Statements and their results cross the thread by structured clone; COPY, transactions and interrupt
 * statements are not offered (none of these commands needs them).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EtlError } from '../../errors.js';
import type { CsvTable } from '../../transform/schema.js';
import type { QueryResult, Warehouse } from '../warehouse.js';
import { releaseAtExit } from './directory-lock.js';
import { pgliteDialect } from './pglite-options.js';

export type ThreadRequest = { readonly id: number; readonly sql: string; readonly params: readonly unknown[] } | { readonly close: true };

interface ThreadError {
  readonly message: string;
  readonly code?: unknown;
  readonly etl: boolean;
}

export type ThreadReply =
  | { readonly notice: string }
  | { readonly ready: string; readonly lock?: { readonly path: string; readonly token: string } }
  | { readonly failed: ThreadError }
  | { readonly id: number; readonly result: QueryResult }
  | { readonly id: number; readonly error: ThreadError }
  | { readonly closed: true; readonly error?: ThreadError };

/** The thread's script: compiled JS in dist/; under the test runner, the TypeScript source through tsx. */
function threadScript(): URL {
  const js = new URL('./pglite-thread-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  // Node 20 ignores `--import` in a worker's execArgv: a tiny module registers tsx in the thread, then loads the source.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const source = new URL('./pglite-thread-worker.ts', import.meta.url).href;
  return new URL(`data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(source)});`)}`);
}

/** The error a statement or the opening failed with, as this side throws it (SQLSTATE kept). */
function rebuilt(error: ThreadError): Error {
  const rebuilt = error.etl ? new EtlError(error.message) : new Error(error.message);
  if (error.code !== undefined) Object.assign(rebuilt, { code: error.code });
  return rebuilt;
}

export class PgliteThreadWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = pgliteDialect;
  readonly transport = 'in-process, in a thread of its own';

  private readonly pending = new Map<number, { resolve: (r: QueryResult) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closing?: Promise<void>;
  /** What the closing in the thread failed with, if it did. */
  private closeError?: ThreadError;
  /** Resolves when the thread has ended. */
  private readonly ended: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    readonly description: string,
  ) {
    worker.on('message', (reply: ThreadReply) => {
      if ('id' in reply) {
        const waiter = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if ('error' in reply) waiter?.reject(rebuilt(reply.error));
        else waiter?.resolve(reply.result);
      } else if ('closed' in reply) {
        this.closeError = reply.error;
      }
    });
    const fail = (why: string) => {
      for (const waiter of this.pending.values()) waiter.reject(new EtlError(`${description}: ${why}`));
      this.pending.clear();
    };
    worker.on('error', (error) => fail(`its thread failed: ${error.message}`));
    this.ended = new Promise((resolve) => worker.once('exit', () => (fail('its thread ended'), resolve())));
  }

  /**
   * Opens `dataDir` (locked, as PgliteWarehouse.open does) in a new thread; `notice` hears what the opening
   * says. A directory not created yet (missing, or empty) is left so: a reading command must not pay for
   * creating a warehouse (PGlite's initdb peaks at ~700 MB); it reads as one whose tables are empty.
   */
  static async open(dataDir: string, notice: (message: string) => void = () => {}): Promise<Warehouse> {
    const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : undefined));
    if (entries?.length === 0) return new NotCreatedWarehouse(`PGlite at ${dataDir}`);
    return PgliteThreadWarehouse.inThread(dataDir, notice);
  }

  private static inThread(dataDir: string, notice: (message: string) => void): Promise<PgliteThreadWarehouse> {
    const worker = new Worker(threadScript(), { workerData: { dataDir } });
    return new Promise((resolve, reject) => {
      const opening = (reply: ThreadReply) => {
        if ('notice' in reply) return notice(reply.notice);
        worker.off('message', opening);
        worker.off('error', broken);
        worker.off('exit', broken);
        if ('ready' in reply) {
          const cancel = reply.lock ? releaseAtExit(reply.lock.path, reply.lock.token) : () => {};
          worker.once('exit', cancel);
          resolve(new PgliteThreadWarehouse(worker, reply.ready));
        }
        else if ('failed' in reply) reject(rebuilt(reply.failed));
      };
      const broken = (why: Error | number) =>
        reject(new EtlError(`Cannot open the embedded warehouse at ${dataDir} (WAREHOUSE.PGLITE_DIR): ${typeof why === 'number' ? `its thread ended (exit code ${why})` : why.message}`));
      worker.on('message', opening);
      worker.on('error', broken);
      worker.on('exit', broken);
    });
  }

  /** The directory is locked from `open` to `close` (in the thread): that is the run lock. */
  async lockRuns(): Promise<void> {}

  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    if (this.closing) return Promise.reject(new EtlError(`${this.description} is closed`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql, params: [...params] } satisfies ThreadRequest);
    });
  }

  private refused(what: string): Promise<never> {
    return Promise.reject(new EtlError(`${this.description}, opened apart for a command that reads it, takes statements but no ${what}`));
  }

  loadStream(_table: CsvTable): Promise<number> {
    return this.refused('COPY');
  }

  loadArea(_table: CsvTable): Promise<number> {
    return this.refused('COPY');
  }

  transaction<T>(): Promise<T> {
    return this.refused('transaction');
  }

  /** Closes the warehouse in its thread (after its statements), and waits for the thread to end. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.worker.postMessage({ close: true } satisfies ThreadRequest);
      await this.ended;
      if (this.closeError) throw rebuilt(this.closeError);
    })();
    return this.closing;
  }
}

/**
 * An embedded warehouse that does not exist yet, as a reading command sees it: every statement finds nothing
 * (its ledger is empty, its tables too) and creates nothing; COPY and transactions are refused.
 */
class NotCreatedWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  readonly dialect = pgliteDialect;
  readonly transport = 'none: not created yet';

  constructor(readonly description: string) {}

  async lockRuns(): Promise<void> {}

  async query(): Promise<QueryResult> {
    return { fields: [], rows: [] };
  }

  private refused(what: string): Promise<never> {
    return Promise.reject(new EtlError(`${this.description} does not exist yet: a command that only reads it takes no ${what}`));
  }

  loadStream(): Promise<number> {
    return this.refused('COPY');
  }

  loadArea(): Promise<number> {
    return this.refused('COPY');
  }

  transaction<T>(): Promise<T> {
    return this.refused('transaction');
  }

  async close(): Promise<void> {}
}
