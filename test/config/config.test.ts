import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, formatConfig, loadConfig } from '../../src/config/config.js';
import { SETTINGS } from '../../src/config/settings.js';
import { EtlError } from '../../src/errors.js';

const cfg = async (text: string): Promise<string> => {
  const path = join(await mkdtemp(join(tmpdir(), 'sparkify-cfg-')), 'dwh.cfg');
  await writeFile(path, text);
  return path;
};

const failure = (run: () => unknown): EtlError => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(EtlError);
    expect((error as Error).message).not.toContain('\n');
    return error as EtlError;
  }
  throw new Error('expected an EtlError');
};

describe('loadConfig', () => {
  it('with no file and no variables, runs the shipped data into PGlite', () => {
    const config = loadConfig(undefined, {});
    expect(config.warehouse).toEqual({ engine: 'pglite', pgliteDir: '.sparkify/pglite' });
    expect(config.s3.songData).toBe('data/song_data');
    expect(config.s3.logData).toBe('data/log_data');
    expect(config.etl.maxErrors).toBe(1000);
  });

  it("reads the original project's sections and keys", async () => {
    const path = await cfg(`[CLUSTER]
HOST = example.redshift.amazonaws.com
DB_NAME = dev
DB_USER = dwhuser
DB_PASSWORD = "s3cr;et#1"
DB_PORT = 5439
[IAM_ROLE]
ARN = arn:aws:iam::123456789012:role/dwhRole
[S3]
LOG_DATA = s3://udacity-dend/log_data
LOG_JSONPATH = s3://udacity-dend/log_json_path.json
SONG_DATA = s3://udacity-dend/song_data
[AWS]
KEY =
SECRET =
[DWH]
DWH_CLUSTER_TYPE = multi-node
DWH_NUM_NODES = 4
[WAREHOUSE]
ENGINE = redshift
`);
    const config = loadConfig(path, {});
    expect(config.cluster).toMatchObject({ host: 'example.redshift.amazonaws.com', database: 'dev', user: 'dwhuser', password: 's3cr;et#1', port: 5439 });
    expect(config.iamRoleArn).toBe('arn:aws:iam::123456789012:role/dwhRole');
    expect(config.s3.logJsonPath).toBe('s3://udacity-dend/log_json_path.json');
    expect(config.warehouse.engine).toBe('redshift');
    expect(config.dwh.DWH_NUM_NODES).toBe('4');
  });

  it('lets SPARKIFY_<SECTION>_<KEY> override the file', async () => {
    const path = await cfg('[S3]\nLOG_DATA = /from/file\n');
    const config = loadConfig(path, { SPARKIFY_S3_LOG_DATA: '/from/env', SPARKIFY_WAREHOUSE_ENGINE: 'postgres', SPARKIFY_CLUSTER_DB_PORT: '6543' });
    expect(config.s3.logData).toBe('/from/env');
    expect(config.warehouse.engine).toBe('postgres');
    expect(config.cluster.port).toBe(6543);
  });

  it('accepts an empty DB_PASSWORD (trust auth, .pgpass, PGPASSWORD)', async () => {
    expect(loadConfig(await cfg('[CLUSTER]\nDB_PASSWORD =\n'), {}).cluster.password).toBe('');
  });

  it('names an unknown section, key or variable', async () => {
    expect(failure(() => loadConfig(undefined, { SPARKIFY_S3_LOGDATA: 'x' })).message).toMatch(/SPARKIFY_S3_LOGDATA/);
    const path = await cfg('[CLUSTR]\nHOST = x\n');
    expect(failure(() => loadConfig(path, {})).message).toMatch(/unknown section \[CLUSTR\]/);
  });

  it('names an unknown key in a file, with the keys it knows', async () => {
    const path = await cfg('[CLUSTER]\nHOSTNAME = x\n');
    const error = failure(() => loadConfig(path, {}));
    expect(error.message).toContain('CLUSTER.HOSTNAME');
    expect(error.message).toContain('HOST');
  });

  it('names a value of the wrong type, and where it came from', async () => {
    const path = await cfg('[CLUSTER]\nDB_PORT = fifty\n');
    expect(failure(() => loadConfig(path, {})).message).toMatch(/CLUSTER\.DB_PORT .*must be an integer, got "fifty"/);
    expect(failure(() => loadConfig(undefined, { SPARKIFY_WAREHOUSE_ENGINE: 'oracle' })).message).toMatch(
      /WAREHOUSE\.ENGINE \(SPARKIFY_WAREHOUSE_ENGINE\) must be one of pglite, postgres, redshift/,
    );
    expect(failure(() => loadConfig(undefined, { SPARKIFY_ETL_MAX_ERRORS: '-1' })).message).toMatch(/ETL\.MAX_ERRORS .*at least 0/);
  });

  it('names a required value left empty', () => {
    expect(failure(() => loadConfig(undefined, { SPARKIFY_S3_SONG_DATA: '' })).message).toMatch(/S3\.SONG_DATA is empty/);
  });

  it('names a missing config file', () => {
    expect(failure(() => loadConfig('/nonexistent/dwh.cfg', {})).message).toMatch(/\/nonexistent\/dwh\.cfg/);
  });

  it('never shows a secret when described', async () => {
    const config = loadConfig(undefined, { SPARKIFY_CLUSTER_DB_PASSWORD: 'hunter2', SPARKIFY_AWS_SECRET: 'abcd/efgh' });
    const text = JSON.stringify(describeConfig(config));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('abcd/efgh');
  });
});

