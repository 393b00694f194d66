/**
 * The run history (etl_runs) on Redshift: its statements keep the rules of the Redshift docs, each is a
 * statement of its own outside any transaction (so none needs the lock-first of a transaction), the run's
 * start comes once the run lock is held and its end after the transform has committed; an interruption is
 * written on a connection of its own, values inlined like every other statement.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import { runHistory, runLock } from '../../../src/load/queries.js';
import { copyAuth } from '../../../src/load/redshift/copy.js';
import { RedshiftWarehouse } from '../../../src/load/redshift/redshift-warehouse.js';
import { isStatement, RecordingSession, type RecordedStatement } from '../../../src/load/recording-session.js';
import { redshiftDialect } from '../../../src/load/redshift/redshift-dialect.js';
import { plannedStatements } from '../../../src/pipeline/plan.js';
import { violations } from './conformance/redshift-rules.js';

const config = loadConfig(undefined, {
  SPARKIFY_WAREHOUSE_ENGINE: 'redshift',
  SPARKIFY_CLUSTER_HOST: 'dwhcluster.example.us-west-2.redshift.amazonaws.com',
  SPARKIFY_IAM_ROLE_ARN: 'arn:aws:iam::123456789012:role/dwhRole',
  SPARKIFY_S3_STAGING: 's3://staging-bucket/sparkify/',
});

/** For each statement: whether it is sent inside an explicit transaction (BEGIN ... COMMIT/ROLLBACK) of its session. */
const insideTransaction = (log: readonly RecordedStatement[]): boolean[] => {
  const open = new Set<string>();
  return log.map(({ sql, session }) => {
    if (sql === 'BEGIN') open.add(session);
    else if (sql === 'COMMIT' || sql === 'ROLLBACK') open.delete(session);
    return open.has(session) && sql !== 'BEGIN';
  });
};

describe('etl_runs on Redshift', () => {
  it('a run records its start after taking the run lock and its end after the transform, each outside any transaction', async () => {
    const { statements } = await plannedStatements(config, 'run');
    const sqls = statements.map((s) => s.sql);
    const create = sqls.indexOf(runHistory.create(redshiftDialect));
    const start = sqls.findIndex((sql) => isStatement(sql, runHistory.start));
    const end = sqls.findIndex((sql) => isStatement(sql, runHistory.finish));
    const lease = sqls.findIndex((sql) => isStatement(sql, runLock.take));
    const lastCommit = sqls.lastIndexOf('COMMIT');
    expect(lease).toBeGreaterThanOrEqual(0);
    expect([lease < create, create < start, start < sqls.findIndex((s) => s.startsWith('TRUNCATE ')), lastCommit < end]).toEqual([true, true, true, true]);
    const inside = insideTransaction(statements);
    for (const i of [create, start, end]) {
      expect(inside[i], sqls[i]).toBe(false);
      expect(statements[i]!.session).toBe('main');
      expect(statements[i]!.params).toEqual([]);
    }
    // No DISTKEY/SORTKEY, and no PRIMARY KEY (Redshift would not enforce it).
    expect(sqls[create]).not.toMatch(/PRIMARY KEY|DISTKEY|SORTKEY/);
    expect(sqls[start]).toMatch(/^INSERT INTO etl_runs \(run_id, command, status, started_at\)\nVALUES \('\d{8}T\d{9}Z-\w+', 'run', 'running', CAST\('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}' AS TIMESTAMP\)\)$/);
    expect(sqls[end]).toMatch(/^UPDATE etl_runs SET status = 'ok', finished_at = CAST\('[^']+' AS TIMESTAMP\), rows_added = '\{"staging_songs":0,.*\}', rejected = CAST\(0 AS INTEGER\), error_message = NULL\nWHERE run_id = '\d{8}T\d{9}Z-\w+'$/);
    expect(await violations(statements)).toEqual([]);
  });

  it('an interruption is written on a connection of its own, as plain SQL text, and keeps the rules', async () => {
    const log: RecordedStatement[] = [];
    const session = new RecordingSession(log);
    const warehouse = new RedshiftWarehouse(session, 'Redshift (recorded)', async () => session.sibling('interrupt'), 'provisioned', { auth: async () => copyAuth('arn:aws:iam::123456789012:role/dwhRole') });
    await warehouse.queryOnInterrupt(runHistory.finish, ['interrupted', '2018-11-01 00:00:00.000', '{}', 3, "SIGTERM received, it's over", '20181101T000000000Z-ab12']);
    expect(log).toEqual([
      {
        session: 'interrupt',
        params: [],
        sql: `UPDATE etl_runs SET status = 'interrupted', finished_at = CAST('2018-11-01 00:00:00.000' AS TIMESTAMP), rows_added = '{}', rejected = CAST(3 AS INTEGER), error_message = 'SIGTERM received, it''s over'\nWHERE run_id = '20181101T000000000Z-ab12'`,
      },
    ]);
    expect(await violations(log)).toEqual([]);
  });

  it('`etl runs` and `etl report RUN_ID` read it with statements Redshift takes', async () => {
    const log: RecordedStatement[] = [];
    const session = new RecordingSession(log);
    await session.query(runHistory.exists);
    await session.query(runHistory.newest(20));
    await new RedshiftWarehouse(session, 'Redshift (recorded)', async () => session, 'provisioned').query(runHistory.one, ['20181101T000000000Z-ab12']);
    expect(log.map((s) => s.sql).at(-1)).toBe(`SELECT run_id, command, status, started_at, finished_at, rows_added, rejected, error_message FROM etl_runs WHERE run_id = '20181101T000000000Z-ab12'`);
    expect(await violations(log)).toEqual([]);
  });
});
