import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/config.js';
import { EtlError } from '../../../src/errors.js';
import { copyStatement, lastCopyCount, lastCopyId, lastLoadOf, loadErrorDetail, stlLoadErrors, type CopyAuth } from '../../../src/load/redshift/copy.js';
import { isStatement } from '../../../src/load/recording-session.js';
import type { Session, SessionResult } from '../../../src/load/session.js';
import { PG_SERVER, runPgTests } from '../../helpers/warehouses.js';
import { redshiftDialect } from '../../../src/load/redshift/redshift-dialect.js';
import { RedshiftWarehouse } from '../../../src/load/redshift/redshift-warehouse.js';
import { STAGING } from '../../../src/transform/schema.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const KEYS: CopyAuth = { kind: 'keys', accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET };
const ROLE: CopyAuth = { kind: 'role', roleArn: 'arn:aws:iam::123456789012:role/dwhRole' };

const PG = await runPgTests();

const cluster = (overrides: Partial<Config['cluster']> = {}): Config['cluster'] => ({
  host: PG_SERVER.host,
  port: PG_SERVER.port,
  database: 'postgres',
  user: PG_SERVER.user,
  password: '',
  ssl: 'auto',
  ...overrides,
});

/**
 * A stand-in for the Redshift session: answers pg_last_copy_id(), pg_last_copy_count() and the load-error
 * query from a script, and records every statement.
 */
class FakeSession implements Session {
  readonly sent: string[] = [];
  copyId = 41;
  constructor(
    private readonly script: { copyRows?: number; copyError?: Error; failBeforeLoad?: boolean; loadErrors?: Record<string, unknown>[] },
  ) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<SessionResult> {
    this.sent.push(sql);
    const result = (rows: Record<string, unknown>[]) => ({ fields: Object.keys(rows[0] ?? {}), rows, rowCount: undefined });
    if (sql.startsWith('COPY ')) {
      if (!this.script.failBeforeLoad) this.copyId += 1;
      if (this.script.copyError) throw this.script.copyError;
      return result([]);
    }
    if (sql === lastCopyId) return result([{ id: this.copyId }]);
    if (sql === lastCopyCount) return result([{ n: this.script.copyRows ?? 0 }]);
    // The COPY's SYS id is its own (not PG_LAST_COPY_ID's); its lines, by that id; the raw text from STL.
    // Parameters reach Redshift inlined as literals.
    expect(params).toEqual([]);
    if (isStatement(sql, lastLoadOf)) return result(this.script.failBeforeLoad ? [] : [{ query_id: 9_000 + this.copyId }]);
    if (isStatement(sql, loadErrorDetail)) return result(sql.endsWith(`query_id = ${9_000 + this.copyId}\nORDER BY file_name, line_number`) ? this.sysRows() : []);
    if (sql === stlLoadErrors) return result(this.script.failBeforeLoad ? [] : (this.script.loadErrors ?? []));
    throw new Error(`unexpected statement: ${sql}`);
  }

  private sysRows(): Record<string, unknown>[] {
    return (this.script.loadErrors ?? []).map(({ raw_line: _raw, ...row }) => row);
  }

  async copyIn(): Promise<number> {
    throw new Error('Redshift takes no COPY data from the client');
  }

  async close(): Promise<void> {}
}

const TestRedshift = {
  on: (session: FakeSession) =>
    new RedshiftWarehouse(session, 'Redshift at test:5439/dev', () => Promise.reject(new Error('no second connection in this test')), 'provisioned', {
      auth: () => Promise.reject(new Error('no S3 access in this test')),
    }),
};

const rejection = (promise: Promise<unknown>): Promise<EtlError> =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(EtlError);
      expect((error as EtlError).message).not.toMatch(/[\r\n]/);
      return error as EtlError;
    },
  );