describe('describeConfig', () => {
  it('lists every known setting, keyed as in dwh.cfg, with its value and source; set secrets masked', async () => {
    const path = await cfg('[CLUSTER]\nDB_PORT = 5439\n[AWS]\nSESSION_TOKEN = tok3n\n[DWH]\nDWH_DB_PASSWORD = pw\nDWH_NUM_NODES = 2\n');
    const described = describeConfig(loadConfig(path, { SPARKIFY_AWS_SECRET: 'abcd/efgh', SPARKIFY_S3_LOG_DATA: '/logs' }));
    expect(Object.keys(described)).toEqual(['CLUSTER', 'IAM_ROLE', 'S3', 'AWS', 'DWH', 'WAREHOUSE', 'ETL']);
    for (const [section, keys] of Object.entries(SETTINGS)) expect(Object.keys(described[section as keyof typeof SETTINGS])).toEqual(Object.keys(keys));
    expect(described.CLUSTER.DB_PORT).toEqual({ value: '5439', source: path });
    expect(described.CLUSTER.DB_PASSWORD).toEqual({ value: '', source: 'default' });
    expect(described.S3.LOG_DATA).toEqual({ value: '/logs', source: 'SPARKIFY_S3_LOG_DATA' });
    expect(described.AWS).toEqual({
      KEY: { value: '', source: 'default' },
      SECRET: { value: '********', source: 'SPARKIFY_AWS_SECRET' },
      SESSION_TOKEN: { value: '********', source: path },
    });
    expect(described.DWH.DWH_DB_PASSWORD).toEqual({ value: '********', source: path });
    expect(described.DWH.DWH_NUM_NODES).toEqual({ value: '2', source: path });
    expect(described.WAREHOUSE.ENGINE).toEqual({ value: 'pglite', source: 'default' });
  });

  it('formats as INI: a header per section, then `KEY = value  (source)`; a value with ; or # quoted', () => {
    const text = formatConfig(describeConfig(loadConfig(undefined, { SPARKIFY_S3_LOG_DATA: '/a;b', SPARKIFY_CLUSTER_DB_PASSWORD: 'hunter2' })));
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.filter((line) => line.startsWith('['))).toEqual(['[CLUSTER]', '[IAM_ROLE]', '[S3]', '[AWS]', '[DWH]', '[WAREHOUSE]', '[ETL]']);
    for (const line of lines) expect(line).toMatch(/^(\[[A-Z0-9_]+\]|[A-Z0-9_]+ =( \S.*)? {2}\((default|SPARKIFY_[A-Z0-9_]+)\))$/);
    expect(lines).toContain('HOST = 127.0.0.1  (default)');
    expect(lines).toContain('ARN =  (default)');
    expect(lines).toContain('LOG_DATA = "/a;b"  (SPARKIFY_S3_LOG_DATA)');
    expect(lines).toContain('DB_PASSWORD = ********  (SPARKIFY_CLUSTER_DB_PASSWORD)');
    expect(text).not.toContain('hunter2');
  });
});
