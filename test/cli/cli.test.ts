import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';

/** Runs the CLI in this process with the given SPARKIFY_* settings; captures what it prints. */
async function etl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  try {
    const code = await main(['node', 'etl', '--quiet', ...args]);
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    vi.unstubAllEnvs();
  }
}

afterEach(() => vi.unstubAllEnvs());

const COMMANDS = ['config', 'create-tables', 'extract', 'stage', 'transform', 'run', 'counts', 'query', 'report', 'generate', 'replay', 'check'];

describe('etl --help', () => {
  it.each(COMMANDS)('%s --help describes the command and exits 0', async (command) => {
    const { code, out } = await etl([command, '--help']);
    expect(code).toBe(0);
    expect(out).toContain(`Usage: etl ${command}`);
  });

  it('an unknown command exits non-zero', async () => {
    expect((await etl(['lod'])).code).not.toBe(0);
  });
});

describe('a wrong setting', () => {
  it('exits 1 with one line naming the setting, no stack trace', async () => {
    const { code, err } = await etl(['counts'], { SPARKIFY_WAREHOUSE_ENGINE: 'oracle' });
    expect(code).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^etl: Setting WAREHOUSE\.ENGINE \(SPARKIFY_WAREHOUSE_ENGINE\) must be one of/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('an unreachable PostgreSQL server gets one line naming host and port', async () => {
    const { code, err } = await etl(['counts'], { SPARKIFY_WAREHOUSE_ENGINE: 'postgres', SPARKIFY_CLUSTER_DB_PORT: '1' });
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^etl: Cannot connect to PostgreSQL at 127\.0\.0\.1:1, .*connection refused/);
    expect(err.trim().split('\n')).toHaveLength(1);
  });

  it('a missing source folder gets one line naming it', async () => {
    const work = await mkdtemp(join(tmpdir(), 'sparkify-cli-'));
    const { code, err } = await etl(['run', '--dry-run'], { SPARKIFY_S3_SONG_DATA: join(work, 'nope'), SPARKIFY_ETL_WORK_DIR: work });
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^etl: Source folder .*nope does not exist/);
  });
});

describe('generate, run, counts, query, report on the embedded warehouse', () => {
  let env: Record<string, string>;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sparkify-cli-'));
    env = {
      SPARKIFY_S3_SONG_DATA: join(dir, 'data/song_data'),
      SPARKIFY_S3_LOG_DATA: join(dir, 'data/log_data'),
      SPARKIFY_WAREHOUSE_PGLITE_DIR: join(dir, 'pglite'),
      SPARKIFY_ETL_WORK_DIR: join(dir, 'work'),
      SPARKIFY_ETL_WORKERS: '1',
    };
    const generated = await etl(['generate', join(dir, 'data'), '--songs', '50', '--events', '600', '--seed', '3'], env);
    expect(generated.code).toBe(0);
  });

  it('run --dry-run validates and prints what would be loaded, touching no warehouse', async () => {
    const { code, out } = await etl(['run', '--dry-run'], env);
    expect(code).toBe(0);
    expect(out).toMatch(/dry run/);
    expect(out).toMatch(/events: .* 600 records read, 600 valid, 0 rejected/);
  });

  it('run loads; counts --json and query --json show it', async () => {
    const run = await etl(['run'], env);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toMatch(/checks: \d+ of \d+ passed/);
    const counts = JSON.parse((await etl(['counts', '--json'], env)).out) as Record<string, number>;
    expect(counts.staging_events).toBe(600);
    expect(counts.staging_songs).toBe(50);
    const rows = JSON.parse((await etl(['query', 'SELECT COUNT(*) AS n FROM songplays', '--json'], env)).out) as { n: number }[];
    expect(rows).toEqual([{ n: counts.songplays }]);
    const table = await etl(['counts'], env);
    expect(table.out).toMatch(/^table\s+\| rows/);
    expect(table.out).toMatch(/songplays\s+\|\s+\d+/);
    const report = await etl(['report', '--json'], env);
    expect(JSON.parse(report.out)).toMatchObject({ command: 'run', status: 'ok' });
  });

  it('a failing query gets one line', async () => {
    const { code, err } = await etl(['query', 'SELECT nope FROM songplays'], env);
    expect(code).toBe(1);
    expect(err.trim()).toMatch(/^etl: Query failed: column "nope" does not exist/);
    expect(err.trim().split("\n")).toHaveLength(1);
  });
});

describe('etl config', () => {
  it('shows the settings in effect with secrets masked', async () => {
    const { code, out } = await etl(['config'], { SPARKIFY_CLUSTER_DB_PASSWORD: 'hunter2', SPARKIFY_S3_LOG_DATA: '/logs/here' });
    expect(code).toBe(0);
    expect(out).toContain('/logs/here');
    expect(out).toContain('********');
    expect(out).not.toContain('hunter2');
  });
});

describe('--print-sql', () => {
  it('prints the Redshift statements without connecting and without secrets', async () => {
    const { code, out } = await etl(['run', '--print-sql'], {
      SPARKIFY_WAREHOUSE_ENGINE: 'redshift',
      SPARKIFY_S3_STAGING: 's3://my-bucket/staging/',
      SPARKIFY_AWS_KEY: 'ASIAABCDEFGHIJKLMNOP',
      SPARKIFY_AWS_SECRET: 'very/secret+value',
      SPARKIFY_CLUSTER_DB_PASSWORD: 'hunter2',
    });
    expect(code).toBe(0);
    expect(out).toContain("FROM 's3://my-bucket/staging/<run-id>/staging_events.manifest'");
    expect(out).toContain('MERGE INTO songplays');
    expect(out).toContain('LOCK load_ledger');
    expect(out).not.toContain('very/secret+value');
    expect(out).not.toContain('hunter2');
  });

  it('create-tables --print-sql prints the DDL of the configured engine', async () => {
    const { out } = await etl(['create-tables', '--print-sql'], { SPARKIFY_WAREHOUSE_ENGINE: 'redshift' });
    expect(out).toContain('songplay_id BIGINT IDENTITY(0,1)');
    const pg = await etl(['create-tables', '--print-sql'], { SPARKIFY_WAREHOUSE_ENGINE: 'postgres' });
    expect(pg.out).toContain('songplay_id BIGINT GENERATED BY DEFAULT AS IDENTITY');
  });
});
