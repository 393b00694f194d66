/**
 * The PGlite data directory itself (src/load/pglite/pglite-warehouse.ts, owner-only.ts), real PGlite on real
 * files:
 *
 * - issue 14 item 11: a directory `etl` creates, and every file in it after a load, is its owner's only; an
 *   existing one open to other users is made so at open, with a notice;
 * - issue 13: a damaged directory (catalog entries without their table, a data file missing, PGlite unable
 *   to start, files but no PG_VERSION) is refused in one line naming it and what to do, never "unexpected
 *   error"; `etl query` still reads what is left;
 * - issue 14 item 12: a table a session left full of dead rows is vacuumed when it closes, so the next
 *   session's updates reuse the space instead of growing the directory.
 */
import { chmod, lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTables } from '../../src/load/load-steps.js';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { etlConfig, FIXTURES, freshPgliteDir, removeTempDirs, tempDir } from '../helpers/warehouses.js';

const SAMPLES = { songData: join(FIXTURES, 'samples/song_data'), logData: join(FIXTURES, 'samples/log_data') };
const DAMAGED = String.raw`is damaged \((.*)\): restore a copy of the directory, or remove it and run \`etl run\` to load the sources again`;

afterAll(removeTempDirs);

/** Every entry under `dir` (itself included) whose mode gives group or others any permission: "path 0644". */
async function openToOthers(dir: string): Promise<string[]> {
  const found: string[] = [];
  const paths = [dir, ...(await readdir(dir, { recursive: true })).map((p) => join(dir, p))];
  for (const path of paths) {
    const { mode } = await lstat(path);
    if (mode & 0o077) found.push(`${path} ${(mode & 0o777).toString(8)}`);
  }
  return found;
}

/** A directory with the pipeline's tables, closed. */
async function directoryWithTables(): Promise<string> {
  const dir = await freshPgliteDir();
  const warehouse = await PgliteWarehouse.open(dir);
  await createTables(warehouse);
  await warehouse.close();
  return dir;
}

/** Runs statements on the directory with PGlite itself, as any other tool (or a second writer) would. */
async function raw(dir: string, ...statements: string[]): Promise<Record<string, unknown>[][]> {
  const db = await PGlite.create(dir);
  try {
    const results = [];
    for (const sql of statements) results.push((await db.query<Record<string, unknown>>(sql)).rows);
    return results;
  } finally {
    await db.close();
  }
}

const openFails = (dir: string) =>
  PgliteWarehouse.open(dir).then(
    async (w) => {
      await w.close();
      throw new Error('it opened');
    },
    (error: unknown) => (error as Error).message,
  );

describe('file modes of the data directory', () => {
  it('a directory etl creates, and every file in it after a load, is its owner\'s only; so is its lock', async () => {
    const workDir = await tempDir('sparkify-modes-');
    const pgliteDir = join(workDir, 'new', 'pglite');
    const config = etlConfig({ ...SAMPLES, workDir, engine: 'pglite', pgliteDir });
    let lockMode: number | undefined;
    await run({
      config,
      progress: createProgress(process.stderr, true),
      // The lock file, while the run holds it.
      openWarehouse: async (c, notice) => {
        const opened = await PgliteWarehouse.open(c.warehouse.pgliteDir, notice);
        lockMode = (await lstat(`${pgliteDir}.lock`)).mode & 0o777;
        return opened;
      },
    });
    expect((await readdir(pgliteDir, { recursive: true })).length).toBeGreaterThan(900);
    expect(await openToOthers(pgliteDir)).toEqual([]);
    expect(lockMode).toBe(0o600);
  });

  it('an existing directory open to other users is made owner-only at open, with a notice', async () => {
    const dir = await freshPgliteDir();
    for (const path of [dir, ...(await readdir(dir, { recursive: true })).map((p) => join(dir, p))]) await chmod(path, (await lstat(path)).isDirectory() ? 0o777 : 0o666);
    const notices: string[] = [];
    const warehouse = await PgliteWarehouse.open(dir, (m) => notices.push(m));
    await warehouse.close();
    // (A few of them PGlite replaces as it starts.)
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(new RegExp(`^Made the embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) its owner's only: \\d{3,} of its files and folders were writable by other users$`));
    expect(await openToOthers(dir)).toEqual([]);
    // Once done, nothing more to say.
    const again: string[] = [];
    await (await PgliteWarehouse.open(dir, (m) => again.push(m))).close();
    expect(again).toEqual([]);
  });
});

