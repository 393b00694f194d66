/**
 * Shared helpers for the tests that load real warehouses: temp folders, fresh PGlite data directories, a
 * fresh database on the PostgreSQL test server, a config for the pipeline, and table dumps as sorted rows.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { EngineName } from '../../src/config/settings.js';
import { ANALYTIC_TABLES, ALL_TABLES, type TableName } from '../../src/load/queries.js';
import type { Warehouse } from '../../src/load/warehouse.js';
import { makeOwnerOnly } from '../../src/load/pglite/owner-only.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = join(REPO_ROOT, 'fixtures');

// ---------------------------------------------------------------------------------------------------------
// Temp folders

const tempDirs: string[] = [];

/** A new empty folder under the system temp dir; `removeTempDirs` deletes every one made so far. */
export async function tempDir(prefix = 'sparkify-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/**
 * Copies a folder tree, creating every folder's entries in reverse lexicographic order: the file system's
 * creation (and typically listing) order then disagrees with key order, so a rule such as "the first object
 * key in lexicographic order wins" is only met by really sorting the keys.
 */
export async function copyTreeReversed(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const entries = (await readdir(from, { withFileTypes: true })).sort((a, b) => Buffer.compare(Buffer.from(b.name), Buffer.from(a.name)));
  for (const entry of entries) {
    if (entry.isDirectory()) await copyTreeReversed(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile()) await copyFile(join(from, entry.name), join(to, entry.name));
  }
}

/** Copies only the named files (paths relative to `from`) into `to`, keeping their relative paths. */
export async function copyFiles(from: string, to: string, files: readonly string[]): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(join(from, file), join(to, file));
  }
}

// ---------------------------------------------------------------------------------------------------------
// PGlite

const PGLITE_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }
).version;

let template: Promise<Blob> | undefined;

/**
 * A freshly initialized PGlite data directory as a tarball. initdb in WebAssembly takes seconds (tens of
 * seconds writing to disk on a busy machine), so it is done once and kept in the temp dir, per PGlite version.
 */
function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const file = join(tmpdir(), `sparkify-etl-test-pglite-${PGLITE_VERSION}.tar`);
    const cached = await readFile(file).catch(() => undefined);
    if (cached && cached.length > 0) return new Blob([cached]);
    const db = await PGlite.create();
    const tar = await db.dumpDataDir('none');
    await db.close();
    const part = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(part, Buffer.from(await tar.arrayBuffer()));
    await rename(part, file);
    return tar;
  })();
  return template;
}

/**
 * A new PGlite data directory, initialized and closed: what `WAREHOUSE.PGLITE_DIR` can point at. Owner-only,
 * as `etl` makes a directory it creates (else its first open would say it made it so).
 */
export async function freshPgliteDir(): Promise<string> {
  const dir = join(await tempDir('sparkify-pglite-'), 'pglite');
  const db = await PGlite.create(dir, { loadDataDir: await pgliteTemplate() });
  await db.close();
  await makeOwnerOnly(dir);
  return dir;
}

/** An in-memory PGlite for tests that only need an engine, not the warehouse. */
export async function scratchPglite(): Promise<PGlite> {
  return PGlite.create({ loadDataDir: await pgliteTemplate() });
}

/**
 * Keeps PGlite warehouses open between the pipeline's runs: opening a PGlite data directory costs a second
 * or two, and a test of several runs would spend most of its time there. Use as the body of a `vi.mock` of
 * src/load/connect.js; each directory is opened once (really, through the original `openWarehouse`), and its
 * `close` is deferred to `closeKeptOpen`. Other engines open and close as usual.
 */
const keptOpen = new Map<string, Promise<Warehouse>>();

