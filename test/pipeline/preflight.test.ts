/**
 * `etl preflight`: passes on a loaded PGlite and PostgreSQL warehouse and changes no data there; names the
 * problem in one line for a database that is down, a missing table and a table of another shape; and on
 * Redshift (a recording session, staging on a real S3 server) validates each COPY with NOLOAD, the
 * authorization and the regions, keeping the Redshift rules.
 */
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { s3Client } from '../../src/extract/open-source.js';
import { createTables } from '../../src/load/load-steps.js';
import { existingTables, TABLES } from '../../src/load/queries.js';
import { copyAuth, lastCopyId } from '../../src/load/redshift/copy.js';
import { RedshiftWarehouse } from '../../src/load/redshift/redshift-warehouse.js';
import { RecordingSession, type RecordedStatement, type Responder } from '../../src/load/recording-session.js';
import { formatPreflight, preflight, preflightFailure } from '../../src/pipeline/preflight.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { violations } from '../load/redshift/conformance/redshift-rules.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { ALL_TABLES, REPO_ROOT, removeTempDirs, runPgTests, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const SHIPPED = { songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data') };
const progress = createProgress(process.stderr, true);

afterAll(removeTempDirs);

describe.each(ENGINES)('etl preflight on %s', (engine) => {
  let warehouse: TestWarehouse;
  let config: Config;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'preflight');
    config = warehouse.config(SHIPPED);
    await run({ config, progress });
  });
  afterAll(async () => warehouse?.dispose());

  it('passes on a loaded warehouse, one line per check, and changes no data', async () => {
    const before = await warehouse.dump(ALL_TABLES);
    const checks = await preflight(config);
    expect(checks.map((c) => [c.check, c.ok])).toEqual([
      ['connection', true],
      ['privileges', true],
      ['tables', true],
      ['transform statements', true],
      ['quality check statements', true],
    ]);
    expect(preflightFailure(checks)).toBeUndefined();
    expect(formatPreflight(checks).split('\n').filter(Boolean).every((line) => line.startsWith('ok    '))).toBe(true);
    expect(await warehouse.dump(ALL_TABLES)).toEqual(before);
  });

  it('names a missing table and says to create the tables', async () => {
    await warehouse.use((w) => w.query('ALTER TABLE time RENAME TO time_kept'));
    try {
      const checks = await preflight(config);
      expect(checks.at(-1)).toEqual({ check: 'tables', ok: false, detail: 'missing: time: run `etl create-tables`' });
      expect(preflightFailure(checks)?.message).toBe('preflight: 1 of 3 checks failed (first: tables)');
    } finally {
      await warehouse.use((w) => w.query('ALTER TABLE time_kept RENAME TO time'));
    }
  });

  it('names the transform step that does not compile on a table of another shape', async () => {
    await warehouse.use((w) => w.query('ALTER TABLE songs RENAME COLUMN artist_name TO artist'));
    try {
      const checks = await preflight(config);
      const transform = checks.find((c) => c.check === 'transform statements')!;
      expect(transform.ok).toBe(false);
      expect(transform.detail).toMatch(/^step "pick touched songs" does not compile: column s\.artist_name does not exist.*: run `etl create-tables`$/);
    } finally {
      await warehouse.use((w) => w.query('ALTER TABLE songs RENAME COLUMN artist TO artist_name'));
    }
  });
});

describe.runIf(ENGINES.includes('postgres' as never))('etl preflight against a database that is down', () => {
  it('fails on the connection, in one line naming the settings', async () => {
    const config = loadConfig(undefined, { SPARKIFY_WAREHOUSE_ENGINE: 'postgres', SPARKIFY_CLUSTER_DB_PORT: '1', SPARKIFY_CLUSTER_SSL: 'disable' });
    const checks = await preflight(config);
    expect(checks).toEqual([
      {
        check: 'connection',
        ok: false,
        detail: 'Cannot connect to PostgreSQL at 127.0.0.1:1, database sparkify, user postgres: connection refused: is the server running? (CLUSTER.HOST, CLUSTER.DB_PORT)',
      },
    ]);
  });
});

