/**
 * The run history (issue 9), on PGlite and PostgreSQL: every command that works on the warehouse leaves a row
 * in etl_runs (started when it holds the run lock, ended ok, failed or interrupted); `etl runs` lists them;
 * `etl report RUN_ID` reads a run back from the warehouse once its folder is gone; a command refused by the
 * run lock is no run at all; SIGINT in the middle of the transform is recorded as an interruption. And the
 * retention of run folders (ETL.KEEP_RUNS, `etl clean`).
 */
import { appendFile, cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { openWarehouse } from '../../src/load/connect.js';
import type { Warehouse } from '../../src/load/warehouse.js';
import { fitText, type RunRecord } from '../../src/pipeline/history.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { IN_PROGRESS_FILE } from '../../src/pipeline/retention.js';
import { cleanRuns, extract, findReport, readReport, run, runsDir } from '../../src/pipeline/run.js';
import { ensureBuilt, etl, type Outcome, stepStarts } from '../helpers/cli.js';
import { etlConfig, REPO_ROOT, removeTempDirs, runPgTests, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const progress = createProgress(process.stderr, true);

const ok = (outcome: Outcome) => expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });


/** The shipped sample with one malformed event line: each run rejects one record. */
let sample: { songData: string; logData: string };
/** A batch whose transform takes long enough to be interrupted in the middle. */
let generated: { songData: string; logData: string };

beforeAll(async () => {
  const root = await tempDir('sparkify-history-');
  await cp(join(REPO_ROOT, 'data'), join(root, 'sample'), { recursive: true });
  await appendFile(join(root, 'sample/log_data/2018/11/2018-11-01-events.json'), '{"ts": "not a number"\n');
  sample = { songData: join(root, 'sample/song_data'), logData: join(root, 'sample/log_data') };
  await Promise.all([ensureBuilt(), generate({ dir: join(root, 'generated'), songs: 150, events: 4000, seed: 3, matchShare: 0.3 })]);
  generated = { songData: join(root, 'generated/song_data'), logData: join(root, 'generated/log_data') };
}, 180_000);

afterAll(removeTempDirs);

/** The rows of etl_runs, newest first (none when it does not exist). */
async function historyRows(warehouse: TestWarehouse | Warehouse): Promise<Record<string, unknown>[]> {
  const read = async (w: Warehouse) => {
    const exists = await w.query(`SELECT table_name FROM information_schema.tables WHERE table_name = 'etl_runs'`);
    if (exists.rows.length === 0) return [];
    return (await w.query('SELECT * FROM etl_runs ORDER BY started_at DESC, run_id DESC')).rows;
  };
  return 'use' in warehouse ? warehouse.use(read) : read(warehouse);
}

const runFolders = async (config: Config) => (await readdir(runsDir(config)).catch(() => [] as string[])).filter((n) => /^\d{8}T/.test(n)).sort();

