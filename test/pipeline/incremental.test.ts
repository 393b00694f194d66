/**
 * Incremental loads (issue 4): the load ledger makes a run read only new or changed objects, `--since/--until`
 * load a range of days, `--full-refresh` reads everything again, and none of it changes what one full load gives.
 * Generated data (a month of logs, one file a day), loaded by the real pipeline (`run`).
 */
import { cp, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { createTables } from '../../src/load/load-steps.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run, type RunOptions } from '../../src/pipeline/run.js';
import { ANALYTIC_TABLES, removeTempDirs, runPgTests, tempDir, testWarehouse, type Dump, type Row, type TestWarehouse } from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's runs (see openKeptOpen).
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const progress = createProgress(process.stderr, true);
const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

const SONGS = 120;
const EVENTS = 3000;
const LOG_OBJECTS = 30;
const NO_ID = { songplays: ['songplay_id'] } as const;

/** The generated files; each engine loads (and changes) a copy of its own. */
let generated: string;

beforeAll(async () => {
  generated = await tempDir('sparkify-incremental-');
  await generate({ dir: generated, songs: SONGS, events: EVENTS, seed: 5, matchShare: 0.4 });
});

afterAll(removeTempDirs);

/** How many objects of each kind a run read, and why it skipped the others. */
const objectsRead = (report: RunReport) => ({
  events: report.sources.events!.objects,
  songs: report.sources.songs!.objects,
  unchanged: report.sources.events!.skipped.unchanged + report.sources.songs!.skipped.unchanged,
  outOfRange: report.sources.events!.skipped.outOfRange,
});

describe.each(ENGINES)('incremental loads on %s', (engine) => {
  let warehouse: TestWarehouse;
  /** The tables of one full load, every column. */
  let full: Dump;
  let fullWithoutId: Dump;
  const runWith = (options: Partial<RunOptions> = {}) => run({ config: warehouse.config(sources), progress, ...options });

  let sources: { songData: string; logData: string };

  beforeAll(async () => {
    const root = await tempDir(`sparkify-incremental-${engine}-`);
    await cp(generated, root, { recursive: true });
    sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
    warehouse = await testWarehouse(engine, 'incremental');
    const first = await runWith();
    expect(first.status).toBe('ok');
    expect(objectsRead(first)).toEqual({ events: LOG_OBJECTS, songs: SONGS, unchanged: 0, outOfRange: 0 });
    full = await warehouse.dump();
    fullWithoutId = await warehouse.dump(ANALYTIC_TABLES, NO_ID);
    expect(full.songplays!.length).toBeGreaterThan(1000);
  });
  afterAll(async () => warehouse?.dispose());

  it('running a second and a third time reads no object and changes no table (songplay_id included)', async () => {
    for (let i = 0; i < 2; i++) {
      const again = await runWith();
      expect(again.status).toBe('ok');
      expect(objectsRead(again)).toEqual({ events: 0, songs: 0, unchanged: LOG_OBJECTS + SONGS, outOfRange: 0 });
      expect(again.rowsAdded).toMatchObject({ staging_events: 0, staging_songs: 0, songplays: 0, users: 0, songs: 0, artists: 0, time: 0 });
      expect(await warehouse.dump()).toEqual(full);
    }
  });

  it('a full refresh reads every object again and changes nothing (songplay_id included)', async () => {
    const refresh = await runWith({ fullRefresh: true });
    expect(objectsRead(refresh)).toEqual({ events: LOG_OBJECTS, songs: SONGS, unchanged: 0, outOfRange: 0 });
    expect(refresh.rowsAdded).toMatchObject({ songplays: 0, users: 0, songs: 0, artists: 0, time: 0 });
    expect(await warehouse.dump()).toEqual(full);
  });

  describe('--since/--until', () => {
    let ranged: Dump;

    it('overlapping ranges, then the rest, give the tables of one full load (songplay_id aside)', async () => {
      await warehouse.use((w) => createTables(w));
      const first = await runWith({ since: '2018-11-01', until: '2018-11-10' });
      expect(objectsRead(first)).toEqual({ events: 10, songs: SONGS, unchanged: 0, outOfRange: 20 });
      const days = (dump: Dump) => [...new Set(dump.songplays!.map((p) => String(p.start_time).slice(0, 10)))].sort();
      const afterFirst = await warehouse.dump(['songplays']);
      expect(days(afterFirst).at(-1)! <= '2018-11-10').toBe(true);

      // 11-05 .. 11-10 were loaded and are unchanged: only 11-11 .. 11-20 are read.
      const second = await runWith({ since: '2018-11-05', until: '2018-11-20' });
      expect(objectsRead(second)).toEqual({ events: 10, songs: 0, unchanged: 6 + SONGS, outOfRange: 14 });
      expect(days(await warehouse.dump(['songplays'])).at(-1)! <= '2018-11-20').toBe(true);

      const rest = await runWith();
      expect(objectsRead(rest)).toEqual({ events: 10, songs: 0, unchanged: 20 + SONGS, outOfRange: 0 });
      ranged = await warehouse.dump();
      expect(await warehouse.dump(ANALYTIC_TABLES, NO_ID)).toEqual(fullWithoutId);
    });

    it('re-running a range, as is or as a full refresh, gives the same tables (songplay_id included)', async () => {
      const again = await runWith({ since: '2018-11-05', until: '2018-11-20' });
      expect(objectsRead(again)).toEqual({ events: 0, songs: 0, unchanged: 16 + SONGS, outOfRange: 14 });
      expect(await warehouse.dump()).toEqual(ranged);

      const reloaded = await runWith({ since: '2018-11-05', until: '2018-11-20', fullRefresh: true });
      expect(objectsRead(reloaded)).toEqual({ events: 16, songs: SONGS, unchanged: 0, outOfRange: 14 });
      expect(reloaded.rowsAdded).toMatchObject({ songplays: 0, users: 0, songs: 0, artists: 0, time: 0 });
      expect(await warehouse.dump()).toEqual(ranged);
    });
  });

  describe('a changed source object', () => {
    const key = '2018/11/2018-11-30-events.json';
    let play: { session_id: number; item_in_session: number; user_id: number; level: string; song_id: string };
    let report: RunReport;
    let before: Dump;
    let after: Dump;

    beforeAll(async () => {
      // A play of the last day that is its user's latest and matched a song: changing its song and level shows
      // in songplays (song_id, level) and in users (level).
      const latest = new Map<number, Row>();
      for (const p of full.songplays!) if (String(latest.get(p.user_id as number)?.start_time ?? '') < String(p.start_time)) latest.set(p.user_id as number, p);
      const chosen = [...latest.values()].sort((a, b) => (String(a.start_time) < String(b.start_time) ? -1 : 1)).find((p) => p.song_id !== null && String(p.start_time).startsWith('2018-11-30'));
      expect(chosen).toBeDefined();
      play = chosen as typeof play;

      const path = join(sources.logData, key);
      const lines = (await readFile(path, 'utf8')).split('\n');
      const index = lines.findIndex((l) => l.includes(`"itemInSession":${play.item_in_session},`) && l.includes(`"sessionId":${play.session_id},`));
      expect(index).toBeGreaterThanOrEqual(0);
      const newLevel = play.level === 'free' ? 'paid' : 'free';
      lines[index] = lines[index]!.replace(/"song":"[^"]*"/, '"song":"A Song Changed Since"').replace(`"level":"${play.level}"`, `"level":"${newLevel}"`);
      before = await warehouse.dump();
      const { mtime } = await stat(path);
      await writeFile(path, lines.join('\n'));
      const later = new Date(mtime.getTime() + 5_000);
      await utimes(path, later, later);
      report = await runWith();
      after = await warehouse.dump();
    });

    it('is the only object the next run reads', () => {
      expect(report.status).toBe('ok');
      expect(objectsRead(report)).toEqual({ events: 1, songs: 0, unchanged: LOG_OBJECTS - 1 + SONGS, outOfRange: 0 });
      expect(report.sources.events!.objectReports.map((o) => o.key)).toEqual([key]);
    });

    it('replaces its earlier rows rather than adding to them: the changed value is there, the old one gone', () => {
      expect(after.songplays).toHaveLength(before.songplays!.length);
      const rows = after.songplays!.filter((p) => p.session_id === play.session_id && p.item_in_session === play.item_in_session);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ level: play.level === 'free' ? 'paid' : 'free', song_id: null, artist_id: null, source_key: key });
      expect(after.users!.find((u) => u.user_id === play.user_id)).toMatchObject({ level: play.level === 'free' ? 'paid' : 'free' });
      // Every play of other objects kept its row and its songplay_id.
      const others = (dump: Dump) => dump.songplays!.filter((p) => p.source_key !== key);
      expect(others(after)).toEqual(others(before));
      expect(after.time).toEqual(before.time);
    });

    it('leaves the tables one full load of the changed files gives (songplay_id aside)', async () => {
      const incremental = await warehouse.dump(ANALYTIC_TABLES, NO_ID);
      await warehouse.use((w) => createTables(w));
      await runWith();
      expect(await warehouse.dump(ANALYTIC_TABLES, NO_ID)).toEqual(incremental);
    });

    it("a changed object that lost a play: the play goes, and with it the time row and the user's attributes that came from it", async () => {
      // The tables now hold one full load. A user's latest play, in the last day's file, at a level other than
      // their play before, and alone at its start_time, stops being a play.
      const current = await warehouse.dump();
      const byUser = new Map<number, Row[]>();
      for (const p of [...current.songplays!].sort((a, b) => (String(a.start_time) < String(b.start_time) ? -1 : 1))) {
        byUser.set(p.user_id as number, [...(byUser.get(p.user_id as number) ?? []), p]);
      }
      const gone = [...byUser.values()]
        .filter((plays) => plays.length > 1 && plays.at(-1)!.level !== plays.at(-2)!.level)
        .map((plays) => plays.at(-1)!)
        .sort((a, b) => (String(a.start_time) < String(b.start_time) ? -1 : 1))
        .find((p) => String(p.start_time).startsWith('2018-11-30') && current.songplays!.filter((q) => q.start_time === p.start_time).length === 1)!;
      expect(gone).toBeDefined();
      const path = join(sources.logData, key);
      const lines = (await readFile(path, 'utf8')).split('\n');
      const index = lines.findIndex((l) => l.includes(`"itemInSession":${gone.item_in_session},`) && l.includes(`"sessionId":${gone.session_id},`));
      lines[index] = lines[index]!.replace('"page":"NextSong"', '"page":"Home"');
      const { mtime } = await stat(path);
      await writeFile(path, lines.join('\n'));
      await utimes(path, new Date(mtime.getTime() + 5_000), new Date(mtime.getTime() + 5_000));

      const changed = await runWith();
      expect(objectsRead(changed)).toMatchObject({ events: 1, songs: 0 });
      const incremental = await warehouse.dump(ANALYTIC_TABLES, NO_ID);
      expect(incremental.songplays).toHaveLength(current.songplays!.length - 1);
      await warehouse.use((w) => createTables(w));
      await runWith();
      const fresh = await warehouse.dump(ANALYTIC_TABLES, NO_ID);
      // Rule 5: a time row for each distinct start_time of songplays, no more. Rule 2: a user's level and
      // attributes from their latest play, which is now an earlier one.
      expect.soft(incremental.time!.filter((t) => t.start_time === gone.start_time), `time row of the play that is gone (${gone.start_time})`).toEqual([]);
      expect.soft(incremental.users, `users row of user ${gone.user_id}, whose latest play is gone`).toEqual(fresh.users);
      expect(incremental).toEqual(fresh);
    });
  });
});
