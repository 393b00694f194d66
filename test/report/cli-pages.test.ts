/** `etl docs`, `etl insights` and `etl report --html` through the built CLI: output, files written, one-line errors. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { etlConfig, FIXTURES, freshPgliteDir, removeTempDirs, tempDir } from '../helpers/warehouses.js';
import type { Config } from '../../src/config/config.js';

let config: Config;

beforeAll(async () => {
  await ensureBuilt();
  const workDir = await tempDir('sparkify-cli-pages-');
  config = etlConfig({ songData: join(FIXTURES, 'samples/song_data'), logData: join(FIXTURES, 'samples/log_data'), workDir, engine: 'pglite', pgliteDir: await freshPgliteDir() });
});
afterAll(removeTempDirs);

describe('etl docs, insights and report --html', () => {
  it('etl docs prints the dictionary; --html writes a page', async () => {
    const text = await etl(config, ['docs']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('songplays (fact)');
    expect(text.stdout).toContain('Redshift: DISTSTYLE KEY DISTKEY(start_time) SORTKEY(start_time)');
    const file = join(config.etl.workDir, 'docs.html');
    const html = await etl(config, ['docs', '--html', file]);
    expect(html.code).toBe(0);
    expect(html.stdout).toMatch(/^Wrote .*docs\.html \(\d+ KiB\)\n$/);
    expect(await readFile(file, 'utf8')).toContain('<title>Sparkify data dictionary</title>');
  });

  it('etl insights before any load: one line, exit 1', async () => {
    const outcome = await etl(config, ['insights']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim().split('\n').at(-1)).toMatch(/^etl: Insight top_songs failed .*run `etl create-tables` and `etl run` first\)$/);
  });

  it('after a run: insights as tables and JSON, report.html in the run folder, etl report --html', async () => {
    expect((await etl(config, ['-q', 'run'])).code).toBe(0);
    const text = await etl(config, ['insights']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Plays by hour of day (UTC) (plays_by_hour)');
    const json = JSON.parse((await etl(config, ['insights', '--json'])).stdout) as Record<string, Record<string, unknown>[]>;
    // The public sample: 11 plays, none matched to one of its 3 songs.
    expect(json.song_match_share).toEqual([{ plays: 11, matched_plays: 0, unmatched_plays: 11, matched_pct: 0 }]);
    expect(json.top_songs).toEqual([]);

    const report = JSON.parse((await etl(config, ['report', '--json'])).stdout) as { runId: string };
    const inFolder = await readFile(join(config.etl.workDir, 'runs', report.runId, 'report.html'), 'utf8');
    expect(inFolder).toContain(`Run ${report.runId}`);
    const file = join(config.etl.workDir, 'report.html');
    const html = await etl(config, ['report', '--html', file]);
    expect(html.code).toBe(0);
    const page = await readFile(file, 'utf8');
    expect(page).toContain('Recent runs');
    expect(page).toContain(report.runId);
    expect(page).not.toContain('No run history in the warehouse');
  });
});
