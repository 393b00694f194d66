/**
 * Opt-in: the pipeline on a real Redshift cluster, as README "Verify on your cluster" describes. Skipped
 * unless ETL_LIVE_REDSHIFT=1; the cluster comes from the usual settings (a dwh.cfg named by ETL_LIVE_CONFIG,
 * or SPARKIFY_* variables), and must be a scratch database: the test recreates the tables.
 *
 *   ETL_LIVE_REDSHIFT=1 ETL_LIVE_CONFIG=./dwh.cfg npx vitest run test/live
 *
 * It runs `etl preflight` (every check must pass), then `etl create-tables` and `etl run` on the public sample
 * (s3://udacity-dend/song_data/A/A/ and log_data), and expects the contract's reference figures.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { countTables } from '../../src/load/load-steps.js';
import { openWarehouse } from '../../src/load/connect.js';
import { preflight } from '../../src/pipeline/preflight.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { recreateTables, run } from '../../src/pipeline/run.js';

const LIVE = process.env.ETL_LIVE_REDSHIFT === '1';
const progress = createProgress(process.stderr, true);

/** The contract's reference figures for the public sample. */
const REFERENCE = { staging_events: 8056, staging_songs: 71, songplays: 6820, users: 96, songs: 71, artists: 69, time: 6813 };

describe.runIf(LIVE)('a real Redshift cluster (ETL_LIVE_REDSHIFT=1)', () => {
  const base = (): Config => loadConfig(process.env.ETL_LIVE_CONFIG);
  const sample = (): Config => {
    const config = base();
    return { ...config, s3: { ...config.s3, songData: 's3://udacity-dend/song_data/A/A/', logData: 's3://udacity-dend/log_data' } };
  };

  it('is the configured engine', () => {
    expect(base().warehouse.engine).toBe('redshift');
  });

  it('passes etl preflight', async () => {
    await recreateTables(sample(), { progress, yes: true, all: true });
    const checks = await preflight(sample());
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  }, 600_000);

  it('loads the public sample into the reference figures', async () => {
    const report = await run({ config: sample(), progress, fullRefresh: true });
    expect(report.status).toBe('ok');
    const warehouse = await openWarehouse(sample());
    try {
      expect(await countTables(warehouse)).toEqual(REFERENCE);
    } finally {
      await warehouse.close();
    }
  }, 1_800_000);
});
