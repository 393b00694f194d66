/**
 * What a command shows off a terminal (a pipe, CI, a scheduler): timestamped lines, a line per step that
 * takes time (each with its duration), or one JSON object per line with `--log-format json`; and the run's
 * log file, which gets every line and step whatever the display shows.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/pipeline/progress.js';
import { removeTempDirs, tempDir } from '../helpers/warehouses.js';

/** A stream that is not a terminal and keeps what is written. */
const pipe = () => {
  const text: string[] = [];
  return { text, stream: { isTTY: false, write: (chunk: string) => text.push(chunk) > 0 } as unknown as NodeJS.WriteStream };
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

afterAll(removeTempDirs);

describe('progress off a terminal', () => {
  it('writes timestamped lines: a source with its total, a slow step with its duration, not the quick ones', async () => {
    const { text, stream } = pipe();
    const progress = createProgress(stream);
    const tracker = progress.track('log_data');
    tracker.total(30);
    tracker.update({ objects: 30, records: 8056, rejected: 2 });
    tracker.done();
    progress.step('transform: drop batch_songs').done();
    const slow = progress.step('transform: merge songplays');
    await sleep(550);
    slow.done();
    expect(text.every((line) => TIMESTAMP.test(line) && line.endsWith('\n'))).toBe(true);
    const lines = text.map((line) => line.replace(TIMESTAMP, '').trimEnd());
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^log_data: 30 of 30 objects, 8,056 records, 2 rejected \(\d+\.\d s\)$/);
    expect(lines[1]).toMatch(/^transform: merge songplays \(0\.[5-9] s\)$/);
  });

  it('--log-format json: one JSON object per line, each step begun and ended', () => {
    const { text, stream } = pipe();
    const progress = createProgress(stream, false, 'json');
    progress.step('quality checks').done();
    progress.log('a message');
    const entries = text.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((e) => [e.event, e.name ?? e.message])).toEqual([
      ['step-start', 'quality checks'],
      ['step', 'quality checks'],
      ['message', 'a message'],
    ]);
    for (const e of entries) expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('the log file gets every line, quick steps included, also when quiet', async () => {
    const dir = await tempDir('sparkify-log-');
    const progress = createProgress(pipe().stream, true);
    progress.logTo(join(dir, 'run.log'));
    progress.step('transform: drop batch_songs').done();
    progress.log('transform: 32 statements in 0.1 s, one transaction');
    await progress.detach();
    const lines = (await readFile(join(dir, 'run.log'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => line.replace(TIMESTAMP, ''))).toEqual([
      expect.stringMatching(/^transform: drop batch_songs \(0\.0 s\)$/),
      'transform: 32 statements in 0.1 s, one transaction',
    ]);
  });
});
