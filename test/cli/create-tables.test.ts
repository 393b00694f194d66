/**
 * `etl create-tables` guards the data: tables holding rows are dropped only with --yes off a terminal (on a
 * terminal it asks: see terminal.test.ts); load_errors and load_ledger are kept unless --all.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { REPO_ROOT, removeTempDirs, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const SHIPPED = { songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data') };
const progress = createProgress(process.stderr, true);

describe('etl create-tables on a warehouse holding data', () => {
  let warehouse: TestWarehouse;
  let config: Config;
  const count = async (table: string) => Number((await warehouse.use((w) => w.query(`SELECT COUNT(*) AS n FROM ${table}`))).rows[0]!.n);

  beforeAll(async () => {
    await ensureBuilt();
    warehouse = await testWarehouse('pglite', 'create_tables');
    config = warehouse.config(SHIPPED);
    await run({ config, progress });
  });
  afterAll(async () => {
    await warehouse?.dispose();
    await removeTempDirs();
  });

  it('off a terminal and without --yes, refuses in one line naming the rows, exit 1, nothing dropped', async () => {
    const outcome = await etl(config, ['create-tables']);
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toBe('');
    expect(outcome.stderr.trim()).toMatch(
      /^etl: PGlite at .* holds rows that create-tables drops \(staging_events 3,000, staging_songs 200, songplays 2,244, users 41, songs 200, artists 99, time 2,244, staging_objects 230, song_records 200, play_events 2,244\): pass --yes to drop them$/,
    );
    expect(await count('songplays')).toBe(2244);
  });

  it('with --yes drops them, keeps load_errors and load_ledger, and says how to reload', async () => {
    const outcome = await etl(config, ['create-tables', '--yes']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/; kept load_errors and load_ledger \(--all drops them too\): the next `etl run` loads only objects the ledger does not list, `etl run --full-refresh` reloads everything\n$/);
    expect(await count('songplays')).toBe(0);
    expect(await count('load_ledger')).toBe(230);
  });

  it('with --all drops the ledger too', async () => {
    const outcome = await etl(config, ['create-tables', '--yes', '--all']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(await count('load_ledger')).toBe(0);
  });

  it('asks nothing when the tables are empty', async () => {
    const outcome = await etl(config, ['create-tables']);
    expect(outcome.code, outcome.stderr).toBe(0);
  });
});
