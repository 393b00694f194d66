import { describe, expect, it } from 'vitest';
import { EtlError } from '../../../src/errors.js';
import { createTables } from '../../../src/load/queries.js';
import {
  checkRegion,
  checkRoleArn,
  copyAuth,
  copyStatement,
  loadErrorRejection,
  lastLoadOf,
  loadErrorDetail,
  mergeLoadErrors,
  stlLoadErrors,
  loadErrorViewFor,
  sqlString,
  type CopyAuth,
} from '../../../src/load/redshift/copy.js';
import { redshiftDialect } from '../../../src/load/redshift/redshift-dialect.js';
import { STAGING } from '../../../src/transform/schema.js';

const ARN = 'arn:aws:iam::123456789012:role/dwhRole';
const ROLE: CopyAuth = { kind: 'role', roleArn: ARN };
const KEYS: CopyAuth = { kind: 'keys', accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const SESSION: CopyAuth = { kind: 'keys', accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDAbc+123=' };

const EVENT_COLUMNS =
  'artist, auth, first_name, gender, item_in_session, last_name, length, level, location, method, page, registration, session_id, song, status, ts, user_agent, user_id';
const SONG_COLUMNS = 'num_songs, artist_id, artist_latitude, artist_longitude, artist_location, artist_name, song_id, title, duration, year';

/** The EtlError `run` throws; its message is one line. */
const etlError = (run: () => unknown): EtlError => {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EtlError);
  expect((thrown as EtlError).message).not.toMatch(/[\r\n]/);
  return thrown as EtlError;
};

/**
 * The statement with its string literals replaced by `?`, reading literals as Redshift does: `''` is a quote,
 * a backslash escapes the next character. Equal skeletons mean no value got out of its literal.
 */
const skeleton = (sql: string): string => {
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    if (sql[i] !== "'") {
      out += sql[i];
      continue;
    }
    i++;
    for (; i < sql.length; i++) {
      if (sql[i] === '\\') i++;
      else if (sql[i] === "'" && sql[i + 1] === "'") i++;
      else if (sql[i] === "'") break;
    }
    if (i >= sql.length) throw new Error(`unterminated literal in ${sql}`);
    out += '?';
  }
  return out;
};

/** The values of the statement's literals, unescaped as Redshift reads them. */
const literals = (sql: string): string[] => {
  const values: string[] = [];
  for (let i = 0; i < sql.length; i++) {
    if (sql[i] !== "'") continue;
    let value = '';
    for (i++; i < sql.length; i++) {
      if (sql[i] === '\\') value += sql[++i];
      else if (sql[i] === "'" && sql[i + 1] === "'") value += sql[++i];
      else if (sql[i] === "'") break;
      else value += sql[i];
    }
    values.push(value);
  }
  return values;
};

describe('COPY of the staged CSV parts (MANIFEST CSV GZIP)', () => {
  const manifestUrl = 's3://sparkify-staging/run-1/staging_events.manifest';

  it('with an IAM role and a region', () => {
    expect(copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl }, { auth: ROLE, region: 'us-west-2' })).toBe(String.raw`COPY staging_events (${EVENT_COLUMNS}, source_key, source_line)
FROM 's3://sparkify-staging/run-1/staging_events.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/dwhRole'
REGION 'us-west-2'
MANIFEST CSV GZIP NULL AS '\\N'
COMPUPDATE OFF`);
  });

  it('with access keys and no region (the cluster region)', () => {
    const url = 's3://sparkify-staging/staging_songs.manifest';
    expect(copyStatement(STAGING.songs, { format: 'csv-manifest', manifestUrl: url }, { auth: KEYS })).toBe(String.raw`COPY staging_songs (${SONG_COLUMNS}, source_key, source_line)
FROM 's3://sparkify-staging/staging_songs.manifest'
ACCESS_KEY_ID 'ASIAIOSFODNN7EXAMPLE' SECRET_ACCESS_KEY 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
MANIFEST CSV GZIP NULL AS '\\N'
COMPUPDATE OFF`);
  });

  it('with temporary credentials: the session token too', () => {
    expect(copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl }, { auth: SESSION, region: 'eu-central-1' })).toBe(String.raw`COPY staging_events (${EVENT_COLUMNS}, source_key, source_line)
FROM 's3://sparkify-staging/run-1/staging_events.manifest'
ACCESS_KEY_ID 'ASIAIOSFODNN7EXAMPLE' SECRET_ACCESS_KEY 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' SESSION_TOKEN 'FwoGZXIvYXdzEJr//////////wEaDAbc+123='
REGION 'eu-central-1'
MANIFEST CSV GZIP NULL AS '\\N'
COMPUPDATE OFF`);
  });

  it('the null marker reaches COPY as the two characters \\N', () => {
    const sql = copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl }, { auth: ROLE });
    expect(literals(sql).at(-1)).toBe('\\N');
  });

  it('ignores maxErrors: staged rows are already validated, any error fails the load', () => {
    expect(copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl }, { auth: ROLE, maxErrors: 50 })).not.toContain('MAXERROR');
  });

  it('refuses a manifest URL that names a folder', () => {
    const error = etlError(() => copyStatement(STAGING.events, { format: 'csv-manifest', manifestUrl: 's3://sparkify-staging/run-1/' }, { auth: ROLE }));
    expect(error.message).toBe('The staging manifest of staging_events "s3://sparkify-staging/run-1/" names a folder: expected the URL of one object, s3://bucket/key');
  });
});

