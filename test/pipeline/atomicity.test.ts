/**
 * Atomicity and exclusion (issue 4), with the built CLI as a child process, as a user or a scheduler runs it:
 *
 * - a first batch is loaded (`etl run --until`), a second one extracted and staged (`etl extract --since`,
 *   `etl stage`); `etl transform` is killed (SIGKILL) in the middle of its transaction: the analytic tables and the
 *   load ledger are exactly as before; `etl transform` again completes, and the tables equal one full load;
 * - on PGlite the kill also leaves the data directory's lock behind; its process is gone, so the next command takes
 *   it over at once and says so;
 * - while another command holds the warehouse (PostgreSQL: the run lock's lease row; PGlite: the directory open in
 *   another process), `etl run` exits non-zero with one line saying so.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import { PgSession } from '../../src/load/postgres/pg-session.js';
import { RunLease } from '../../src/load/run-lease.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { ensureBuilt, etl, type Outcome, stepStarts } from '../helpers/cli.js';
import { ANALYTIC_TABLES, pgClient, removeTempDirs, runPgTests, tempDir, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const TABLES = [...ANALYTIC_TABLES, 'load_ledger'] as const;
const NO_ID = { songplays: ['songplay_id'] } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


const ok = (outcome: Outcome) => expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });

let sources: { songData: string; logData: string };
/** One full load of all the data, in one run: what any sequence of batches must end with (songplay_id aside). */
let reference: Promise<Dump>;

beforeAll(async () => {
  const root = await tempDir('sparkify-atomicity-');
  await Promise.all([ensureBuilt(), generate({ dir: root, songs: 150, events: 4000, seed: 3, matchShare: 0.3 })]);
  sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
  reference = (async () => {
    const warehouse = await testWarehouse(ENGINES.at(-1)!, 'atomicity_reference');
    await run({ config: warehouse.config(sources), progress: createProgress(process.stderr, true) });
    const dump = await warehouse.dump(ANALYTIC_TABLES, NO_ID);
    await warehouse.dispose();
    return dump;
  })();
  reference.catch(() => {});
}, 180_000);

afterAll(removeTempDirs);

describe.each(ENGINES)('a transform killed mid-transaction, on %s', (engine) => {
  let warehouse: TestWarehouse;
  let config: Config;
  /** The analytic tables and the ledger after the first batch, before the killed transform. */
  let before: Dump;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'atomicity');
    config = warehouse.config(sources);
    ok(await etl(config, ['-q', 'run', '--until', '2018-11-15']));
    ok(await etl(config, ['-q', 'extract', '--since', '2018-11-16']));
    ok(await etl(config, ['-q', 'stage']));
    before = await warehouse.dump(TABLES);
    expect(before.songplays!.length).toBeGreaterThan(500);
  });
  afterAll(async () => warehouse?.dispose());

  it('leaves the analytic tables and the ledger as they were; `etl transform` again gives the tables of one full load', async () => {
    let killedAt: string | undefined;
    if (engine === 'postgres') {
      // The kill must land inside the transaction, whatever the machine's speed: a client holds a SHARE lock on
      // users, so the transform (songplays merged, uncommitted) waits at its first write to users until it is killed.
      const blocker = await pgClient(config.cluster.database);
      try {
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE users IN SHARE MODE');
        const waiting = async () =>
          Number((await blocker.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sparkify-etl' AND wait_event_type = 'Lock'`)).rows[0].n) > 0;
        const killed = await etl(config, ['--log-format', 'json', 'transform'], (line, child) => {
          if (!stepStarts(line, 'transform: rewind users of forgotten plays')) return;
          killedAt = line;
          void (async () => {
            for (let i = 0; i < 100 && !(await waiting()); i++) await sleep(50);
            child.kill('SIGKILL');
          })();
        });
        expect(killed, killed.stderr).toMatchObject({ code: null, signal: 'SIGKILL', stdout: '' });
        expect(killed.stderr).toContain('"event":"step","message":"transform: merge songplays');
        await blocker.query('ROLLBACK');
        // The killed client's server process ends (rolling back) once it finds the connection gone.
        const lingering = async () =>
          Number((await blocker.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sparkify-etl'`)).rows[0].n);
        for (let i = 0; i < 200 && (await lingering()) > 0; i++) await sleep(50);
        expect(await lingering()).toBe(0);
      } finally {
        await blocker.end();
      }
    } else {
      const killed = await etl(config, ['--log-format', 'json', 'transform'], (line, child) => {
        if (stepStarts(line, 'transform: merge songplays')) {
          killedAt = line;
          child.kill('SIGKILL');
        }
      });
      expect(killed, `the transform ended before the kill reached it:\n${killed.stderr}`).toMatchObject({ code: null, signal: 'SIGKILL', stdout: '' });
      expect(killed.stderr).not.toContain('"message":"transform: record ledger entries');

      // The dead process's lock on the data directory is still fresh, but its process is gone: the next
      // command takes the lock over at once and says so.
      const next = await etl(config, ['counts']);
      ok(next);
      expect(next.stderr).toMatch(/Took over the lock of the embedded warehouse at .*: process \d+, which held it since .*, has exited/);
    }
    expect(killedAt).toBeDefined();

    // The directory (PGlite, killed mid-write) reopens; the tables are those from before the transform began.
    expect(await warehouse.dump(TABLES)).toEqual(before);

    const again = await etl(config, ['transform']);
    ok(again);
    expect(again.stdout).toMatch(/\(transform, \w+\): ok/);
    expect(await warehouse.dump(ANALYTIC_TABLES, NO_ID)).toEqual(await reference);
  });
});

describe.each(ENGINES)('a second command while one holds the warehouse, on %s', (engine) => {
  let warehouse: TestWarehouse;
  let config: Config;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'exclusion');
    config = warehouse.config(sources);
  });
  afterAll(async () => warehouse?.dispose());

  it('`etl run` exits non-zero with one line saying another command is working on it', async () => {
    let outcome: Outcome;
    if (engine === 'postgres') {
      // Another command's lease, taken on a connection of its own as `etl` takes it.
      const holder = await RunLease.take(await PgSession.connect('PostgreSQL', config.cluster, false), 'the test database', { command: 'etl run', ttlMs: 60_000, holder: 'other-host:4242:abc' });
      try {
        outcome = await etl(config, ['run']);
      } finally {
        await holder.release();
      }
      expect(outcome.stderr.trim()).toMatch(
        /^etl: Another etl command \(etl run, other-host:4242:abc\) has held the run lock on PostgreSQL at .* since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: wait for it to finish; if that process is gone, its lease expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC and the next command takes it over$/,
      );
    } else {
      const holder = await PgliteWarehouse.open(config.warehouse.pgliteDir);
      try {
        outcome = await etl(config, ['run']);
      } finally {
        await holder.close();
      }
      expect(outcome.stderr.trim()).toMatch(
        /^etl: The embedded warehouse at .* \(WAREHOUSE.PGLITE_DIR\) is in use by another etl command, process \d+ \(`[^`]*`, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): wait for it to finish, then run this again$/,
      );
    }
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toBe('');
    // It touched nothing (not even creating the tables); once the holder is gone the same command runs.
    const { rows } = await warehouse.use((w) => w.query(`SELECT to_regclass('songplays') IS NULL AS absent`));
    expect(rows).toEqual([{ absent: true }]);
    ok(await etl(config, ['-q', 'run', '--until', '2018-11-02']));
    expect((await warehouse.dump(['songplays'])).songplays!.length).toBeGreaterThan(0);
  });
});