export async function openKeptOpen(config: Config, open: (config: Config) => Promise<Warehouse>): Promise<Warehouse> {
  if (config.warehouse.engine !== 'pglite') return open(config);
  const dir = resolve(config.warehouse.pgliteDir);
  let opened = keptOpen.get(dir);
  if (!opened) {
    opened = open(config);
    keptOpen.set(dir, opened);
    opened.catch(() => keptOpen.delete(dir));
  }
  const inner = await opened;
  return {
    engine: inner.engine,
    dialect: inner.dialect,
    description: inner.description,
    transport: inner.transport,
    query: (sql, params) => inner.query(sql, params),
    loadStream: (table, chunks, area) => inner.loadStream(table, chunks, area),
    loadArea: (table, area) => inner.loadArea(table, area),
    lockRuns: (options) => inner.lockRuns(options),
    transaction: (work) => inner.transaction(work),
    close: async () => {},
  };
}

/** Really closes the warehouses kept open (all of them, or the one of `pgliteDir`). */
export async function closeKeptOpen(pgliteDir?: string): Promise<void> {
  const dirs = pgliteDir ? [resolve(pgliteDir)] : [...keptOpen.keys()];
  for (const dir of dirs) {
    const opened = keptOpen.get(dir);
    keptOpen.delete(dir);
    if (opened) await (await opened).close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL server

export const PG_SERVER = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
} as const;

/** A client on `database` of the test server; the caller ends it. */
export async function pgClient(database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ ...PG_SERVER, database, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Whether the PostgreSQL test server answers. */
export async function pgReachable(): Promise<boolean> {
  try {
    const client = await pgClient();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether to run the PostgreSQL tests: when the server answers, and always in CI (`CI` set), where an
 * unreachable server must fail the tests rather than skip them.
 */
export const runPgTests = async (): Promise<boolean> => Boolean(process.env.CI) || (await pgReachable());

export interface PgDatabaseOptions {
  /**
   * Make the database hostile to engine-dependent shortcuts: an ICU en-US default collation (where 'a' sorts
   * before 'Z', unlike byte order) and a session time zone far from UTC.
   */
  readonly hostile?: boolean;
}

/** Creates a new, uniquely named database on the test server; returns its name. */
export async function createPgDatabase(prefix: string, options: PgDatabaseOptions = {}): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = await pgClient();
  try {
    if (options.hostile) {
      const icu = await client.query(`SELECT 1 FROM pg_collation WHERE collprovider = 'i' AND collname = 'en-US-x-icu'`);
      const locale = icu.rowCount ? ` LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'` : '';
      await client.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'${locale}`);
      await client.query(`ALTER DATABASE ${name} SET timezone TO 'America/Los_Angeles'`);
    } else {
      await client.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
    }
  } finally {
    await client.end();
  }
  return name;
}

export async function dropPgDatabase(name: string): Promise<void> {
  const client = await pgClient();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pipeline config

export interface EtlSettings {
  readonly songData: string;
  readonly logData: string;
  readonly workDir: string;
  readonly engine: EngineName;
  /** PGlite data directory (engine pglite). */
  readonly pgliteDir?: string;
  /** Database on the test server (engine postgres). */
  readonly database?: string;
  readonly maxErrors?: number;
}

/** The pipeline's config, built the way the CLI builds it, from `SPARKIFY_*` variables only. */
export function etlConfig(settings: EtlSettings): Config {
  const env: NodeJS.ProcessEnv = {
    SPARKIFY_S3_SONG_DATA: settings.songData,
    SPARKIFY_S3_LOG_DATA: settings.logData,
    SPARKIFY_S3_CONCURRENCY: '4',
    // One parser thread: a thread's start-up (tsx compiling the worker under the test runner) dominates tiny loads.
    SPARKIFY_ETL_WORKERS: '1',
    SPARKIFY_ETL_WORK_DIR: settings.workDir,
    SPARKIFY_WAREHOUSE_ENGINE: settings.engine,
    SPARKIFY_WAREHOUSE_PGLITE_DIR: settings.pgliteDir ?? join(settings.workDir, 'pglite-unused'),
    SPARKIFY_CLUSTER_HOST: PG_SERVER.host,
    SPARKIFY_CLUSTER_DB_PORT: String(PG_SERVER.port),
    SPARKIFY_CLUSTER_DB_USER: PG_SERVER.user,
    SPARKIFY_CLUSTER_DB_NAME: settings.database ?? 'postgres',
    SPARKIFY_CLUSTER_SSL: 'disable',
  };
  if (PG_SERVER.password) env.SPARKIFY_CLUSTER_DB_PASSWORD = PG_SERVER.password;
  if (settings.maxErrors !== undefined) env.SPARKIFY_ETL_MAX_ERRORS = String(settings.maxErrors);
  return loadConfig(undefined, env);
}

// ---------------------------------------------------------------------------------------------------------
// Table dumps

export type Row = Record<string, unknown>;

const sortKey = (row: Row): string => JSON.stringify(Object.values(row));

/**
 * Every row of a table (all columns, or all but `exclude`), sorted in a collation-free order (by the JSON of
 * the values), so dumps of different engines and runs compare with `toEqual`.
 */
export async function dumpTable(warehouse: Warehouse, table: TableName, exclude: readonly string[] = []): Promise<Row[]> {
  const { rows } = await warehouse.query(`SELECT * FROM ${table}`);
  const kept = rows.map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => !exclude.includes(column))));
  return kept.map((row) => ({ key: sortKey(row), row })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((r) => r.row);
}

export type Dump = Record<string, Row[]>;

/** Dumps several tables; `exclude` lists columns to leave out, per table. */
export async function dumpTables(
  warehouse: Warehouse,
  tables: readonly TableName[] = ANALYTIC_TABLES,
  exclude: Partial<Record<TableName, readonly string[]>> = {},
): Promise<Dump> {
  const dump: Dump = {};
  for (const table of tables) dump[table] = await dumpTable(warehouse, table, exclude[table]);
  return dump;
}

export { ALL_TABLES, ANALYTIC_TABLES };

// ---------------------------------------------------------------------------------------------------------
// A warehouse under test

/** One engine's fresh warehouse for a test file: a new PGlite directory, or a new database on the server. */
export interface TestWarehouse {
  readonly engine: 'pglite' | 'postgres';
  /** ETL.WORK_DIR of this warehouse's runs. */
  readonly workDir: string;
  /** The pipeline's config for loading these sources into this warehouse. */
  config(sources: { readonly songData: string; readonly logData: string }): Config;
  /** Runs `work` on the warehouse, opened and closed the way the pipeline opens it (`openWarehouse`). */
  use<T>(work: (warehouse: Warehouse) => Promise<T>): Promise<T>;
  /** Dumps tables (default: the five analytic ones), as `dumpTables`. */
  dump(tables?: readonly TableName[], exclude?: Partial<Record<TableName, readonly string[]>>): Promise<Dump>;
  /** Closes what is kept open and drops the database. */
  dispose(): Promise<void>;
}

let connectModule: Promise<typeof import('../../src/load/connect.js')> | undefined;

export async function testWarehouse(engine: 'pglite' | 'postgres', name: string, options: PgDatabaseOptions = {}): Promise<TestWarehouse> {
  const workDir = await tempDir(`sparkify-work-${engine}-`);
  const pgliteDir = engine === 'pglite' ? await freshPgliteDir() : undefined;
  const database = engine === 'postgres' ? await createPgDatabase(`sparkify_test_${name}`, options) : undefined;
  const warehouse: TestWarehouse = {
    engine,
    workDir,
    config: (sources) => etlConfig({ ...sources, workDir, engine, pgliteDir, database }),
    async use(work) {
      // Imported here, not at the top: a test may mock this module with a factory that imports this file. Once:
      // concurrent dynamic imports of a vi.mock-ed module can resolve to the real one.
      connectModule ??= import('../../src/load/connect.js');
      const { openWarehouse } = await connectModule;
      const opened = await openWarehouse(warehouse.config({ songData: '.', logData: '.' }));
      try {
        return await work(opened);
      } finally {
        await opened.close();
      }
    },
    dump: (tables, exclude) => warehouse.use((w) => dumpTables(w, tables, exclude)),
    async dispose() {
      if (pgliteDir) await closeKeptOpen(pgliteDir);
      if (database) await dropPgDatabase(database);
    },
  };
  return warehouse;
}