describe('etl preflight on Redshift (recording session, staging on a real S3 server)', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/dwhRole';
  let server: S3TestServer;

  beforeAll(async () => {
    server = await startS3Server({ buckets: ['staging-bucket'], proxy: false });
  });
  afterAll(async () => server?.stop());

  const configFor = async (overrides: Record<string, string> = {}) =>
    loadConfig(undefined, {
      SPARKIFY_WAREHOUSE_ENGINE: 'redshift',
      SPARKIFY_CLUSTER_HOST: 'dwhcluster.abc.us-west-2.redshift.amazonaws.com',
      SPARKIFY_IAM_ROLE_ARN: ROLE,
      SPARKIFY_S3_SONG_DATA: 's3://udacity-dend/song_data',
      SPARKIFY_S3_LOG_DATA: 's3://udacity-dend/log_data',
      SPARKIFY_S3_LOG_JSONPATH: 's3://udacity-dend/log_json_path.json',
      SPARKIFY_S3_STAGING: 's3://staging-bucket/sparkify/',
      SPARKIFY_S3_ENDPOINT_URL: server.endpoint,
      SPARKIFY_AWS_KEY: S3RVER_CREDENTIALS.accessKeyId,
      SPARKIFY_AWS_SECRET: S3RVER_CREDENTIALS.secretAccessKey,
      SPARKIFY_ETL_WORK_DIR: await tempDir(),
      ...overrides,
    });

  /** A recording Redshift whose tables all exist; `refuse` makes COPYs fail as Redshift does. */
  const recording = (log: RecordedStatement[], refuse?: string) => {
    const respond: Responder = (sql) => {
      if (sql === existingTables) return { rows: TABLES.map((table_name) => ({ table_name })) };
      if (sql === lastCopyId) return { rows: [{ id: 7 }] };
      if (refuse && sql.startsWith('COPY ')) throw new Error(refuse);
      return undefined;
    };
    const session = new RecordingSession(log, respond);
    return async (config: Config) =>
      new RedshiftWarehouse(session, 'Redshift (recorded)', async () => session.sibling('run lock'), 'provisioned', {
        auth: async () => copyAuth(config.iamRoleArn),
        region: config.s3.region,
        clusterRegion: 'us-west-2',
      });
  };

  it('in CSV mode COPYs a probe row per staging table with NOLOAD, removes the probe, and keeps the Redshift rules', async () => {
    const config = await configFor();
    const log: RecordedStatement[] = [];
    const checks = await preflight(config, recording(log));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.check)).toEqual([
      'connection',
      'privileges',
      'tables',
      'transform statements',
      'quality check statements',
      'COPY authorization',
      'region of S3.STAGING',
      'COPY staging_songs NOLOAD',
      'COPY staging_events NOLOAD',
    ]);
    const copies = log.filter((s) => s.sql.startsWith('COPY '));
    expect(copies).toHaveLength(2);
    for (const copy of copies) expect(copy.sql).toMatch(/MANIFEST CSV GZIP NULL AS '\\\\N'\nNOLOAD\nCOMPUPDATE OFF$/);
    // No MERGE is EXPLAINed (Redshift cannot): it runs on an empty batch, in a transaction rolled back.
    expect(log.some((s) => s.sql.startsWith('EXPLAIN MERGE'))).toBe(false);
    expect(log.filter((s) => s.sql.startsWith('MERGE INTO')).length).toBe(5);
    expect(log.map((s) => s.sql)).toContain('ROLLBACK');
    expect(log.map((s) => s.sql)).not.toContain('COMMIT');
    expect(await violations(log)).toEqual([]);
    const left = await s3Client(config).send(new ListObjectsV2Command({ Bucket: 'staging-bucket', Prefix: 'sparkify/preflight-' }));
    expect(left.KeyCount ?? 0).toBe(0);
  });

  it('in JSON mode COPYs the raw JSON of each source with NOLOAD and the run\'s MAXERROR', async () => {
    const config = await configFor({ SPARKIFY_ETL_LOAD_MODE: 'json', SPARKIFY_ETL_MAX_ERRORS: '10' });
    const log: RecordedStatement[] = [];
    const checks = await preflight(config, recording(log));
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const copies = log.filter((s) => s.sql.startsWith('COPY ')).map((s) => s.sql);
    expect(copies).toHaveLength(2);
    expect(copies[1]).toContain("FORMAT AS JSON 's3://udacity-dend/log_json_path.json'\nMAXERROR 11\nNOLOAD\n");
    expect(await violations(log, { toleratedErrors: 10 })).toEqual([]);
  });

  it('names a role Redshift cannot assume, in one line with the fix', async () => {
    const config = await configFor({ SPARKIFY_IAM_ROLE_ARN: 'arn:aws:iam::123456789012:role/notAttached' });
    const refusal = 'User arn:aws:redshift:us-west-2:123456789012:dbuser:dwhcluster/dwhuser is not authorized to assume IAM Role arn:aws:iam::123456789012:role/notAttached';
    const checks = await preflight(config, recording([], refusal));
    const failed = checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.check)).toEqual(['COPY staging_songs NOLOAD', 'COPY staging_events NOLOAD']);
    expect(failed[0]!.detail).toMatch(
      /^Loading staging_songs from s3:\/\/staging-bucket\/sparkify\/preflight-\d+\/staging_songs\.manifest failed on Redshift \(recorded\): User .* is not authorized to assume IAM Role arn:aws:iam::123456789012:role\/notAttached: check that IAM_ROLE\.ARN is attached to the cluster and may read s3:\/\/.*$/,
    );
    expect(failed[0]!.detail).not.toMatch(/[\r\n]/);
  });

  it('names a malformed role ARN before sending any COPY', async () => {
    const config = await configFor({ SPARKIFY_IAM_ROLE_ARN: 'arn:aws:iam::123:role/dwhRole' });
    const log: RecordedStatement[] = [];
    const checks = await preflight(config, recording(log));
    expect(checks.find((c) => c.check === 'COPY authorization')).toEqual({
      check: 'COPY authorization',
      ok: false,
      detail: 'IAM_ROLE.ARN "arn:aws:iam::123:role/dwhRole" is not an IAM role ARN: expected arn:aws:iam::<12-digit account id>:role/<role name>',
    });
    expect(log.some((s) => s.sql.startsWith('COPY '))).toBe(false);
  });

  it('names a staging bucket in another region than the COPY looks in, and the setting that fixes it', async () => {
    const log: RecordedStatement[] = [];
    const warehouse = await recording(log)(await configFor());
    const checks = await warehouse.preflightLoads({
      loadMode: 'json',
      sources: { events: 's3://udacity-dend/log_data', songs: 's3://udacity-dend/song_data', jsonPaths: 's3://udacity-dend/log_json_path.json' },
      maxErrors: 0,
      staging: 's3://staging-eu/sparkify/',
      probe: () => Promise.reject(new Error('no probe in JSON mode')),
      bucketRegion: async (bucket) => (bucket === 'staging-eu' ? 'eu-west-1' : 'us-west-2'),
    });
    expect(checks.find((c) => c.check === 'region of S3.STAGING')).toEqual({
      check: 'region of S3.STAGING',
      ok: false,
      detail: "bucket staging-eu (S3.STAGING) is in eu-west-1, but the COPY looks in the cluster's region us-west-2: set S3.STAGING_REGION = eu-west-1",
    });
    expect(checks.find((c) => c.check === 'region of S3.LOG_DATA')?.ok).toBe(true);
  });

  it('refuses a staging area that is not on S3', async () => {
    const config = await configFor({ SPARKIFY_S3_STAGING: '/tmp/staging' });
    const checks = await preflight(config, recording([]));
    expect(checks.at(-1)).toEqual({ check: 'S3.STAGING', ok: false, detail: 'Redshift (recorded) loads staging from S3 only: set S3.STAGING to an s3:// prefix' });
  });
});

describe('create-tables then preflight', () => {
  it('passes on an empty warehouse whose tables exist', async () => {
    const warehouse = await testWarehouse('pglite', 'preflight-empty');
    try {
      await warehouse.use((w) => createTables(w));
      const checks = await preflight(warehouse.config(SHIPPED));
      expect(checks.every((c) => c.ok)).toBe(true);
    } finally {
      await warehouse.dispose();
    }
  });
});