describe('a damaged data directory', () => {
  beforeAll(ensureBuilt, 180_000);

  it('whose catalog has a table\'s row type but not the table (two writers) is refused in one line; `etl query` still reads it', async () => {
    const dir = await directoryWithTables();
    // What the reproduction of issue 13 left: pg_type rows whose pg_class rows are gone.
    await raw(dir, `DELETE FROM pg_class WHERE relname IN ('staging_events', 'staging_objects')`);
    const workDir = await tempDir('sparkify-damaged-');
    const config = etlConfig({ ...SAMPLES, workDir, engine: 'pglite', pgliteDir: dir });
    const line = new RegExp(`^etl: The embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) ${DAMAGED}$`);

    for (const args of [['counts'], ['run'], ['check'], ['create-tables', '--yes']]) {
      const outcome = await etl(config, args);
      expect(outcome.code, args.join(' ')).toBe(1);
      expect(outcome.stdout).toBe('');
      expect(outcome.stderr.trim()).toMatch(line);
      expect(line.exec(outcome.stderr.trim())![1]).toBe('staging_events: a row type without its table; staging_objects: a row type without its table');
    }
    // No run came of it.
    expect(await readdir(join(workDir, 'runs')).catch(() => [])).toEqual([]);

    const query = await etl(config, ['query', 'SELECT COUNT(*) AS n FROM songplays']);
    expect(query.code, query.stderr).toBe(0);
    expect(query.stdout).toContain('(1 row)');
    expect(query.stderr.trim()).toMatch(new RegExp(`^etl: The embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) ${DAMAGED}; what it shows may be incomplete$`));
  });

  it('missing a table\'s data file is refused, naming the table', async () => {
    const dir = await directoryWithTables();
    const [rows] = await raw(dir, `SELECT pg_relation_filepath('songplays') AS path`);
    await rm(join(dir, String(rows![0]!.path)));
    expect(await openFails(dir)).toMatch(new RegExp(`^The embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) is damaged \\(songplays: no data file\\): restore a copy`));
  });

  it('that PGlite cannot start on is refused in one line', async () => {
    const dir = await freshPgliteDir();
    await rm(join(dir, 'global/pg_control'));
    const message = await openFails(dir);
    expect(message).toMatch(new RegExp(`^The embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) is damaged \\(PGlite cannot start on it: [^\\n]+\\): restore a copy`));
    expect(message).not.toContain('-sASSERTIONS');
  });

  it('holding files but no PG_VERSION is refused, its files left alone (PGlite would initdb over them)', async () => {
    const dir = await freshPgliteDir();
    await rm(join(dir, 'PG_VERSION'));
    const control = await readFile(join(dir, 'global/pg_control'));
    expect(await openFails(dir)).toMatch(
      new RegExp(`^The embedded warehouse at ${dir} \\(WAREHOUSE.PGLITE_DIR\\) holds \\d+ files but no PG_VERSION: it is no PGlite data directory, or a damaged one: point WAREHOUSE.PGLITE_DIR at a new folder, or restore a copy of the directory$`),
    );
    expect(await readFile(join(dir, 'global/pg_control'))).toEqual(control);
  });

  it('a file where the directory should be is refused in one line', async () => {
    const file = join(await tempDir('sparkify-file-'), 'pglite');
    await writeFile(file, 'not a directory\n');
    expect(await openFails(file)).toBe(`Cannot use the embedded warehouse at ${file} (WAREHOUSE.PGLITE_DIR): it is a file, not a directory`);
  });
});

describe('space of dead rows', () => {
  it('a table a session left full of dead rows is vacuumed at close: the next session\'s updates reuse its space', async () => {
    const dir = await directoryWithTables();
    const size = async (w: PgliteWarehouse) => Number((await w.query(`SELECT pg_relation_size('users') AS n`)).rows[0]!.n);
    // Every row updated, as a full refresh's MERGE does: a second version of each.
    const churn = (w: PgliteWarehouse, level: string) => w.query(`UPDATE users SET level = '${level}'`);

    const first = await PgliteWarehouse.open(dir);
    await first.query(`INSERT INTO users SELECT g, 'first', 'last', 'F', 'free', TIMESTAMP '2018-11-01' FROM generate_series(1, 20000) g`);
    await churn(first, 'paid');
    const churned = await size(first);
    await first.close();

    const second = await PgliteWarehouse.open(dir);
    await churn(second, 'free');
    const after = await size(second);
    await second.close();
    // Without the VACUUM the second update appends another 20,000 row versions (+50 %).
    expect(after).toBeLessThanOrEqual(churned * 1.05);
  });
});
