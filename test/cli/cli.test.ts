import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { ensureBuilt, ETL } from '../helpers/cli.js';

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

const REPO_ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What a usage error prints on stderr: one line, then the hint, never the whole help. */
const usage = (line: string) => `etl: ${line}\n(run \`etl --help\` or \`etl <command> --help\`)\n`;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const tempDir = () => mkdtemp(join(tmpdir(), 'sparkify-cli-'));

const COMMANDS = ['config', 'create-tables', 'extract', 'stage', 'transform', 'run', 'counts', 'query', 'report', 'generate', 'replay', 'check'];

describe('etl --help', () => {
  it.each(COMMANDS)('%s --help describes the command and exits 0', async (command) => {
    const { code, out } = await etl([command, '--help']);
    expect(code).toBe(0);
    expect(out).toContain(`Usage: etl ${command}`);
  });

  it('--version prints the version of package.json and exits 0', async () => {
    expect(await etl(['--version'])).toEqual({ code: 0, out: `${VERSION}\n`, err: '' });
  });

  it('--version works from the built CLI too (package.json found from dist/)', async () => {
    await ensureBuilt();
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [ETL, '--version'], { cwd: tmpdir() });
    expect({ stdout, stderr }).toEqual({ stdout: `${VERSION}\n`, stderr: '' });
  }, 120_000);
});

describe('a usage error', () => {
  it.each([
    [['lod'], "unknown command 'lod'"],
    [['--frob'], "unknown option '--frob'"],
    [['run', '--full-refres'], "unknown option '--full-refres' (Did you mean --full-refresh?)"],
    [['replay'], "missing required argument 'rejects-file'"],
    [['run', '--since'], "option '--since <YYYY-MM-DD>' argument missing"],
    [['run', '--max-errors', 'many'], '--max-errors must be an integer of at least 0, got "many"'],
    [['config', 'extra'], "too many arguments for 'config'. Expected 0 arguments but got 1."],
  ])('etl %j exits 2 with one line and the hint', async (args, line) => {
    expect(await etl(args)).toEqual({ code: 2, out: '', err: usage(line) });
  });
});

describe('--since and --until', () => {
  it.each([
    [['run', '--since', '2018-11-31'], '--since 2018-11-31 is not a date: expected YYYY-MM-DD'],
    [['extract', '--until', '2018-02-29'], '--until 2018-02-29 is not a date: expected YYYY-MM-DD'],
    [['run', '--dry-run', '--since', '2018-11-1'], '--since 2018-11-1 is not a date: expected YYYY-MM-DD'],
    [['run', '--dry-run', '--since', '2018-11-20', '--until', '2018-11-10'], '--since 2018-11-20 is after --until 2018-11-10'],
  ])('etl %j is a usage error, refused before any folder is made', async (args, line) => {
    const work = join(await tempDir(), 'work');
    expect(await etl(args, { SPARKIFY_ETL_WORK_DIR: work })).toEqual({ code: 2, out: '', err: usage(line) });
    expect(existsSync(work)).toBe(false);
  });
});

