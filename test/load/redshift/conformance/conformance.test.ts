/**
 * The Redshift conformance suite: the real pipeline (create-tables; run in CSV and in JSON mode; extract,
 * stage and transform; replay; check) runs against the Redshift engine on a recording session, with its
 * staging parts and manifests written to a real S3 server (s3rver on loopback). Every statement it sends is
 * checked against the rules of the Redshift docs (redshift-rules.ts). `--print-sql` prints this very recording.
 */
import { appendFile, cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../../src/config/config.js';
import { s3Client } from '../../../../src/extract/open-source.js';
import { runChecks } from '../../../../src/load/quality-checks.js';
import { copyAuth, lastCopyId } from '../../../../src/load/redshift/copy.js';
import { RedshiftWarehouse } from '../../../../src/load/redshift/redshift-warehouse.js';
import { isStatement, RecordingSession, type RecordedStatement, type Responder } from '../../../../src/load/recording-session.js';
import { runLock } from '../../../../src/load/queries.js';
import { readS3Manifest } from '../../../../src/load/s3-staging.js';
import { formatPlan, plannedStatements } from '../../../../src/pipeline/plan.js';
import { createProgress } from '../../../../src/pipeline/progress.js';
import { extract, recreateTables, replay, run, stage, transform } from '../../../../src/pipeline/run.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../../../helpers/s3-server.js';
import { REPO_ROOT, removeTempDirs, tempDir } from '../../../helpers/warehouses.js';
import { violations, type RuleContext } from './redshift-rules.js';

const ROLE = 'arn:aws:iam::123456789012:role/dwhRole';
const STAGING_BUCKET = 'staging-bucket';
const MAX_ERRORS = 25;
const progress = createProgress(process.stderr, true);
/** The original project's load: Redshift reads the raw JSON from the source buckets itself. */
const JSON_MODE = { SPARKIFY_ETL_LOAD_MODE: 'json', SPARKIFY_S3_SONG_DATA: 's3://udacity-dend/song_data', SPARKIFY_S3_LOG_DATA: 's3://udacity-dend/log_data' };

let server: S3TestServer;
/** The shipped sample with one malformed event line: every run has rejected records to keep. */
let sources: string;

/** The Redshift engine on a recording session: the lease is ours, COPYs load, the warehouse is empty. */
function recordingRedshift(log: RecordedStatement[], stagingRegion?: string): () => Promise<RedshiftWarehouse> {
  let copies = 0;
  const respond: Responder = (sql) => {
    if (isStatement(sql, runLock.held)) return { rows: [{ n: 1 }] };
    // Something is staged (`etl transform` checks before it starts).
    if (sql.startsWith('SELECT COUNT(*) AS n FROM staging_')) return { rows: [{ n: 1 }] };
    if (sql.startsWith('COPY ')) copies++;
    if (sql === lastCopyId) return { rows: [{ id: copies }] };
    return undefined;
  };
  const session = new RecordingSession(log, respond);
  return async () =>
    new RedshiftWarehouse(session, 'Redshift (recorded)', async () => session.sibling('run lock'), 'provisioned', {
      auth: async () => copyAuth(ROLE),
      region: 'us-west-2',
      ...(stagingRegion ? { stagingRegion } : {}),
    });
}

async function configFor(overrides: Record<string, string> = {}): Promise<Config> {
  const work = await tempDir('sparkify-conformance-');
  return loadConfig(undefined, {
    SPARKIFY_WAREHOUSE_ENGINE: 'redshift',
    SPARKIFY_CLUSTER_HOST: 'dwhcluster.example.us-west-2.redshift.amazonaws.com',
    SPARKIFY_IAM_ROLE_ARN: ROLE,
    SPARKIFY_S3_SONG_DATA: join(sources, 'song_data'),
    SPARKIFY_S3_LOG_DATA: join(sources, 'log_data'),
    SPARKIFY_S3_LOG_JSONPATH: 's3://udacity-dend/log_json_path.json',
    SPARKIFY_S3_STAGING: `s3://${STAGING_BUCKET}/sparkify/`,
    SPARKIFY_S3_ENDPOINT_URL: server.endpoint,
    SPARKIFY_AWS_KEY: S3RVER_CREDENTIALS.accessKeyId,
    SPARKIFY_AWS_SECRET: S3RVER_CREDENTIALS.secretAccessKey,
    SPARKIFY_ETL_WORK_DIR: work,
    SPARKIFY_ETL_MAX_ERRORS: String(MAX_ERRORS),
    ...overrides,
  });
}

/** The rules' view of a recording: manifests read back from the S3 server the run wrote them to. */
const contextFor = (config: Config, extra: Partial<RuleContext> = {}): RuleContext => ({
  toleratedErrors: MAX_ERRORS,
  manifestEntries: async (url) => (await readS3Manifest(url, s3Client(config))).entries.length,
  ...extra,
});

beforeAll(async () => {
  server = await startS3Server({ buckets: [STAGING_BUCKET], proxy: false });
  sources = await tempDir('sparkify-conformance-data-');
  await cp(join(REPO_ROOT, 'data'), sources, { recursive: true });
  await appendFile(join(sources, 'log_data/2018/11/2018-11-01-events.json'), '{"ts": "not a number"\n');
});

afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

/** Runs `scenario` on a fresh recording and returns what it sent. */
async function recorded(scenario: (open: () => Promise<RedshiftWarehouse>, config: Config) => Promise<unknown>, config: Config, stagingRegion?: string) {
  const log: RecordedStatement[] = [];
  await scenario(recordingRedshift(log, stagingRegion), config);
  return log;
}

describe('every statement the pipeline sends to Redshift keeps the rules of the Redshift docs', () => {
  const scenarios: [string, (open: () => Promise<RedshiftWarehouse>, config: Config) => Promise<unknown>, Record<string, string>?][] = [
    ['create-tables', (open, config) => recreateTables(config, { progress, openWarehouse: open, yes: true })],
    ['run (CSV staging through S3)', (open, config) => run({ config, progress, openWarehouse: open })],
    ['run (ETL.LOAD_MODE = json)', (open, config) => run({ config, progress, openWarehouse: open }), JSON_MODE],
    [
      'extract, stage, transform',
      async (open, config) => {
        await extract({ config, progress, openWarehouse: open });
        await stage({ config, progress, openWarehouse: open });
        await transform({ config, progress, openWarehouse: open });
      },
    ],
    [
      'replay',
      async (open, config) => {
        const file = join(config.etl.workDir, 'fixed.jsonl');
        const event = (await readFile(join(REPO_ROOT, 'fixtures/samples/log_data/2018/11/2018-11-01-events.json'), 'utf8')).split('\n')[0]!;
        await writeFile(file, JSON.stringify({ kind: 'events', source: 'log_data/2018/11/2018-11-01-events.json', line: 1, reason: 'malformed JSON', raw: event }) + '\n');
        await replay({ config, progress, openWarehouse: open, file });
      },
    ],
    [
      'check',
      async (open) => {
        const warehouse = await open();
        await runChecks(warehouse);
        await warehouse.close();
      },
    ],
  ];

  it.each(scenarios)('%s', async (_name, scenario, overrides) => {
    const config = await configFor(overrides);
    const log = await recorded(scenario, config);
    expect(log.length).toBeGreaterThan(0);
    expect(await violations(log, contextFor(config))).toEqual([]);
  });

  it('with the staging bucket in another region, the staging COPY names that region and no other', async () => {
    const config = await configFor({ SPARKIFY_S3_STAGING_REGION: 'eu-west-1' });
    const log = await recorded((open) => run({ config, progress, openWarehouse: open }), config, 'eu-west-1');
    const manifestCopies = log.filter((s) => s.sql.startsWith('COPY ') && s.sql.includes('MANIFEST'));
    expect(manifestCopies.length).toBeGreaterThan(0);
    for (const copy of manifestCopies) expect(copy.sql).toContain("\nREGION 'eu-west-1'\n");
    expect(await violations(log, contextFor(config, { stagingRegion: 'eu-west-1' }))).toEqual([]);
    // The same recording judged as if the staging bucket were in the cluster's region breaks the REGION rule.
    expect((await violations(log, contextFor(config))).map((v) => v.rule)).toContain('COPY REGION');
  });

  it('a batch with no rejected records sends no COPY of load_errors (its manifest would be empty)', async () => {
    const config = await configFor({ SPARKIFY_S3_LOG_DATA: join(REPO_ROOT, 'data/log_data') });
    const log = await recorded((open) => run({ config, progress, openWarehouse: open }), config);
    const copied = log.filter((s) => s.sql.startsWith('COPY ')).map((s) => s.sql.split(' ')[1]);
    expect(copied).toEqual(expect.arrayContaining(['staging_songs', 'staging_events', 'staging_objects']));
    expect(copied).not.toContain('load_errors');
  });

  it('`etl stage` of an extract that found no new events sends no COPY of staging_events', async () => {
    const config = await configFor();
    const log = await recorded(async (open) => {
      // Every log day is outside the range: no event is extracted, its manifest lists no part.
      await extract({ config, progress, openWarehouse: open, since: '2030-01-01' });
      await stage({ config, progress, openWarehouse: open });
    }, config);
    const copied = log.filter((s) => s.sql.startsWith('COPY ')).map((s) => s.sql.split(' ')[1]);
    expect(copied).toContain('staging_songs');
    expect(copied).not.toContain('staging_events');
    expect(log.map((s) => s.sql)).toContain('TRUNCATE staging_events');
    expect(await violations(log, contextFor(config))).toEqual([]);
  });

  it('JSON mode without an S3 staging area stops before anything is sent or read', async () => {
    const config = await configFor({ ...JSON_MODE, SPARKIFY_S3_STAGING: '' });
    const log: RecordedStatement[] = [];
    await expect(run({ config, progress, openWarehouse: recordingRedshift(log) })).rejects.toThrow(
      'Redshift (recorded) loads staging tables from S3 only: set S3.STAGING to an s3:// prefix (now empty), where the run\'s staging parts, object list and rejected records go for COPY',
    );
    expect(log).toEqual([]);
  });

  it('takes the run lock before the first staging TRUNCATE, and locks first in the transform', async () => {
    const config = await configFor();
    const log = await recorded((open) => run({ config, progress, openWarehouse: open }), config);
    const sqls = log.map((s) => s.sql);
    const lease = sqls.findIndex((sql) => isStatement(sql, runLock.take));
    expect(lease).toBeGreaterThanOrEqual(0);
    expect(lease).toBeLessThan(sqls.findIndex((s) => s.startsWith('TRUNCATE ')));
    const transformBegin = sqls.findIndex((s, i) => s === 'BEGIN' && log[i]!.session === 'main' && sqls[i + 1] === 'LOCK load_ledger' && sqls.slice(i).some((x) => x.startsWith('MERGE INTO songs')));
    expect(transformBegin).toBeGreaterThan(0);
    expect(sqls[transformBegin + 1]).toBe('LOCK load_ledger');
    // The lease is given back at the end.
    expect(isStatement(sqls.at(-1)!, runLock.release)).toBe(true);
  });
});

describe('--print-sql is the recording of a run', () => {
  it('prints, for Redshift in CSV mode, the statements a run sends, in order, with BEGIN and COMMIT', async () => {
    const config = await configFor();
    const plan = await plannedStatements(config, 'run');
    const text = formatPlan(plan, config);
    expect(text).toContain('BEGIN;\n\nLOCK load_ledger;');
    expect(text).toContain("FROM 's3://staging-bucket/sparkify/<run-id>/staging_events.manifest'");
    expect(text).toMatch(/COMMIT;\n/);
    expect(await violations(plan.statements, { toleratedErrors: MAX_ERRORS })).toEqual([]);
    // A real run of a batch with rejected records (so every staging table gets data) sends the same statements
    // in the same order; only the run id in the staging URLs differs.
    const log = await recorded((open) => run({ config, progress, openWarehouse: open }), config);
    const shape = (statements: readonly RecordedStatement[]) =>
      statements.map(
        (s) =>
          `${s.session}: ${s.sql
            .replace(/\d{8}T\d{9}Z-\w{4}/g, '<run-id>')
            .replace(/'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}'/g, '<time>')
            .replace(/'[^']+:\d+:\w{6}'/g, '<holder>')
            // The run history's count of rejected records: the plan reads no source, so it rejects none.
            .replace(/(UPDATE etl_runs SET .*rejected = CAST\()\d+/s, '$1<n>')}`,
      );
    expect(shape(plan.statements)).toEqual(shape(log));
  });

  it('in JSON mode prints the direct COPY of the raw JSON with MAXERROR = tolerated + 1', async () => {
    const config = await configFor(JSON_MODE);
    const text = formatPlan(await plannedStatements(config, 'run'), config);
    expect(text).toContain("FORMAT AS JSON 's3://udacity-dend/log_json_path.json'");
    expect(text).toContain(`MAXERROR ${MAX_ERRORS + 1}`);
    // The staging tables come from the raw JSON; only the rejected lines go through a staged manifest.
    const copies = text.split(';\n').filter((sql) => /^COPY /m.test(sql)).map((sql) => sql.slice(sql.indexOf('COPY ')));
    expect(copies.map((sql) => [sql.split(' ')[1], sql.includes('FORMAT AS JSON'), sql.includes('MANIFEST')])).toEqual([
      ['staging_songs', true, false],
      ['staging_events', true, false],
      ['load_errors', false, true],
    ]);
  });
});