describe('RedshiftWarehouse', () => {
  it('refuses CLUSTER.SSL=disable before connecting', async () => {
    const error = await rejection(RedshiftWarehouse.open(cluster({ ssl: 'disable' })));
    expect(error.message).toBe('CLUSTER.SSL=disable is not allowed for Redshift: its connections always use TLS (set CLUSTER.SSL to auto or require)');
  });

  it.runIf(PG)('always connects with TLS: a server without it is refused', async () => {
    // The local PostgreSQL server has TLS off; a Redshift connection must not fall back to clear text.
    const error = await rejection(RedshiftWarehouse.open(cluster()));
    expect(error.message).toBe(
      `Cannot connect to Redshift at ${PG_SERVER.host}:${PG_SERVER.port}, database postgres, user ${PG_SERVER.user}: The server does not support SSL connections`,
    );
  });

  it('is the redshift engine with the Redshift dialect', () => {
    const warehouse = TestRedshift.on(new FakeSession({}));
    expect(warehouse.engine).toBe('redshift');
    expect(warehouse.dialect).toBe(redshiftDialect);
    expect(warehouse.description).toBe('Redshift at test:5439/dev');
  });

  it('cannot take staging CSV from the client: it says to stage on S3', async () => {
    const warehouse = TestRedshift.on(new FakeSession({}));
    const error = await rejection(warehouse.copyCsv(STAGING.events));
    expect(error.message).toBe(
      'Redshift cannot load staging_events from this machine: it stages from S3. Set S3.STAGING to an s3:// location, so extract writes the staging parts there and Redshift COPYs them',
    );
  });

  it('loads the staged parts by COPY ... MANIFEST and counts rows with pg_last_copy_count()', async () => {
    const session = new FakeSession({ copyRows: 8056 });
    const url = 's3://sparkify-staging/run-1/staging_events.manifest';
    const rows = await TestRedshift.on(session).copyFromManifest(STAGING.events, url, ROLE, { region: 'us-west-2' });
    expect(rows).toBe(8056);
    expect(session.sent).toEqual([
      'SELECT pg_last_copy_id() AS id',
      copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl: url }, { auth: ROLE, region: 'us-west-2' }),
      'SELECT pg_last_copy_count() AS n',
    ]);
  });

  it('loads the raw JSON directly and returns the lines Redshift rejected', async () => {
    const session = new FakeSession({
      copyRows: 8055,
      loadErrors: [{ source: 's3://udacity-dend/log_data/2018/11/2018-11-01-events.json', line: '12', column_name: 'ts', reason: 'Invalid digit', raw_line: '{"ts":"x"}' }],
    });
    const source = { from: 's3://udacity-dend/log_data', jsonPaths: 's3://udacity-dend/log_json_path.json' };
    const result = await TestRedshift.on(session).copyDirect(STAGING.events, source, ROLE, { region: 'us-west-2', maxErrors: 1000 });
    expect(result).toEqual({
      rows: 8055,
      rejections: [{ source: 's3://udacity-dend/log_data/2018/11/2018-11-01-events.json', line: 12, reason: 'ts: Invalid digit', raw: '{"ts":"x"}' }],
    });
    expect(session.sent[1]).toBe(copyStatement(STAGING.events, { format: 'json', ...source }, { auth: ROLE, region: 'us-west-2', maxErrors: 1000 }));
  });

  it('names the first rejected line when a load fails, never the statement and its secret', async () => {
    const session = new FakeSession({
      copyError: new Error("Load into table 'staging_songs' failed.  Check 'stl_load_errors' system table for details."),
      loadErrors: [
        { source: 's3://sparkify-staging/staging_songs/part-00000.csv.gz', line: 3, column_name: 'year', reason: 'Invalid digit', raw_line: 'x' },
        { source: 's3://sparkify-staging/staging_songs/part-00001.csv.gz', line: 9, column_name: 'year', reason: 'Invalid digit', raw_line: 'y' },
      ],
    });
    const error = await rejection(TestRedshift.on(session).copyFromManifest(STAGING.songs, 's3://sparkify-staging/staging_songs.manifest', KEYS));
    expect(error.message).toBe(
      'Loading staging_songs from s3://sparkify-staging/staging_songs.manifest failed on Redshift at test:5439/dev: s3://sparkify-staging/staging_songs/part-00000.csv.gz line 3: year: Invalid digit (and 1 more)',
    );
    expect(error.message).not.toContain(SECRET);
  });

  it("does not blame an earlier COPY's rejected lines on one that failed before loading", async () => {
    const session = new FakeSession({
      failBeforeLoad: true,
      copyError: new Error('S3ServiceException:Access Denied,Status 403'),
      loadErrors: [{ source: 's3://old/part', line: 1, column_name: '', reason: 'stale', raw_line: '' }],
    });
    const error = await rejection(TestRedshift.on(session).copyFromManifest(STAGING.songs, 's3://sparkify-staging/staging_songs.manifest', KEYS));
    expect(error.message).toBe(
      'Loading staging_songs from s3://sparkify-staging/staging_songs.manifest failed on Redshift at test:5439/dev: S3ServiceException:Access Denied,Status 403',
    );
    expect(session.sent).not.toContain(stlLoadErrors);
  });
});