describe('COPY of the raw JSON (the original project\'s direct load)', () => {
  it('events through the JSONPaths file, into the contract columns only', () => {
    const sql = copyStatement(
      STAGING.events,
      { format: 'json', from: 's3://udacity-dend/log_data', jsonPaths: 's3://udacity-dend/log_json_path.json' },
      { auth: ROLE, region: 'us-west-2', maxErrors: 1000 },
    );
    // COPY fails at MAXERROR errors ("COPY" page, MAXERROR): tolerating 1,000 takes 1,001.
    expect(sql).toBe(`COPY staging_events (${EVENT_COLUMNS})
FROM 's3://udacity-dend/log_data'
IAM_ROLE 'arn:aws:iam::123456789012:role/dwhRole'
REGION 'us-west-2'
FORMAT AS JSON 's3://udacity-dend/log_json_path.json'
MAXERROR 1001
COMPUPDATE OFF`);
  });

  it("songs by key name with JSON 'auto' (their keys are the column names)", () => {
    const sql = copyStatement(STAGING.songs, { format: 'json', from: 's3://udacity-dend/song_data' }, { auth: SESSION, region: 'us-west-2' });
    expect(sql).toBe(`COPY staging_songs (${SONG_COLUMNS})
FROM 's3://udacity-dend/song_data'
ACCESS_KEY_ID 'ASIAIOSFODNN7EXAMPLE' SECRET_ACCESS_KEY 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' SESSION_TOKEN 'FwoGZXIvYXdzEJr//////////wEaDAbc+123='
REGION 'us-west-2'
FORMAT AS JSON 'auto'
COMPUPDATE OFF`);
  });

  it('MAXERROR is the tolerated count plus one, at most Redshift\'s 100,000; more, or a negative one, is refused', () => {
    const from = { format: 'json', from: 's3://udacity-dend/song_data' } as const;
    // "If the load returns the error_count number of errors or greater, the load fails."
    expect(copyStatement(STAGING.songs, from, { auth: ROLE, maxErrors: 0 })).toContain('\nMAXERROR 1\n');
    expect(copyStatement(STAGING.songs, from, { auth: ROLE, maxErrors: 99_999 })).toContain('\nMAXERROR 100000\n');
    expect(etlError(() => copyStatement(STAGING.songs, from, { auth: ROLE, maxErrors: 100_000 })).message).toBe(
      'ETL.MAX_ERRORS = 100000 is more than a Redshift COPY can tolerate with ETL.LOAD_MODE = json (at most 99,999): lower it, or use LOAD_MODE = csv',
    );
    expect(etlError(() => copyStatement(STAGING.songs, from, { auth: ROLE, maxErrors: -1 })).message).toBe(
      'ETL.MAX_ERRORS must be a whole number of at least 0, got -1',
    );
  });

  it('refuses a JSONPaths file under the data prefix: COPY would load it as data', () => {
    const error = etlError(() =>
      copyStatement(STAGING.events, { format: 'json', from: 's3://b-1/log_data', jsonPaths: 's3://b-1/log_data_paths.json' }, { auth: ROLE }),
    );
    expect(error.message).toBe(
      'S3.LOG_JSONPATH "s3://b-1/log_data_paths.json" lies under S3.LOG_DATA "s3://b-1/log_data": COPY would load it as data; move it out of that prefix',
    );
    // Another bucket, or a key outside the prefix, is fine.
    expect(() => copyStatement(STAGING.events, { format: 'json', from: 's3://b-1/log_data', jsonPaths: 's3://b-2/log_data_paths.json' }, { auth: ROLE })).not.toThrow();
  });

  it('refuses a JSONPaths URL that names a folder', () => {
    expect(etlError(() => copyStatement(STAGING.events, { format: 'json', from: 's3://b-1/log_data', jsonPaths: 's3://b-2/' }, { auth: ROLE })).message).toBe(
      'S3.LOG_JSONPATH "s3://b-2/" names a folder: expected the URL of one object, s3://bucket/key',
    );
  });
});

