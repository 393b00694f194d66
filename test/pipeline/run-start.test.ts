/**
 * What a run checks before it creates anything: the --since/--until days (real calendar days, in order), and
 * a run folder that cannot be made, said as one line naming ETL.WORK_DIR.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { EtlError } from '../../src/errors.js';
import { dayProblem, dayRangeProblem, isDay } from '../../src/pipeline/object-selection.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { dryRun, runFolderError } from '../../src/pipeline/run.js';

describe('days', () => {
  it('accepts real calendar days only', () => {
    expect(isDay('2018-11-30')).toBe(true);
    expect(isDay('2020-02-29')).toBe(true);
    expect(isDay('2018-11-31')).toBe(false);
    expect(isDay('2018-02-29')).toBe(false);
    expect(isDay('2018-13-01')).toBe(false);
    expect(isDay('2018-11-1')).toBe(false);
    expect(isDay('yesterday')).toBe(false);
  });

  it('says which flag is not a date, or that the range is empty', () => {
    expect(dayProblem('--since', '2018-11-31')).toBe('--since 2018-11-31 is not a date: expected YYYY-MM-DD');
    expect(dayRangeProblem(undefined, '2018-02-29')).toBe('--until 2018-02-29 is not a date: expected YYYY-MM-DD');
    expect(dayRangeProblem('2018-11-20', '2018-11-10')).toBe('--since 2018-11-20 is after --until 2018-11-10');
    expect(dayRangeProblem('2018-11-10', '2018-11-10')).toBeUndefined();
    expect(dayRangeProblem('2020-02-29', undefined)).toBeUndefined();
    expect(dayRangeProblem(undefined, undefined)).toBeUndefined();
  });

  it('a run given an empty range fails before it creates its folder', async () => {
    const work = join(await mkdtemp(join(tmpdir(), 'sparkify-start-')), 'work');
    const config = loadConfig(undefined, { SPARKIFY_ETL_WORK_DIR: work });
    const run = dryRun({ config, progress: createProgress(process.stderr, true), since: '2018-11-20', until: '2018-11-10' });
    await expect(run).rejects.toThrow(new EtlError('--since 2018-11-20 is after --until 2018-11-10'));
    expect(existsSync(work)).toBe(false);
  });
});

describe('runFolderError', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: mkdir failed`), { code });
  const message = (reason: string) =>
    `Cannot create the run folder /w/runs/1 under ETL.WORK_DIR (/w): ${reason}; set ETL.WORK_DIR (or SPARKIFY_ETL_WORK_DIR) to a writable folder`;

  it.each([
    ['EACCES', 'permission denied'],
    ['EPERM', 'permission denied'],
    ['EROFS', 'the file system is read-only'],
    ['ENOENT', 'a folder on the way does not exist'],
    ['ENOTDIR', 'a part of the path is a file, not a folder'],
    ['ENOSPC', 'no space left on the device'],
  ])('%s says %s, naming the setting', (code, reason) => {
    const error = runFolderError(errno(code), '/w/runs/1', '/w');
    expect(error).toBeInstanceOf(EtlError);
    expect(error.message).toBe(message(reason));
  });

  it('another error keeps its own description', () => {
    expect(runFolderError(errno('EIO'), '/w/runs/1', '/w').message).toBe(message('EIO: mkdir failed'));
  });
});