describe('a work folder that cannot be made', () => {
  it('exits 1 with one line naming ETL.WORK_DIR and why', async () => {
    const file = join(await tempDir(), 'a-file');
    await writeFile(file, 'not a folder');
    const work = join(file, 'work');
    const { code, out, err } = await etl(['run', '--dry-run'], { SPARKIFY_ETL_WORK_DIR: work });
    expect({ code, out }).toEqual({ code: 1, out: '' });
    expect(err).toMatch(
      new RegExp(
        `^etl: Cannot create the run folder ${escape(join(work, 'runs'))}/[^/\\s]+ under ETL\\.WORK_DIR \\(${escape(work)}\\): ` +
          `a part of the path is a file, not a folder; set ETL\\.WORK_DIR \\(or SPARKIFY_ETL_WORK_DIR\\) to a writable folder\n$`,
      ),
    );
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

  it('run --dry-run takes a leap day as --since (and a range of one day)', async () => {
    const { code, err } = await etl(['run', '--dry-run', '--since', '2020-02-29', '--until', '2020-02-29'], env);
    expect({ code, err }).toEqual({ code: 0, err: '' });
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
  const settings = { SPARKIFY_CLUSTER_DB_PASSWORD: 'hunter2', SPARKIFY_S3_LOG_DATA: '/logs/here', SPARKIFY_AWS_SESSION_TOKEN: 'tok3n' };

  it('shows the settings in effect as INI lines, keyed as in dwh.cfg, with their source; secrets masked', async () => {
    const { code, out, err } = await etl(['config'], settings);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('[CLUSTER]');
    expect(lines).toContain('LOG_DATA = /logs/here  (SPARKIFY_S3_LOG_DATA)');
    expect(lines).toContain('DB_PASSWORD = ********  (SPARKIFY_CLUSTER_DB_PASSWORD)');
    expect(lines).toContain('SESSION_TOKEN = ********  (SPARKIFY_AWS_SESSION_TOKEN)');
    expect(lines).toContain('[DWH]');
    expect(lines).toContain('DWH_NUM_NODES = 4  (default)');
    expect(lines).toContain('WORK_DIR = .sparkify  (default)');
    for (const line of lines) expect(line).toMatch(/^(\[[A-Z0-9_]+\]|[A-Z0-9_]+ =( \S.*)? {2}\(\S+\))$/);
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('tok3n');
  });

  it('--json prints one object {SECTION: {KEY: {value, source}}} and nothing else', async () => {
    const dir = await tempDir();
    const file = join(dir, 'dwh.cfg');
    await writeFile(file, '[CLUSTER]\nDB_PORT = 5439\n[DWH]\nDWH_NODE_TYPE = ra3.xlplus\n');
    const { code, out, err } = await etl(['--config', file, 'config', '--json'], settings);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const described = JSON.parse(out) as Record<string, Record<string, { value: string; source: string }>>;
    expect(Object.keys(described)).toEqual(['CLUSTER', 'IAM_ROLE', 'S3', 'AWS', 'DWH', 'WAREHOUSE', 'ETL']);
    expect(described.CLUSTER!.DB_PORT).toEqual({ value: '5439', source: file });
    expect(described.CLUSTER!.DB_PASSWORD).toEqual({ value: '********', source: 'SPARKIFY_CLUSTER_DB_PASSWORD' });
    expect(described.AWS).toEqual({
      KEY: { value: '', source: 'default' },
      SECRET: { value: '', source: 'default' },
      SESSION_TOKEN: { value: '********', source: 'SPARKIFY_AWS_SESSION_TOKEN' },
    });
    expect(described.DWH!.DWH_NODE_TYPE).toEqual({ value: 'ra3.xlplus', source: file });
    expect(described.ETL!.LOAD_MODE).toEqual({ value: 'csv', source: 'default' });
  });
});

describe('etl generate', () => {
  const files = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

  it.each([
    [['--match-share', 'abc'], '--match-share must be a number between 0 and 1, got "abc"'],
    [['--match-share', '1.5'], '--match-share must be a number between 0 and 1, got "1.5"'],
    [['--songs', '0'], '--songs must be an integer from 1 to 78364164095, got "0"'],
    [['--events', 'many'], '--events must be an integer of at least 1, got "many"'],
    [['--seed', '-1'], '--seed must be an integer of at least 0, got "-1"'],
    [['--month', '2018-13'], '--month must be a month YYYY-MM from 1970-01 on, got "2018-13"'],
    [['--month', '2018-1'], '--month must be a month YYYY-MM from 1970-01 on, got "2018-1"'],
  ])('generate %j is a usage error naming the option', async (args, line) => {
    const dir = join(await tempDir(), 'out');
    expect(await etl(['generate', dir, ...args])).toEqual({ code: 2, out: '', err: usage(line) });
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a folder that is not empty', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'notes.txt'), 'mine');
    expect(await etl(['generate', dir, '--songs', '5', '--events', '20'])).toEqual({
      code: 1,
      out: '',
      err: `etl: ${dir} is not empty: generating into it would mix old and new files; choose an empty folder or pass --force\n`,
    });
    expect(await files(dir)).toEqual(['notes.txt']);
  });

  it('--force removes the earlier song_data/ and log_data/ first, leaving other files alone', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'song_data/Z/Z/Z'), { recursive: true });
    await mkdir(join(dir, 'log_data/2017/01'), { recursive: true });
    await writeFile(join(dir, 'song_data/Z/Z/Z/OLD.json'), '{}');
    await writeFile(join(dir, 'log_data/2017/01/2017-01-01-events.json'), '{}');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const { code, err } = await etl(['generate', dir, '--songs', '5', '--events', '20', '--force']);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const after = await files(dir);
    expect(after).toContain('notes.txt');
    expect(after).toContain(join('log_data/2018/11/2018-11-30-events.json'));
    expect(after.filter((f) => f.includes('OLD') || f.includes('2017'))).toEqual([]);
  });

  it.each([['data'], ['data/song_data']])('refuses the shipped sample folder (%s), even with --force', async (sub) => {
    const shipped = join(REPO_ROOT, 'data');
    const before = await files(shipped);
    const dir = join(REPO_ROOT, sub);
    expect(await etl(['generate', dir, '--force'])).toEqual({
      code: 1,
      out: '',
      err:
        `etl: ${dir} is the project's shipped sample data, which etl generate never overwrites: generate into another folder ` +
        '(e.g. etl generate /tmp/sparkify-data) and point S3.SONG_DATA and S3.LOG_DATA (or SPARKIFY_S3_SONG_DATA, SPARKIFY_S3_LOG_DATA) at its song_data and log_data\n',
    });
    expect(await files(shipped)).toEqual(before);
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
