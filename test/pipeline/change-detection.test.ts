/**
 * Change detection of local sources through the real pipeline (`run`) and ledger (issue 14, items 6 and 8):
 * a file rewritten with its size and mtime kept is read again; ledger entries of older releases (the mtime
 * alone) are still honoured; symbolic links are followed, and a dangling one is reported in one line.
 */
import { cp, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { createProgress, type Progress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run } from '../../src/pipeline/run.js';
import { removeTempDirs, runPgTests, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's runs (see openKeptOpen).
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const SONGS = 30;
const LOG_OBJECTS = 30;
const KEPT_MTIME = 1_543_622_400;

/** A quiet progress that keeps every logged line. */
const recording = (): Progress & { readonly lines: string[] } => {
  const inner = createProgress(process.stderr, true);
  const lines: string[] = [];
  return {
    lines,
    track: (label) => inner.track(label),
    step: (name) => inner.step(name),
    log: (message) => {
      lines.push(message);
      inner.log(message);
    },
    logTo: (path) => inner.logTo(path),
    detach: () => inner.detach(),
    stop: () => inner.stop(),
  };
};

const read = (report: RunReport) => ({
  events: report.sources.events!.objectReports.map((o) => o.key),
  songs: report.sources.songs!.objectReports.map((o) => o.key),
  unchanged: report.sources.events!.skipped.unchanged + report.sources.songs!.skipped.unchanged,
});

let generated: string;
beforeAll(async () => {
  generated = await tempDir('sparkify-change-');
  await generate({ dir: generated, songs: SONGS, events: 600, seed: 14, matchShare: 0.4 });
});
afterAll(removeTempDirs);

describe.each(ENGINES)('change detection on %s', (engine) => {
  let warehouse: TestWarehouse;
  let root: string;
  let sources: { songData: string; logData: string };
  const runWith = (progress: Progress = recording()) => run({ config: warehouse.config(sources), progress });
  const query = (sql: string) => warehouse.use((w) => w.query(sql));

  beforeAll(async () => {
    root = await tempDir(`sparkify-change-${engine}-`);
    await cp(generated, root, { recursive: true });
    sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
    // Whole seconds, as an unpacked archive has them: utimes sets those back exactly.
    for (const entry of await readdir(sources.logData, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), KEPT_MTIME, KEPT_MTIME);
    }
    warehouse = await testWarehouse(engine, 'change_detection');
    const first = await runWith();
    expect(first.status).toBe('ok');
    expect(read(first)).toMatchObject({ unchanged: 0 });
    expect(read(first).events).toHaveLength(LOG_OBJECTS);
  });
  afterAll(async () => warehouse?.dispose());

  it('a log file rewritten with the same size and its mtime set back is read again, and its new content loaded', async () => {
    const key = '2018/11/2018-11-20-events.json';
    const path = join(sources.logData, key);
    const before = await stat(path);
    const lines = (await readFile(path, 'utf8')).split('\n');
    // free <-> paid keeps the size: the user's level changes, nothing else.
    const index = lines.findIndex((l) => l.includes('"page":"NextSong"') && /"level":"(free|paid)"/.test(l) && /"userId":"\d+"/.test(l));
    expect(index).toBeGreaterThanOrEqual(0);
    const level = /"level":"(free|paid)"/.exec(lines[index]!)![1]!;
    const other = level === 'free' ? 'paid' : 'free';
    const session = Number(/"sessionId":(\d+)/.exec(lines[index]!)![1]);
    const item = Number(/"itemInSession":(\d+)/.exec(lines[index]!)![1]);
    lines[index] = lines[index]!.replace(`"level":"${level}"`, `"level":"${other}"`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(path, lines.join('\n'));
    await utimes(path, KEPT_MTIME, KEPT_MTIME);
    const after = await stat(path);
    // Size and mtime as before: what the ledger of earlier releases compared.
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);

    const report = await runWith();
    expect(report.status).toBe('ok');
    expect(read(report)).toEqual({ events: [key], songs: [], unchanged: LOG_OBJECTS - 1 + SONGS });
    const { rows } = await query(`SELECT level FROM songplays WHERE session_id = ${session} AND item_in_session = ${item}`);
    expect(rows).toEqual([{ level: other }]);
    // And the run after reads nothing.
    expect(read(await runWith())).toEqual({ events: [], songs: [], unchanged: LOG_OBJECTS + SONGS });
  });

  it('ledger entries of an older release (the mtime alone) count as unchanged while size and mtime match', async () => {
    await query(`UPDATE load_ledger SET version = SPLIT_PART(version, ':', 1)`);
    const key = '2018/11/2018-11-05-events.json';
    await query(`UPDATE load_ledger SET size = size + 1 WHERE source_key = '${key}'`);
    const report = await runWith();
    expect(report.status).toBe('ok');
    expect(read(report)).toEqual({ events: [key], songs: [], unchanged: LOG_OBJECTS - 1 + SONGS });
    const { rows } = await query(`SELECT version FROM load_ledger WHERE source_key = '${key}'`);
    expect(String(rows[0]!.version)).toMatch(/^\d+:\d+:\d+$/);
  });

  it('follows a symbolic link to a song file; a dangling link is one line naming it, and the run goes on', async () => {
    const songs = (await readFile(join(generated, 'song_data', ...(await firstSong()).split('/')), 'utf8')).replace(/"song_id": ?"[^"]+"/, '"song_id": "SOLINKED000000001"');
    const outside = join(root, 'outside-song.json');
    await writeFile(outside, songs);
    await symlink(outside, join(sources.songData, 'A', 'linked.json'));
    await symlink(join(root, 'no-such-file.json'), join(sources.songData, 'A', 'dangling.json'));
    const progress = recording();
    const report = await runWith(progress);
    expect(report.status).toBe('ok');
    expect(read(report)).toMatchObject({ events: [], songs: ['A/linked.json'] });
    expect((await query(`SELECT song_id FROM songs WHERE song_id = 'SOLINKED000000001'`)).rows).toHaveLength(1);
    const notices = progress.lines.filter((l) => l.includes('dangling.json'));
    expect(notices).toEqual([`Skipped ${join(sources.songData, 'A', 'dangling.json')}: a dangling symbolic link (to ${join(root, 'no-such-file.json')})`]);
  });

  /** A song file's key, as generated. */
  const firstSong = async (): Promise<string> => {
    const { rows } = await query(`SELECT source_key FROM load_ledger WHERE kind = 'songs' ORDER BY source_key LIMIT 1`);
    return String(rows[0]!.source_key);
  };
});