describe.each(ENGINES)('the run history on %s', (engine) => {
  let warehouse: TestWarehouse;
  let config: Config;
  let okRun: RunReport;
  let failedRun: RunReport;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'history');
    config = warehouse.config(sample);
  });
  afterAll(async () => warehouse?.dispose());

  it('`etl runs` on a warehouse without etl_runs says there is no history yet', async () => {
    const text = await etl(config, ['runs']);
    ok(text);
    expect(text.stdout).toMatch(/^No run history yet on (PGlite|PostgreSQL) at .*: etl_runs is created by the first `etl run`/);
    const json = await etl(config, ['runs', '--json']);
    ok(json);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('records an ok run and a failed one: status, times, rows added, rejected records, error', async () => {
    okRun = await run({ config, progress });
    expect(okRun.status).toBe('ok');
    // Everything again, with no rejection tolerated: the error budget fails it before the transform.
    const error = await run({ config, progress, fullRefresh: true, maxErrors: 0 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/MAX_ERRORS = 0/);
    failedRun = await readReport(config);
    expect(failedRun.status).toBe('failed');

    const rows = await historyRows(warehouse);
    expect(rows).toHaveLength(2);
    const [failed, done] = rows as [Record<string, unknown>, Record<string, unknown>];
    expect(done).toMatchObject({ run_id: okRun.runId, command: 'run', status: 'ok', rejected: 1, error_message: null });
    expect(JSON.parse(String(done.rows_added))).toEqual(okRun.rowsAdded);
    expect(okRun.rowsAdded.songplays).toBeGreaterThan(0);
    expect(done.finished_at).not.toBeNull();
    expect(String(done.started_at).slice(0, 19)).toBe(okRun.startedAt.slice(0, 19).replace('T', ' '));
    expect(failed).toMatchObject({ run_id: failedRun.runId, command: 'run', status: 'failed', rejected: 1, error_message: failedRun.error });
  });

  it('`etl runs` lists them newest first; --json and --limit', async () => {
    const text = await etl(config, ['runs']);
    ok(text);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run_id\s+\| command \| status\s+\| started \(UTC\)\s+\| duration \| rows added\s+\| rejected \| error$/);
    expect(lines[2]).toMatch(new RegExp(`^${failedRun.runId} \\| run\\s+\\| failed \\| \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+\\| \\d+\\.\\d s\\s+\\| .* \\| +1 \\| \\d+ records were rejected, more than MAX_ERRORS = 0`));
    expect(lines[3]).toMatch(new RegExp(`^${okRun.runId} \\| run\\s+\\| ok\\s+\\| .*\\| .*songplays ${okRun.rowsAdded.songplays!.toLocaleString('en-US')}.*\\| +1 \\|$`));
    expect(lines.at(-1)).toBe('(2 rows)');

    const json = await etl(config, ['runs', '--json', '--limit', '1']);
    ok(json);
    const runs = JSON.parse(json.stdout) as RunRecord[];
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId: failedRun.runId, command: 'run', status: 'failed', rejected: 1, error: failedRun.error });
    expect(runs[0]!.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(runs[0]!.startedAt).toBe(failedRun.startedAt);
  });

  it('`etl report RUN_ID` reads the run from etl_runs once its folder is gone, and says so', async () => {
    const local = await etl(config, ['report', failedRun.runId]);
    ok(local);
    expect(local.stdout).toContain(`from: ${join(runsDir(config), failedRun.runId, 'report.json')}`);

    await rm(join(runsDir(config), okRun.runId), { recursive: true });
    const text = await etl(config, ['report', okRun.runId]);
    ok(text);
    expect(text.stdout).toMatch(new RegExp(`^Run ${okRun.runId} \\(run, ${engine}\\): ok\n`));
    expect(text.stdout).toContain(`rows added: staging_songs ${okRun.rowsAdded.staging_songs}`);
    expect(text.stdout).toContain(`rejected: 1 records (load_errors rows of run_id '${okRun.runId}')`);
    expect(text.stdout).toMatch(/from: etl_runs on (PGlite|PostgreSQL) at /);
    const json = await etl(config, ['report', okRun.runId, '--json']);
    ok(json);
    expect(JSON.parse(json.stdout)).toMatchObject({ runId: okRun.runId, status: 'ok', rowsAdded: okRun.rowsAdded, rejected: 1, startedAt: okRun.startedAt, from: expect.stringMatching(/^etl_runs on /) });

    const unknown = await etl(config, ['report', '20000101T000000000Z-none']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^etl: No report for run 20000101T000000000Z-none: no folder in .*, and etl_runs on .* has no such run\n$/);
  });

  it('a run refused by the run lock leaves no folder, does not become the latest and has no etl_runs row', async () => {
    const foldersBefore = await runFolders(config);
    const rowsBefore = await historyRows(warehouse);
    // Another command holds the warehouse: PGlite's directory open, or the lease row on PostgreSQL.
    const holder = await openWarehouse(config);
    try {
      await holder.lockRuns({ command: 'etl test', ttlMs: 60_000 });
      await expect(run({ config, progress })).rejects.toThrow(/in use by another etl command|has held the run lock/);
      expect(await historyRows(holder)).toEqual(rowsBefore);
    } finally {
      await holder.close();
    }
    expect(await runFolders(config)).toEqual(foldersBefore);
    expect((await readReport(config)).runId).toBe(failedRun.runId);
    expect((await findReport(config)).report.runId).toBe(failedRun.runId);
  });

  it('SIGINT in the middle of the transform: report.json and etl_runs say interrupted, the transform is rolled back', async () => {
    const own = await testWarehouse(engine, 'history_sigint');
    try {
      const sigint = own.config(generated);
      let sent = false;
      const outcome = await etl(sigint, ['--log-format', 'json', 'run'], (line, child) => {
        if (!sent && stepStarts(line, 'transform: merge songplays')) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      expect(sent).toBe(true);
      expect(outcome.code, outcome.stderr).toBe(130);
      expect(outcome.stderr).toContain('etl: interrupted (SIGINT)');
      const [id] = await runFolders(sigint);
      const report = JSON.parse(await readFile(join(runsDir(sigint), id!, 'report.json'), 'utf8')) as RunReport;
      expect(report).toMatchObject({ runId: id, status: 'interrupted', error: 'SIGINT received' });
      expect(report.finishedAt).toBeDefined();
      expect(existsSync(join(runsDir(sigint), id!, IN_PROGRESS_FILE))).toBe(false);
      const rows = await historyRows(own);
      expect(rows).toEqual([expect.objectContaining({ run_id: id, command: 'run', status: 'interrupted', error_message: 'SIGINT received' })]);
      expect(rows[0]!.finished_at).not.toBeNull();
      // The transform's transaction did not commit (PGlite: rolled back before the history row was written).
      const counts = await own.use((w) => w.query('SELECT (SELECT COUNT(*) FROM songplays) AS plays, (SELECT COUNT(*) FROM load_ledger) AS ledger'));
      expect(counts.rows[0]).toEqual({ plays: 0, ledger: 0 });
      // `etl report` of an interrupted run says so.
      const shown = await etl(sigint, ['report']);
      ok(shown);
      expect(shown.stdout).toMatch(/\(run, \w+\): interrupted \(SIGINT received\)/);
    } finally {
      await own.dispose();
    }
  });
});

describe('retention of run folders', () => {
  let config: Config;
  let runs: string;
  const old = (i: number) => `20000101T00000000${i}Z-old${i}`;

  beforeAll(async () => {
    const workDir = await tempDir('sparkify-retention-');
    const loaded = etlConfig({ ...sample, workDir, engine: 'pglite' });
    config = { ...loaded, etl: { ...loaded.etl, keepRuns: 2 } };
    runs = runsDir(config);
  });

  /** A finished run of long ago, with a report and local staging parts. */
  const oldRun = async (name: string, marker?: object) => {
    await mkdir(join(runs, name, 'staging/staging_events'), { recursive: true });
    await writeFile(join(runs, name, 'report.json'), '{}\n');
    await writeFile(join(runs, name, 'staging/staging_events/part-00000.csv'), 'x\n');
    if (marker) await writeFile(join(runs, name, IN_PROGRESS_FILE), JSON.stringify(marker));
  };

  it('after a run keeps the newest ETL.KEEP_RUNS folders, never one in progress, nothing that is not a run folder', async () => {
    for (let i = 1; i <= 5; i++) await oldRun(old(i));
    // Still working (this very process), and killed long ago (no such process).
    await oldRun('20000101T000000000Z-live', { pid: process.pid, host: hostname() });
    await oldRun('20000101T000000000Z-dead', { pid: 2 ** 30, host: hostname() });
    const outside = await tempDir('sparkify-outside-');
    await writeFile(join(outside, 'precious.txt'), 'keep\n');
    await symlink(outside, join(runs, '20000101T000000000Z-link'));
    await mkdir(join(runs, 'not-a-run'));
    await writeFile(join(runs, 'notes.txt'), 'mine\n');

    const extracted = await extract({ config, progress, fullRefresh: true });
    expect(extracted.status).toBe('ok');
    expect(existsSync(join(runs, extracted.runId, IN_PROGRESS_FILE))).toBe(false);
    expect((await readdir(runs)).sort()).toEqual(
      ['20000101T000000000Z-link', '20000101T000000000Z-live', old(5), extracted.runId, 'LATEST_EXTRACT', 'not-a-run', 'notes.txt'].sort(),
    );
    expect(await readFile(join(outside, 'precious.txt'), 'utf8')).toBe('keep\n');
  });

  it('`etl clean --dry-run` says what would go; `etl clean --keep N` removes it and says so; the latest extract stays', async () => {
    await oldRun(old(4));
    await oldRun(old(3));
    const before = (await readdir(runs)).sort();
    const dry = await etl(config, ['clean', '--keep', '1', '--dry-run']);
    ok(dry);
    expect(dry.stdout).toBe(
      [old(5), old(4), old(3)].map((name) => `would remove ${join(runs, name)}\n`).join('') + `Would remove 3 run folders from ${runs}; 2 kept\n`,
    );
    expect((await readdir(runs)).sort()).toEqual(before);

    const clean = await etl(config, ['clean', '--keep', '0']);
    ok(clean);
    expect(clean.stdout).toBe([old(5), old(4), old(3)].map((name) => `removed ${join(runs, name)}\n`).join('') + `Removed 3 run folders from ${runs}; 2 kept\n`);
    // The latest extract (what `etl stage` loads next) and the run in progress stay, even with --keep 0.
    expect((await readdir(runs)).filter((n) => /^\d{8}T/.test(n)).sort()).toEqual(['20000101T000000000Z-link', '20000101T000000000Z-live', (await readReport(config)).runId].sort());
    expect((await cleanRuns(config, { keep: 0 })).removed).toEqual([]);
  });
});

describe('fitText', () => {
  it('keeps what a VARCHAR of n bytes holds, cut at a whole character, NUL replaced', () => {
    expect(fitText('short')).toBe('short');
    expect(fitText('a\u0000b')).toBe('a\ufffdb');
    const cut = fitText('é'.repeat(10), 10);
    expect(cut).toBe('ééé...');
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(10);
  });
});
