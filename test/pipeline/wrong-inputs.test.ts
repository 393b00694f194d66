/**
 * A new user's wrong inputs, through the built CLI on PGlite: each gets one line naming what to fix and exit
 * status 1, and changes no data. An empty source folder, every record rejected (song and log folders swapped),
 * a dry run that applies the ledger and the error budget as a real run would, `etl counts` on a warehouse
 * without tables, `etl transform` with nothing staged.
 */
import { appendFile, cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { REPO_ROOT, removeTempDirs, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const SHIPPED = { songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data') };

describe('wrong inputs', () => {
  let warehouse: TestWarehouse;
  let config: Config;
  let empty: string;
  const at = (sources: { songData: string; logData: string }) => ({ ...config, s3: { ...config.s3, ...sources } });
  const tables = async () => (await warehouse.use((w) => w.query(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'songplays'`))).rows[0]!.n;

  beforeAll(async () => {
    await ensureBuilt();
    warehouse = await testWarehouse('pglite', 'wrong_inputs');
    config = warehouse.config(SHIPPED);
    empty = await tempDir('sparkify-empty-');
  });
  afterAll(async () => {
    await warehouse?.dispose();
    await removeTempDirs();
  });

  it('`etl counts` on a warehouse without tables says to create them', async () => {
    const outcome = await etl(config, ['counts']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toMatch(/^etl: PGlite at .* has no pipeline tables yet \(relation "staging_events" does not exist.*\): run `etl create-tables` first, or `etl run`, which creates missing tables$/);
  });

  it('`etl transform` with nothing staged says what to run first, and changes nothing', async () => {
    const outcome = await etl(config, ['transform']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toMatch(/^etl: Nothing is staged on PGlite at .*: run `etl extract` and `etl stage` first, or `etl run`, which does all three$/);
    const plays = await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM songplays'));
    expect(plays.rows[0]!.n).toBe(0);
  });

  it('an empty source folder fails the run, naming the setting', async () => {
    const outcome = await etl(at({ songData: SHIPPED.songData, logData: empty }), ['run']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim().split('\n').at(-1)).toBe(`etl: S3.LOG_DATA (${empty}) holds no .json or .json.gz object: check the prefix or folder`);
    expect((await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM songplays'))).rows[0]!.n).toBe(0);
  });

  it('song and log folders swapped: the dry run fails, saying every record was rejected', async () => {
    const outcome = await etl(at({ songData: SHIPPED.logData, logData: SHIPPED.songData }), ['run', '--dry-run']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim().split('\n').at(-1)).toMatch(
      /^etl: Every one of the 3,000 records under S3\.SONG_DATA \(.*\/data\/log_data\) was rejected \(missing required field \w+\): is it the right folder, or swapped with S3\.LOG_DATA\?$/,
    );
  });

  it('a dry run applies the load ledger: after a real run it would read nothing', async () => {
    const first = await etl(config, ['-q', 'run']);
    expect(first.code, first.stderr).toBe(0);
    const dry = await etl(config, ['run', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/songs: .*: 0 objects, 0 records read/);
    expect(dry.stdout).toMatch(/skipped: 200 objects loaded before and unchanged/);
    const full = await etl(config, ['run', '--dry-run', '--full-refresh']);
    expect(full.stdout).toMatch(/songs: .*: 200 objects, 200 records read/);
  });

  it('a dry run applies the error budget: over MAX_ERRORS it fails as a real run would', async () => {
    const dir = await tempDir('sparkify-bad-');
    await cp(SHIPPED.logData, join(dir, 'log_data'), { recursive: true });
    await mkdir(join(dir, 'song_data'), { recursive: true });
    await cp(SHIPPED.songData, join(dir, 'song_data'), { recursive: true });
    await appendFile(join(dir, 'log_data/2018/11/2018-11-01-events.json'), '{"ts": "x"}\n{"ts": "y"}\n');
    const outcome = await etl(at({ songData: join(dir, 'song_data'), logData: join(dir, 'log_data') }), ['run', '--dry-run', '--full-refresh', '--max-errors', '1']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim().split('\n').at(-1)).toMatch(/^etl: 2 records were rejected, more than MAX_ERRORS = 1: a real run would stop before the transform; see .*rejects\.jsonl$/);
    expect(await tables()).toBe(1);
  });
});
