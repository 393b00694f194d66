/**
 * The CLI on a real pseudo-terminal (util-linux `script`), as a user types it: `etl run` draws its progress
 * bars, prints its report, gives the cursor back and exits; Ctrl-C (SIGINT) stops it with a message and
 * exit status 130, the cursor restored.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ETL } from '../helpers/cli.js';
import { REPO_ROOT, removeTempDirs, tempDir } from '../helpers/warehouses.js';
import { generate } from '../../src/generate/generator.js';

const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

interface Terminal {
  code: number | null;
  screen: string;
}

/**
 * Runs `etl args` on a pseudo-terminal; `interruptAfterMs` sends Ctrl-C that long after the bars appear,
 * `answer` is typed once a question ending in `[y/N] ` shows.
 */
function onTerminal(cwd: string, env: NodeJS.ProcessEnv, args: string[], interruptAfterMs?: number, answer?: string): Promise<Terminal> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, ETL, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd, env: { ...process.env, ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      screen += text;
      // Ctrl-C as a terminal sends it: the interrupt character, once the bars are drawn.
      if (interruptAfterMs !== undefined && screen.includes('records/s')) {
        setTimeout(() => child.stdin.write('\x03'), interruptAfterMs);
        interruptAfterMs = undefined;
      }
      if (answer !== undefined && screen.includes('[y/N] ')) {
        child.stdin.write(`${answer}\r`);
        answer = undefined;
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`etl ${args.join(' ')} did not exit within 60 s on a terminal:\n${screen.slice(-500)}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

const cursorRestored = (screen: string) => screen.lastIndexOf(SHOW_CURSOR) > screen.lastIndexOf(HIDE_CURSOR);

describe.runIf(HAS_SCRIPT)('etl on a terminal', () => {
  let cwd: string;
  beforeAll(async () => {
    await ensureBuilt();
    cwd = await tempDir('sparkify-tty-');
  });
  afterAll(removeTempDirs);

  it('`etl run` shows bars, prints its report, restores the cursor and exits 0', async () => {
    const env = { SPARKIFY_S3_SONG_DATA: join(REPO_ROOT, 'data/song_data'), SPARKIFY_S3_LOG_DATA: join(REPO_ROOT, 'data/log_data') };
    const { code, screen } = await onTerminal(cwd, env, ['run']);
    expect(code, screen.slice(-500)).toBe(0);
    expect(screen).toContain(HIDE_CURSOR);
    expect(screen).toMatch(/Run \w+-\w+ \(run, pglite\): ok/);
    // The report starts a line of its own, after the bars (never glued onto one), and nothing is drawn after it.
    // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is looked at
    expect(screen).toMatch(/\n(\x1b\[[0-9;?]*[A-Za-z])*Run \w+-\w+ \(run, pglite\): ok/);
    expect(screen.slice(screen.indexOf('Run ')).includes('records/s')).toBe(false);
    expect(cursorRestored(screen)).toBe(true);
  });

  it('`etl create-tables` asks before it drops rows: "n" keeps them, "y" drops them', async () => {
    const env = {
      SPARKIFY_S3_SONG_DATA: join(REPO_ROOT, 'data/song_data'),
      SPARKIFY_S3_LOG_DATA: join(REPO_ROOT, 'data/log_data'),
      SPARKIFY_WAREHOUSE_PGLITE_DIR: join(cwd, 'db-asked'),
    };
    expect((await onTerminal(cwd, env, ['-q', 'run'])).code).toBe(0);
    const kept = await onTerminal(cwd, env, ['create-tables'], undefined, 'n');
    expect(kept.code).toBe(1);
    expect(kept.screen).toMatch(/holds rows that create-tables drops \(staging_events 3,000, .*\)\. Drop them\? \[y\/N\] /);
    expect(kept.screen).toContain('etl: create-tables stopped: nothing was dropped');
    const dropped = await onTerminal(cwd, env, ['create-tables'], undefined, 'y');
    expect(dropped.code, dropped.screen.slice(-300)).toBe(0);
    expect(dropped.screen).toContain('Created staging_events');
  });

  it('Ctrl-C stops a run with a message and exit status 130, the cursor restored', async () => {
    const data = join(cwd, 'big');
    await generate({ dir: data, songs: 500, events: 400_000, seed: 5, matchShare: 0.3, month: '2018-11' });
    const env = { SPARKIFY_S3_SONG_DATA: join(data, 'song_data'), SPARKIFY_S3_LOG_DATA: join(data, 'log_data'), SPARKIFY_WAREHOUSE_PGLITE_DIR: join(cwd, 'db-interrupted') };
    const { code, screen } = await onTerminal(cwd, env, ['run'], 300);
    expect(code, screen.slice(-500)).toBe(130);
    expect(screen).toContain('etl: interrupted (SIGINT)');
    expect(cursorRestored(screen)).toBe(true);
  });
});