describe('quoting: a value from configuration never leaves its literal', () => {
  it("doubles quotes and backslashes, as Redshift's QUOTE_LITERAL does", () => {
    expect(sqlString("it's")).toBe("'it''s'");
    expect(sqlString('a\\b')).toBe("'a\\\\b'");
    expect(sqlString("\\'")).toBe("'\\\\'''");
    expect(literals(sqlString("x\\' OR '1'='1"))).toEqual(["x\\' OR '1'='1"]);
  });

  it('an S3 prefix with quotes and backslashes becomes one escaped literal', () => {
    const benign = copyStatement(STAGING.events, { format: 'json', from: 's3://udacity-dend/log_data' , jsonPaths: 's3://udacity-dend/paths.json' }, { auth: ROLE });
    const hostile = "s3://udacity-dend/log_data' IAM_ROLE 'arn:aws:iam::999999999999:role/evil' --\\";
    const sql = copyStatement(STAGING.events, { format: 'json', from: hostile, jsonPaths: 's3://udacity-dend/paths.json' }, { auth: ROLE });
    expect(skeleton(sql)).toBe(skeleton(benign));
    expect(literals(sql)[0]).toBe(hostile);
    expect(sql).toContain(String.raw`FROM 's3://udacity-dend/log_data'' IAM_ROLE ''arn:aws:iam::999999999999:role/evil'' --\\'`);
  });

  it('a manifest key with a quote and a backslash loads exactly that key', () => {
    const url = "s3://sparkify-staging/o'neil\\runs/staging_songs.manifest";
    const sql = copyStatement(STAGING.songs, { format: 'csv-manifest', manifestUrl: url }, { auth: KEYS });
    expect(sql).toContain(String.raw`FROM 's3://sparkify-staging/o''neil\\runs/staging_songs.manifest'`);
    expect(literals(sql)[0]).toBe(url);
  });

  it('refuses an ARN with a quote, a backslash or the wrong shape, naming the setting', () => {
    for (const bad of [
      "arn:aws:iam::123456789012:role/dwh'Role",
      'arn:aws:iam::123456789012:role/dwh\\Role',
      'arn:aws:iam::12345678901:role/dwhRole',
      'arn:aws:iam::123456789012:user/dwhRole',
      'arn:aws:s3:::udacity-dend',
      ' arn:aws:iam::123456789012:role/dwhRole',
    ]) {
      expect(etlError(() => checkRoleArn(bad)).message).toBe(
        `IAM_ROLE.ARN ${JSON.stringify(bad)} is not an IAM role ARN: expected arn:aws:iam::<12-digit account id>:role/<role name>`,
      );
      expect(() => copyStatement(STAGING.songs, { format: 'json', from: 's3://b-1/song_data' }, { auth: { kind: 'role', roleArn: bad } })).toThrow(EtlError);
    }
  });

  it('accepts role paths and the China and GovCloud partitions', () => {
    for (const good of [
      'arn:aws:iam::123456789012:role/service-role/Redshift.S3+Read=1,a@b_c-d',
      'arn:aws-cn:iam::123456789012:role/dwhRole',
      'arn:aws-us-gov:iam::123456789012:role/dwhRole',
    ]) {
      expect(checkRoleArn(good)).toBe(good);
    }
  });

  it('refuses a region that is not an AWS region name', () => {
    for (const good of ['us-west-2', 'ap-southeast-1', 'us-gov-west-1', 'cn-north-1', 'il-central-1']) expect(checkRegion(good)).toBe(good);
    for (const bad of ["us-west-2'", 'US-WEST-2', 'us-west', 'us_west_2', "us-west-2' --"]) {
      expect(etlError(() => checkRegion(bad)).message).toBe(`S3.REGION ${JSON.stringify(bad)} is not an AWS region name such as us-west-2`);
    }
  });

  it('refuses an S3 location with a control character or an invalid bucket, in one line naming the setting', () => {
    expect(etlError(() => copyStatement(STAGING.events, { format: 'json', from: 's3://udacity-dend/log\ndata' }, { auth: ROLE })).message).toBe(
      'S3.LOG_DATA "s3://udacity-dend/log\\ndata" contains a control character: expected s3://bucket/prefix',
    );
    expect(etlError(() => copyStatement(STAGING.songs, { format: 'json', from: "s3://Bad'Bucket/song_data" }, { auth: ROLE })).message).toBe(
      `S3.SONG_DATA: Invalid S3 bucket name "Bad'Bucket" in "s3://Bad'Bucket/song_data": a bucket name has only lowercase letters, digits, dots and hyphens`,
    );
    expect(etlError(() => copyStatement(STAGING.songs, { format: 'json', from: 'https://example.com/x' }, { auth: ROLE })).message).toBe(
      'S3.SONG_DATA: Invalid S3 location "https://example.com/x": expected s3://bucket/prefix',
    );
  });

  it('refuses malformed keys without repeating the secret', () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPx'--";
    const error = etlError(() => copyAuth('', { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: secret }));
    expect(error.message).toBe("The AWS secret access key (AWS.SECRET or the credential chain) is malformed: expected letters, digits, '/', '+' and '='");
    expect(error.message).not.toContain('bPx');
    expect(etlError(() => copyAuth('', { accessKeyId: "AKIA'", secretAccessKey: 'abc' })).message).toBe(
      'The AWS access key id (AWS.KEY or the credential chain) is malformed: expected 16 or more capital letters and digits',
    );
    expect(etlError(() => copyAuth('', { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'abc', sessionToken: "tok'en" })).message).toBe(
      "The AWS session token (AWS.SESSION_TOKEN or the credential chain) is malformed: expected letters, digits, '/', '+' and '='",
    );
    // A hand-built CopyAuth is checked too.
    expect(() => copyStatement(STAGING.songs, { format: 'json', from: 's3://b-1/s' }, { auth: { kind: 'keys', accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: secret } })).toThrow(
      EtlError,
    );
  });
});

