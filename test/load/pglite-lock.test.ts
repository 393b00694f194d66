/**
 * The lock of a PGlite data directory (src/load/pglite/directory-lock.ts), with real files and real processes:
 *
 * - a live holder's lock is never taken, however long it has been silent; the refusal is one line naming the
 *   holder (pid, command, since) and what to do;
 * - a holder that has gone (killed: its pid no longer runs, or names a process started at another time) is
 *   taken over, with a notice naming it; of several contenders racing for it, exactly one gets it;
 * - a holder on another host, or a lock that says no holder, is refused with how to remove it by hand;
 * - the lock goes with its process on every exit but SIGKILL;
 * - issue 13's reproduction with the built CLI: `etl query "SELECT pg_sleep(..)"` holds the warehouse past the
 *   old 10 s staleness; an `etl run` started meanwhile is refused in one line, and afterwards the directory
 *   opens with the counts it had.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { lockDirectory, removeGoneHolder, type LockHolder } from '../../src/load/pglite/directory-lock.js';
import { bootId, processStartTime } from '../../src/process-alive.js';
import { ensureBuilt, etl, type Outcome } from '../helpers/cli.js';
import { REPO_ROOT, removeTempDirs, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const LOCK_MODULE = join(REPO_ROOT, 'src/load/pglite/directory-lock.ts');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SUBJECT = 'the test directory';
const SINCE = String.raw`since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`;

afterAll(removeTempDirs);

interface Child {
  readonly pid: number;
  /** stdout so far. */
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * A Node process that runs `body` (an ES module's code) with `lockDirectory` imported from the source, for
 * `dir` (DIR) and the subject and command of these tests.
 */
function child(dir: string, body: string, env: Record<string, string> = {}): Child {
  const code = `import { lockDirectory } from ${JSON.stringify(LOCK_MODULE)};
const DIR = ${JSON.stringify(dir)};
const take = () => lockDirectory(DIR, { subject: ${JSON.stringify(SUBJECT)}, command: 'child' });
${body}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  proc.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { pid: proc.pid!, output: () => stdout, exited, kill: (signal) => proc.kill(signal) };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A lock file as another process would have written it. */
async function writeLock(dir: string, holder: Partial<LockHolder>): Promise<void> {
  const full: LockHolder = { pid: 1, host: hostname(), command: 'etl run', since: new Date().toISOString(), token: 'other', ...holder };
  await writeFile(`${dir}.lock`, JSON.stringify(full) + '\n');
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const gone = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => gone.on('close', resolve));
  return gone.pid!;
}

describe('the lock of a data directory', () => {
  let root: string;
  let n = 0;
  const newDir = () => join(root, `dir${n++}`);

  beforeAll(async () => {
    root = await tempDir('sparkify-lock-');
  });

  it('refuses a second taker in one line naming the holder, until the holder releases it', async () => {
    const dir = newDir();
    const first = await lockDirectory(dir, { subject: SUBJECT, command: 'etl query SELECT 1' });
    expect(JSON.parse(await readFile(`${dir}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname(), command: 'etl query SELECT 1' });
    await expect(lockDirectory(dir, { subject: SUBJECT })).rejects.toThrow(
      new RegExp(`^The test directory is in use by another etl command, process ${process.pid} \\(\`etl query SELECT 1\`, ${SINCE}\\): wait for it to finish, then run this again$`),
    );
    await first.release();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    const second = await lockDirectory(dir, { subject: SUBJECT });
    await second.release();
  });

  it('takes over the lock of a killed holder, with a notice naming it', async () => {
    const dir = newDir();
    const holder = child(dir, `await take(); console.log('locked'); setInterval(() => {}, 1000);`);
    await until(() => holder.output().includes('locked'), 'the child to lock');
    holder.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    // SIGKILL leaves the lock behind...
    expect(JSON.parse(await readFile(`${dir}.lock`, 'utf8'))).toMatchObject({ pid: holder.pid, command: 'child' });
    // ...for the next taker, since its process is gone.
    const notices: string[] = [];
    const lock = await lockDirectory(dir, { subject: SUBJECT, notice: (m) => notices.push(m) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(new RegExp(`^Took over the lock of the test directory: process ${holder.pid}, which held it ${SINCE}, has exited \\(it ran \`child\`\\)$`));
    expect(JSON.parse(await readFile(`${dir}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, token: lock.holder.token });
    await lock.release();
  });

  it.skipIf(processStartTime(process.pid) === undefined)('does not take a process that got the pid since for the holder: its start time differs', async () => {
    // This process's pid, alive, but recorded with another start time: the holder it names has gone.
    const dir = newDir();
    await writeLock(dir, { pid: process.pid, started: '1', ...(bootId() ? { boot: bootId() } : {}) });
    const notices: string[] = [];
    const lock = await lockDirectory(dir, { subject: SUBJECT, notice: (m) => notices.push(m) });
    expect(notices[0]).toMatch(new RegExp(`^Took over the lock of the test directory: process ${process.pid},`));
    await lock.release();

    // With the right start time it is this (live) process: refused.
    await writeLock(dir, { pid: process.pid, started: processStartTime(process.pid)! });
    await expect(lockDirectory(dir, { subject: SUBJECT })).rejects.toThrow(/is in use by another etl command/);
  });

  it('refuses a lock of another host, saying how to remove it by hand', async () => {
    const dir = newDir();
    await writeLock(dir, { pid: await deadPid(), host: 'other-host', command: 'etl run --full-refresh' });
    await expect(lockDirectory(dir, { subject: SUBJECT })).rejects.toThrow(
      new RegExp(
        `^The test directory is locked by process \\d+ \\(\`etl run --full-refresh\`, ${SINCE}\\) on host other-host, which this host cannot check: if no etl command is working on it there, remove ${dir}\\.lock and run this again$`,
      ),
    );
    expect(existsSync(`${dir}.lock`)).toBe(true);
  });

  it('refuses a lock that names no holder (an earlier version left a directory there), naming it', async () => {
    const dir = newDir();
    await mkdir(`${dir}.lock`);
    await expect(lockDirectory(dir, { subject: SUBJECT })).rejects.toThrow(
      new RegExp(`^The test directory is locked by ${dir}\\.lock, which does not say who holds it .*: if no etl command is working on it, remove it \\(rm -r ${dir}\\.lock\\) and run this again$`),
    );
  });

  it.each([
    ['process.exit', `await take(); process.exit(3);`, 3],
    ['the end of the event loop', `await take();`, 0],
    ['an uncaught error', `await take(); setTimeout(() => { throw new Error('boom'); }, 10);`, 1],
  ])('goes with its process on %s', async (_, body, code) => {
    const dir = newDir();
    const exited = await child(dir, body).exited;
    expect(exited.code, exited.stderr).toBe(code);
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it('a taker-over that found the holder gone leaves the lock alone if another took it over meanwhile', async () => {
    // The race a takeover must win: B reads the lock of a gone holder, A takes it over, then B goes on.
    const dir = newDir();
    const gone = { pid: await deadPid(), host: hostname(), command: 'etl run', since: new Date().toISOString(), token: 'gone' };
    await writeLock(dir, gone);
    const a = await lockDirectory(dir, { subject: SUBJECT });
    const b = { ...gone, pid: process.pid, token: 'b' };
    expect(await removeGoneHolder(`${dir}.lock`, gone, b)).toBe(false);
    expect(JSON.parse(await readFile(`${dir}.lock`, 'utf8'))).toMatchObject({ token: a.holder.token });
    expect(existsSync(`${dir}.lock.takeover`)).toBe(false);
    await a.release();
  });

  it('clears a takeover lock left by a process that died taking over', async () => {
    const dir = newDir();
    await writeLock(dir, { pid: await deadPid() });
    await writeFile(`${dir}.lock.takeover`, JSON.stringify({ pid: await deadPid(), host: hostname(), command: 'etl run', since: new Date().toISOString(), token: 'died' }));
    const lock = await lockDirectory(dir, { subject: SUBJECT });
    expect(existsSync(`${dir}.lock.takeover`)).toBe(false);
    await lock.release();
  });

  it('of contenders racing for the lock of a holder that has gone, gives it to exactly one', async () => {
    const dir = newDir();
    await writeLock(dir, { pid: await deadPid() });
    // Each waits for the same moment, then takes; the winner holds on long enough for the others to see it.
    const at = String(Date.now() + 4000);
    const contenders = Array.from({ length: 4 }, () =>
      child(
        dir,
        `while (Date.now() < Number(process.env.AT)) await new Promise((r) => setTimeout(r, 2));
try { await take(); console.log('got'); await new Promise((r) => setTimeout(r, 1500)); }
catch (error) { console.log('refused: ' + error.message); }`,
        { AT: at },
      ),
    );
    const outputs = (await Promise.all(contenders.map((c) => c.exited))).map((e) => e.stdout.trim());
    expect(outputs.filter((o) => o === 'got'), outputs.join('\n')).toHaveLength(1);
    for (const o of outputs.filter((o) => o !== 'got')) expect(o).toMatch(/^refused: The test directory is in use by another etl command, process \d+ \(`child`/);
  });
});

describe('issue 13: a long statement holds the embedded warehouse for as long as it runs', () => {
  let warehouse: TestWarehouse;
  let config: Config;
  const ok = (outcome: Outcome) => expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });
  const counts = async () => {
    const outcome = await etl(config, ['counts', '--json']);
    ok(outcome);
    expect(outcome.stderr).toBe('');
    return JSON.parse(outcome.stdout) as Record<string, number>;
  };
  /** The lock file's holder, once a process has taken it. */
  const lockHolder = async () => JSON.parse(await readFile(`${config.warehouse.pgliteDir}.lock`, 'utf8').catch(() => 'null')) as LockHolder | null;

  beforeAll(async () => {
    const data = await tempDir('sparkify-lock-data-');
    await Promise.all([ensureBuilt(), generate({ dir: data, songs: 100, events: 2000, seed: 13, matchShare: 0.3 })]);
    warehouse = await testWarehouse('pglite', 'lock');
    config = warehouse.config({ songData: join(data, 'song_data'), logData: join(data, 'log_data') });
    ok(await etl(config, ['-q', 'run']));
  }, 180_000);
  afterAll(async () => warehouse?.dispose());

  it('`etl run` started while `etl query` sleeps past the old 10 s staleness is refused in one line; the directory is intact', async () => {
    const before = await counts();
    expect(before.songplays).toBeGreaterThan(0);

    const query = etl(config, ['query', 'SELECT pg_sleep(14) AS s']);
    await until(async () => (await lockHolder())?.command.includes('pg_sleep') ?? false, 'the query to lock the directory');
    const holder = (await lockHolder())!;
    // Longer than the old lock's staleness: nothing refreshes a lock while PGlite runs a statement.
    await sleep(11_000);
    const second = await etl(config, ['run']);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr.trim()).toMatch(
      new RegExp(
        `^etl: The embedded warehouse at .* \\(WAREHOUSE.PGLITE_DIR\\) is in use by another etl command, process ${holder.pid} \\(\`etl query SELECT pg_sleep\\(14\\) AS s\`, ${SINCE}\\): wait for it to finish, then run this again$`,
      ),
    );

    const slept = await query;
    ok(slept);
    expect(slept.stdout).toContain('(1 row)');
    expect(await lockHolder()).toBeNull();

    // The directory opens cleanly, as it was; and takes the next run.
    expect(await counts()).toEqual(before);
    const next = await etl(config, ['-q', 'run']);
    ok(next);
    const after = await counts();
    for (const table of ['songplays', 'users', 'songs', 'artists', 'time']) expect(after[table], table).toBe(before[table]);
  });

  it('SIGTERM during a long statement: the command exits 143 once it ends, and its lock goes with it', async () => {
    const query = etl(config, ['query', 'SELECT pg_sleep(2) AS s']);
    await until(async () => (await lockHolder())?.command.includes('pg_sleep(2)') ?? false, 'the query to lock the directory');
    process.kill((await lockHolder())!.pid, 'SIGTERM');
    const outcome = await query;
    expect(outcome.code, outcome.stderr).toBe(143);
    expect(await lockHolder()).toBeNull();
  });
});