describe('COPY authorization', () => {
  it('prefers the IAM role when one is configured', () => {
    expect(copyAuth(ARN, { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'abc' })).toEqual({ kind: 'role', roleArn: ARN });
  });

  it('falls back to the credentials given, with a session token only when there is one', () => {
    expect(copyAuth('', { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'abc/+=' })).toEqual({
      kind: 'keys',
      accessKeyId: 'ASIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'abc/+=',
    });
    expect(copyAuth('', { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'abc', sessionToken: '' })).not.toHaveProperty('sessionToken');
    expect(copyAuth('', { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'abc', sessionToken: 'tok' })).toHaveProperty('sessionToken', 'tok');
  });

  it('says what to set when there is neither', () => {
    expect(etlError(() => copyAuth('')).message).toBe(
      'Redshift COPY needs a way into S3: set IAM_ROLE.ARN to a role attached to the cluster, or give AWS credentials (AWS.KEY and AWS.SECRET, or the AWS credential chain)',
    );
  });
});

describe("reading Redshift's rejected lines of the last COPY", () => {
  it('finds the COPY in SYS_LOAD_HISTORY by this session\'s process and the table (SYS ids are not PG_LAST_COPY_ID\'s)', () => {
    expect(lastLoadOf).toBe(`SELECT query_id FROM sys_load_history
WHERE session_id = PG_BACKEND_PID() AND TRIM(table_name) = $1
ORDER BY start_time DESC
LIMIT 1`);
  });

  it('reads its rejected lines from SYS_LOAD_ERROR_DETAIL, which covers concurrency scaling and Serverless', () => {
    expect(loadErrorDetail).toBe(`SELECT TRIM(file_name) AS source, line_number AS line, TRIM(column_name) AS column_name, TRIM(error_message) AS reason
FROM sys_load_error_detail
WHERE query_id = $1
ORDER BY file_name, line_number`);
  });

  it('takes the raw lines from STL_LOAD_ERRORS by PG_LAST_COPY_ID() on a provisioned cluster', () => {
    expect(stlLoadErrors).toBe(`SELECT TRIM(filename) AS source, line_number AS line, TRIM(colname) AS column_name, TRIM(err_reason) AS reason, RTRIM(raw_line) AS raw_line
FROM stl_load_errors
WHERE query = PG_LAST_COPY_ID()
ORDER BY filename, line_number`);
  });

  it('joins the raw line to the SYS row of the same file and line; STL rows alone when SYS has none', () => {
    const sys = [
      { source: 's3://b/k1 ', line: 3, column_name: 'ts', reason: 'Invalid digit' },
      { source: 's3://b/k2', line: 9, column_name: '', reason: 'Invalid JSON' },
    ];
    const stl = [{ source: 's3://b/k1', line: 3, column_name: 'ts', reason: 'Invalid digit', raw_line: '{"ts":"x"}' }];
    expect(mergeLoadErrors(sys, stl)).toEqual([
      { source: 's3://b/k1', line: 3, reason: 'ts: Invalid digit', raw: '{"ts":"x"}' },
      { source: 's3://b/k2', line: 9, reason: 'Invalid JSON', raw: '' },
    ]);
    expect(mergeLoadErrors([], stl)).toEqual([{ source: 's3://b/k1', line: 3, reason: 'ts: Invalid digit', raw: '{"ts":"x"}' }]);
  });

  it('knows Serverless by its endpoint', () => {
    expect(loadErrorViewFor('dwh.123456789012.us-west-2.redshift-serverless.amazonaws.com')).toBe('serverless');
    expect(loadErrorViewFor('dwhcluster.abc123xyz.us-west-2.redshift.amazonaws.com')).toBe('provisioned');
  });

  it('maps a row to a rejection like extract reports them', () => {
    expect(
      loadErrorRejection({
        source: 's3://udacity-dend/log_data/2018/11/2018-11-01-events.json',
        line: 7,
        column_name: 'user_id',
        reason: 'String length exceeds DDL length',
        raw_line: '{"userId":"12345678901234567"}',
      }),
    ).toEqual({
      source: 's3://udacity-dend/log_data/2018/11/2018-11-01-events.json',
      line: 7,
      reason: 'user_id: String length exceeds DDL length',
      raw: '{"userId":"12345678901234567"}',
    });
    expect(loadErrorRejection({ source: 's3://b-1/k', line: '3', column_name: '', reason: 'Invalid JSONPath format', raw_line: null })).toEqual({
      source: 's3://b-1/k',
      line: 3,
      reason: 'Invalid JSONPath format',
      raw: '',
    });
  });
});

describe('Redshift DDL of the bookkeeping tables', () => {
  it('creates load_errors, staging_objects and load_ledger, small and read by key', () => {
    expect(createTables(redshiftDialect).slice(7, 10)).toEqual([
      `CREATE TABLE IF NOT EXISTS load_errors (
  run_id VARCHAR(64) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  source_key VARCHAR(1024) NOT NULL,
  line INTEGER NOT NULL,
  reason VARCHAR(1024) NOT NULL,
  raw_line VARCHAR(65535)
)
DISTSTYLE EVEN`,
      `CREATE TABLE IF NOT EXISTS staging_objects (
  run_id VARCHAR(64) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  source_key VARCHAR(1024) NOT NULL,
  size BIGINT NOT NULL,
  version VARCHAR(256) NOT NULL,
  loaded_at TIMESTAMP NOT NULL
)
DISTSTYLE ALL`,
      `CREATE TABLE IF NOT EXISTS load_ledger (
  kind VARCHAR(16) NOT NULL,
  source_key VARCHAR(1024) NOT NULL,
  size BIGINT NOT NULL,
  version VARCHAR(256) NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  loaded_at TIMESTAMP NOT NULL
)
DISTSTYLE ALL SORTKEY(kind, source_key)`,
    ]);
  });
});

describe('Redshift DDL', () => {
  it('creates the 7 tables with identity, distribution and sort keys', () => {
    expect(createTables(redshiftDialect).slice(0, 7)).toEqual([
      `CREATE TABLE IF NOT EXISTS staging_events (
  artist VARCHAR(512),
  auth VARCHAR(64),
  first_name VARCHAR(256),
  gender VARCHAR(16),
  item_in_session INTEGER,
  last_name VARCHAR(256),
  length DOUBLE PRECISION,
  level VARCHAR(16),
  location VARCHAR(256),
  method VARCHAR(16),
  page VARCHAR(64),
  registration DOUBLE PRECISION,
  session_id INTEGER,
  song VARCHAR(512),
  status INTEGER,
  ts BIGINT,
  user_agent VARCHAR(512),
  user_id VARCHAR(16),
  source_key VARCHAR(1024),
  source_line INTEGER
)
DISTSTYLE KEY DISTKEY(session_id)`,
      `CREATE TABLE IF NOT EXISTS staging_songs (
  num_songs INTEGER,
  artist_id VARCHAR(32),
  artist_latitude DOUBLE PRECISION,
  artist_longitude DOUBLE PRECISION,
  artist_location VARCHAR(512),
  artist_name VARCHAR(512),
  song_id VARCHAR(32),
  title VARCHAR(512),
  duration DOUBLE PRECISION,
  year INTEGER,
  source_key VARCHAR(1024),
  source_line INTEGER
)
DISTSTYLE KEY DISTKEY(song_id)`,
      `CREATE TABLE IF NOT EXISTS songplays (
  songplay_id BIGINT IDENTITY(0,1),
  start_time TIMESTAMP NOT NULL,
  user_id INTEGER NOT NULL,
  level VARCHAR(16),
  song_id VARCHAR(32),
  artist_id VARCHAR(32),
  session_id INTEGER NOT NULL,
  location VARCHAR(256),
  user_agent VARCHAR(512),
  item_in_session INTEGER NOT NULL,
  source_key VARCHAR(1024)
)
DISTSTYLE KEY DISTKEY(start_time) SORTKEY(start_time)`,
      `CREATE TABLE IF NOT EXISTS users (
  user_id INTEGER NOT NULL,
  first_name VARCHAR(256),
  last_name VARCHAR(256),
  gender VARCHAR(16),
  level VARCHAR(16),
  last_play_at TIMESTAMP NOT NULL
)
DISTSTYLE ALL SORTKEY(user_id)`,
      `CREATE TABLE IF NOT EXISTS songs (
  song_id VARCHAR(32) NOT NULL,
  title VARCHAR(512),
  artist_id VARCHAR(32),
  year INTEGER,
  duration DOUBLE PRECISION,
  artist_name VARCHAR(512),
  source_key VARCHAR(1024)
)
DISTSTYLE ALL SORTKEY(song_id)`,
      `CREATE TABLE IF NOT EXISTS artists (
  artist_id VARCHAR(32) NOT NULL,
  name VARCHAR(512),
  location VARCHAR(512),
  latitude DOUBLE PRECISION,
  longitude DOUBLE PRECISION,
  song_id VARCHAR(32) NOT NULL
)
DISTSTYLE ALL SORTKEY(artist_id)`,
      `CREATE TABLE IF NOT EXISTS time (
  start_time TIMESTAMP NOT NULL,
  hour INTEGER NOT NULL,
  day INTEGER NOT NULL,
  week INTEGER NOT NULL,
  month INTEGER NOT NULL,
  year INTEGER NOT NULL,
  weekday INTEGER NOT NULL
)
DISTSTYLE KEY DISTKEY(start_time) SORTKEY(start_time)`,
    ]);
  });
});
