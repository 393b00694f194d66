/**
 * Sources that change after they were loaded (issue 14, items 3, 4, 5 and 9), on the real pipeline (`run`,
 * `replay`, `extract`/`stage`/`transform`): songs that arrive, change or go after the plays that match them;
 * log and song objects deleted from the source (kept and counted, removed with `--prune`, and by every
 * `--full-refresh`); a user's latest play that goes; records fixed by `etl replay` whose object changes later.
 * Each ends with the tables a fresh load of the same files gives (songplay_id aside), or, where a replay is
 * part of the story, a fresh load followed by the same replay (the documented rule).
 */
import { cp, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate } from '../../src/generate/generator.js';
import { createTables } from '../../src/load/load-steps.js';
import { formatReport } from '../../src/pipeline/format.js';
import { preflight } from '../../src/pipeline/preflight.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { extract, replay, run, stage, transform, type RunOptions } from '../../src/pipeline/run.js';
import { ANALYTIC_TABLES, removeTempDirs, runPgTests, tempDir, testWarehouse, type Dump, type Row, type TestWarehouse } from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's runs (see openKeptOpen).
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const progress = createProgress(process.stderr, true);
const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const NO_ID = { songplays: ['songplay_id'] } as const;
const LAST_DAY = '2018/11/2018-11-30-events.json';

let generated: string;
/** song_id of each generated song file, by key. */
const songKeyId = new Map<string, unknown>();

beforeAll(async () => {
  generated = await tempDir('sparkify-changing-');
  await generate({ dir: generated, songs: 80, events: 2000, seed: 11, matchShare: 0.5 });
  const dir = join(generated, 'song_data');
  for (const key of await keysUnder(dir)) songKeyId.set(key, (JSON.parse(await readFile(join(dir, key), 'utf8')) as { song_id: string }).song_id);
});

afterAll(removeTempDirs);

/** Files under `dir`, as keys relative to it, in byte order. */
async function keysUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Rewrites a file and moves its mtime on, as an upstream change would. */
async function rewrite(path: string, text: string): Promise<void> {
  const { mtime } = await stat(path);
  await writeFile(path, text);
  const later = new Date(mtime.getTime() + 5_000);
  await utimes(path, later, later);
}

/** The line of an event log file holding the event (session_id, item_in_session). */
const eventLineIndex = (lines: readonly string[], play: Row): number =>
  lines.findIndex((l) => l.includes(`"itemInSession":${String(play.item_in_session)},`) && l.includes(`"sessionId":${String(play.session_id)},`));

const byTime = (a: Row, b: Row): number => (String(a.start_time) < String(b.start_time) ? -1 : String(a.start_time) > String(b.start_time) ? 1 : 0);

const matched = (dump: Dump): number => dump.songplays!.filter((p) => p.song_id !== null).length;

describe.each(ENGINES)('sources that change, on %s', (engine) => {
  /** The warehouse loaded incrementally, and one loaded afresh from the same files to compare with. */
  let warehouse: TestWarehouse;
  let fresh: TestWarehouse;
  let sources: { songData: string; logData: string };

  const runOn = async (target: TestWarehouse, options: Partial<RunOptions> = {}): Promise<RunReport> => {
    const report = await run({ config: target.config(sources), progress, ...options });
    expect(report.status, report.error).toBe('ok');
    return report;
  };
  /** Every table (songplay_id aside) of a fresh load of the files as they are now, then `after` (a replay). */
  const freshLoad = async (after?: (target: TestWarehouse) => Promise<unknown>): Promise<Dump> => {
    await fresh.use((w) => createTables(w));
    await runOn(fresh);
    if (after) await after(fresh);
    return fresh.dump(ANALYTIC_TABLES, NO_ID);
  };
  const tables = () => warehouse.dump(ANALYTIC_TABLES, NO_ID);
  const ledger = async (kind: string) =>
    (await warehouse.use((w) => w.query('SELECT source_key FROM load_ledger WHERE kind = $1', [kind]))).rows.map((r) => String(r.source_key)).sort();

  /** A new copy of the generated files (changed by `prepare` first), loaded into an emptied warehouse. */
  const reset = async (prepare?: () => Promise<void>): Promise<RunReport> => {
    const root = await tempDir(`sparkify-changing-${engine}-`);
    await cp(generated, root, { recursive: true });
    sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
    await prepare?.();
    await warehouse.use((w) => createTables(w));
    return runOn(warehouse);
  };

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'changing');
    fresh = await testWarehouse(engine, 'changing_fresh');
  });
  afterAll(async () => {
    await warehouse?.dispose();
    await fresh?.dispose();
  });

  describe('songs that arrive after their plays, change or go (rule 1 again for earlier plays)', () => {
    let songKeys: string[];
    let late: string[];
    const song = async (key: string) => JSON.parse(await readFile(join(sources.songData, key), 'utf8')) as Record<string, unknown>;

    beforeAll(async () => {
      songKeys = await keysUnder(join(generated, 'song_data'));
      late = songKeys.filter((_, i) => i % 2 === 1);
    });

    it('plays loaded before their songs are matched when the songs arrive', async () => {
      const held = join(await tempDir('sparkify-late-songs-'), 'song_data');
      await reset(async () => {
        for (const key of late) {
          await mkdir(dirname(join(held, key)), { recursive: true });
          await rename(join(sources.songData, key), join(held, key));
        }
      });
      const early = await tables();
      for (const key of late) await rename(join(held, key), join(sources.songData, key));
      const arrived = await runOn(warehouse);
      expect(arrived.sources.songs).toMatchObject({ objects: late.length });
      expect(arrived.sources.events).toMatchObject({ objects: 0 });
      const incremental = await tables();
      expect(matched(incremental)).toBeGreaterThan(matched(early));
      expect(incremental).toEqual(await freshLoad());
    });

    it('a song with a lower song_id (another artist_id) that matches plays matched before takes them over', async () => {
      const played = new Set((await tables()).songplays!.map((p) => p.song_id));
      const key = songKeys.find((k) => played.has(songKeyId.get(k)))!;
      const record = await song(key);
      const twin = { ...record, song_id: 'SO0000000000000001', artist_id: 'AR0000000000000001', artist_location: 'Twin Town' };
      await mkdir(join(sources.songData, '0/0/0'), { recursive: true });
      await writeFile(join(sources.songData, '0/0/0/TR0000000000000001.json'), JSON.stringify(twin));
      await runOn(warehouse);
      const incremental = await tables();
      const plays = incremental.songplays!.filter((p) => p.song_id === 'SO0000000000000001');
      expect(plays.length).toBeGreaterThan(0);
      expect(plays.every((p) => p.artist_id === 'AR0000000000000001')).toBe(true);
      expect(incremental.songplays!.filter((p) => p.song_id === record.song_id)).toEqual([]);
      expect(incremental.artists!.find((a) => a.artist_id === 'AR0000000000000001')).toMatchObject({ location: 'Twin Town', song_id: 'SO0000000000000001' });
      expect(incremental).toEqual(await freshLoad());
    });

    it("a song whose title changes loses the plays it matched, and its artist's attributes follow its records", async () => {
      const played = new Set((await tables()).songplays!.map((p) => p.song_id));
      const key = songKeys.find((k) => played.has(songKeyId.get(k)))!;
      const record = await song(key);
      await rewrite(join(sources.songData, key), JSON.stringify({ ...record, title: `${String(record.title)} (Remastered)`, artist_location: 'Elsewhere' }));
      const changed = await runOn(warehouse);
      expect(changed.sources.songs).toMatchObject({ objects: 1 });
      const incremental = await tables();
      expect(incremental.songplays!.filter((p) => p.song_id === record.song_id)).toEqual([]);
      expect(incremental).toEqual(await freshLoad());
    });

    it('a deleted song file: kept and counted without --prune; with it, its song goes and its plays are matched again', async () => {
      const before = await tables();
      const played = new Set(before.songplays!.map((p) => p.song_id));
      const key = songKeys.find((k) => played.has(songKeyId.get(k)))!;
      await rm(join(sources.songData, key));
      const kept = await runOn(warehouse);
      expect(kept.sources.songs!.gone).toEqual({ objects: 1, pruned: false, keys: [] });
      expect(formatReport(kept)).toContain('gone: 1 object loaded before is no longer in the source; their rows stay (`--prune` removes them)');
      expect(await tables()).toEqual(before);
      expect(await ledger('songs')).toContain(key);

      const pruned = await runOn(warehouse, { prune: true });
      expect(pruned.sources.songs!.gone).toEqual({ objects: 1, pruned: true, keys: [key] });
      const incremental = await tables();
      expect(incremental.songs!.find((s) => s.song_id === songKeyId.get(key))).toBeUndefined();
      expect(await ledger('songs')).not.toContain(key);
      expect(incremental).toEqual(await freshLoad());
    });
  });

  describe('deleted log objects (--prune, --full-refresh)', () => {
    let logKeys: string[];
    beforeAll(async () => {
      await reset();
      logKeys = await keysUnder(sources.logData);
    });

    it('stay, counted in the report, without --prune; go with it, and the tables are those of a fresh load', async () => {
      const before = await tables();
      const key = logKeys[3]!;
      await rm(join(sources.logData, key));
      const kept = await runOn(warehouse);
      expect(kept.sources.events!.gone).toEqual({ objects: 1, pruned: false, keys: [] });
      expect(await tables()).toEqual(before);

      const pruned = await runOn(warehouse, { prune: true });
      expect(pruned.sources.events!.gone).toEqual({ objects: 1, pruned: true, keys: [key] });
      expect(formatReport(pruned)).toContain('gone: 1 object loaded before is no longer in the source; their rows are removed');
      const incremental = await tables();
      expect(incremental.songplays!.length).toBeLessThan(before.songplays!.length);
      expect(incremental.songplays!.some((p) => p.source_key === key)).toBe(false);
      expect(await ledger('events')).not.toContain(key);
      expect(incremental).toEqual(await freshLoad());
      // Once pruned, nothing is gone any more.
      expect((await runOn(warehouse)).sources.events!.gone).toEqual({ objects: 0, pruned: false, keys: [] });
    });

    it('a backfill of some days prunes only objects of those days', async () => {
      const key = logKeys[5]!; // 2018-11-06
      await rm(join(sources.logData, key));
      const outside = await runOn(warehouse, { since: '2018-11-20', until: '2018-11-30', prune: true });
      expect(outside.sources.events!.gone).toMatchObject({ objects: 0 });
      expect(await ledger('events')).toContain(key);
      const inside = await runOn(warehouse, { since: '2018-11-01', until: '2018-11-10', prune: true });
      expect(inside.sources.events!.gone).toEqual({ objects: 1, pruned: true, keys: [key] });
      expect(await tables()).toEqual(await freshLoad());
    });

    it('a full refresh gives the tables of a fresh load, deleted log and song objects included; surviving plays keep their songplay_id', async () => {
      const before = await warehouse.dump(['songplays']);
      const played = new Set(before.songplays!.map((p) => p.song_id));
      const songKey = (await keysUnder(sources.songData)).find((k) => played.has(songKeyId.get(k)))!;
      const logKey = logKeys[10]!;
      await rm(join(sources.songData, songKey));
      await rm(join(sources.logData, logKey));
      const refresh = await runOn(warehouse, { fullRefresh: true });
      expect(refresh.sources.events!.gone).toEqual({ objects: 1, pruned: true, keys: [logKey] });
      expect(refresh.sources.songs!.gone).toEqual({ objects: 1, pruned: true, keys: [songKey] });
      expect(await tables()).toEqual(await freshLoad());
      const ids = (dump: Dump) => new Map(dump.songplays!.filter((p) => p.source_key !== logKey).map((p) => [`${String(p.session_id)}/${String(p.item_in_session)}`, p.songplay_id]));
      expect(ids(await warehouse.dump(['songplays']))).toEqual(ids(before));
    });

    it('extract, stage and transform with --full-refresh prune the same way', async () => {
      const key = logKeys[20]!;
      await rm(join(sources.logData, key));
      const config = warehouse.config(sources);
      const extracted = await extract({ config, progress, fullRefresh: true });
      expect(extracted.sources.events!.gone).toEqual({ objects: 1, pruned: true, keys: [key] });
      await stage({ config, progress });
      const transformed = await transform({ config, progress });
      expect(transformed.status).toBe('ok');
      expect(await ledger('events')).not.toContain(key);
      expect(await tables()).toEqual(await freshLoad());
    });
  });

  describe("a user's latest play that goes (rule 2 rewinds fully)", () => {
    it('takes the names and gender of their latest remaining play, as a fresh load does', async () => {
      await reset();
      // The latest play of a user, their only one in the last day's file (so that nothing of the user is in
      // the batch that changes the file), gets names and a gender of its own; then it goes.
      const plays = [...(await tables()).songplays!].sort(byTime);
      const byUser = new Map<unknown, Row[]>();
      for (const p of plays) byUser.set(p.user_id, [...(byUser.get(p.user_id) ?? []), p]);
      const onLastDay = (p: Row | undefined) => String(p?.start_time).startsWith('2018-11-30');
      const latest = [...byUser.values()].filter((ps) => ps.length > 1 && onLastDay(ps.at(-1)) && !onLastDay(ps.at(-2))).map((ps) => ps.at(-1)!)[0];
      expect(latest).toBeDefined();
      const path = join(sources.logData, LAST_DAY);
      const lines = (await readFile(path, 'utf8')).split('\n');
      const index = eventLineIndex(lines, latest!);
      lines[index] = lines[index]!.replace(/"firstName":"[^"]*"/, '"firstName":"Newest"').replace(/"lastName":"[^"]*"/, '"lastName":"Latest"').replace(/"gender":"([FM])"/, (_, g: string) => `"gender":"${g === 'F' ? 'M' : 'F'}"`);
      await rewrite(path, lines.join('\n'));
      await runOn(warehouse);
      expect((await tables()).users!.find((u) => u.user_id === latest!.user_id)).toMatchObject({ first_name: 'Newest', last_name: 'Latest' });

      lines[index] = lines[index]!.replace('"page":"NextSong"', '"page":"Home"');
      await rewrite(path, lines.join('\n'));
      await runOn(warehouse);
      const incremental = await tables();
      const user = incremental.users!.find((u) => u.user_id === latest!.user_id)!;
      expect(user.first_name).not.toBe('Newest');
      expect(user.last_name).not.toBe('Latest');
      expect(incremental).toEqual(await freshLoad());
    });
  });

  describe('records fixed by etl replay, whose object changes later', () => {
    const BROKEN_DAY = '2018/11/2018-11-15-events.json';
    let original: string;
    let brokenIndex: number;
    let songKey: string;
    let songText: string;
    let fixes: string;
    let broken: Row;
    const replayFixes = (target: TestWarehouse) => replay({ config: target.config(sources), progress, file: fixes });

    beforeAll(async () => {
      // A song with plays, from a clean load.
      await reset();
      const played = new Set((await tables()).songplays!.map((p) => p.song_id));
      songKey = (await keysUnder(sources.songData)).find((k) => played.has(songKeyId.get(k)))!;
      const first = await reset(async () => {
        // A play of the 15th and a song with plays get broken before anything is loaded.
        const path = join(sources.logData, BROKEN_DAY);
        const lines = (await readFile(path, 'utf8')).split('\n');
        brokenIndex = lines.findIndex((l) => l.includes('"page":"NextSong"') && !l.includes('"userId":""'));
        original = lines[brokenIndex]!;
        lines[brokenIndex] = original.replace(/"ts":(\d+)/, '"ts":"$1"');
        await writeFile(path, lines.join('\n'));
        songText = await readFile(join(sources.songData, songKey), 'utf8');
        await writeFile(join(sources.songData, songKey), songText.replace('"song_id"', '"song_id" "'));
      });
      expect(first.sources.events!.rejected).toBe(1);
      expect(first.sources.songs!.rejected).toBe(1);
      const rejects = (await readFile(first.rejectsFile!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      fixes = join(warehouse.workDir, 'fixed.jsonl');
      await writeFile(fixes, rejects.map((r) => JSON.stringify({ ...r, raw: r.kind === 'events' ? original : songText })).join('\n') + '\n');
      const event = JSON.parse(original) as { sessionId: number; itemInSession: number };
      broken = { session_id: event.sessionId, item_in_session: event.itemInSession };
    });

    const brokenPlays = (dump: Dump) => dump.songplays!.filter((p) => p.session_id === broken.session_id && p.item_in_session === broken.item_in_session);

    it('the replayed play carries the replay lineage; the replayed song matches the plays loaded before it', async () => {
      const before = await tables();
      const replayed = await replayFixes(warehouse);
      expect(replayed.status).toBe('ok');
      const after = await tables();
      expect(brokenPlays(after)).toHaveLength(1);
      expect(brokenPlays(after)[0]).toMatchObject({ source_key: `replay:${BROKEN_DAY}` });
      const songId = songKeyId.get(songKey);
      expect(before.songs!.find((s) => s.song_id === songId)).toBeUndefined();
      expect(after.songplays!.filter((p) => p.song_id === songId).length).toBeGreaterThan(0);
      expect(after).toEqual(await freshLoad(replayFixes));
    });

    it('survive a change of their objects that does not hold them', async () => {
      const path = join(sources.logData, BROKEN_DAY);
      const lines = (await readFile(path, 'utf8')).split('\n');
      const other = lines.findIndex((l, i) => i !== brokenIndex && l.includes('"level":"free"'));
      lines[other] = lines[other]!.replace('"level":"free"', '"level":"paid"');
      await rewrite(path, lines.join('\n'));
      await rewrite(join(sources.songData, songKey), (await readFile(join(sources.songData, songKey), 'utf8')) + '\n');
      // Not its only object: a batch whose every record is rejected stops the run.
      const another = (await keysUnder(sources.songData)).find((k) => k !== songKey)!;
      await rewrite(join(sources.songData, another), await readFile(join(sources.songData, another), 'utf8'));
      const changed = await runOn(warehouse);
      expect(changed.sources.events).toMatchObject({ objects: 1, rejected: 1 });
      expect(changed.sources.songs).toMatchObject({ objects: 2, rejected: 1 });
      const incremental = await tables();
      expect(brokenPlays(incremental)).toHaveLength(1);
      expect(incremental.songs!.find((s) => s.song_id === songKeyId.get(songKey))).toBeDefined();
      expect(incremental).toEqual(await freshLoad(replayFixes));
    });

    it('give way to the same play in a fixed version of the object', async () => {
      const path = join(sources.logData, BROKEN_DAY);
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines[brokenIndex] = original;
      await rewrite(path, lines.join('\n'));
      await rewrite(join(sources.songData, songKey), songText);
      await runOn(warehouse);
      const incremental = await tables();
      expect(brokenPlays(incremental)).toEqual([expect.objectContaining({ source_key: BROKEN_DAY })]);
      expect(incremental).toEqual(await freshLoad());
    });

    it('go with their object when it is deleted and pruned', async () => {
      // Broken again and replayed again: then the object goes.
      const path = join(sources.logData, BROKEN_DAY);
      const lines = (await readFile(path, 'utf8')).split('\n');
      lines[brokenIndex] = original.replace(/"ts":(\d+)/, '"ts":"$1"');
      await rewrite(path, lines.join('\n'));
      await runOn(warehouse);
      await replayFixes(warehouse);
      expect(brokenPlays(await tables())).toEqual([expect.objectContaining({ source_key: `replay:${BROKEN_DAY}` })]);
      await rm(path);
      await runOn(warehouse, { prune: true });
      const incremental = await tables();
      expect(brokenPlays(incremental)).toEqual([]);
      expect(incremental).toEqual(await freshLoad());
    });
  });

  it('a warehouse of an earlier version (no song_records, no play_events) reloads every object once and fills them', async () => {
    await reset();
    const before = await tables();
    await warehouse.use(async (w) => {
      await w.query('DROP TABLE play_events');
      await w.query('DROP TABLE song_records');
      await w.query('DROP TABLE staging_pruned');
    });
    // etl preflight tells it is fine: the run makes the tables (the transform compiles as if they were there).
    const checks = await preflight(warehouse.config(sources));
    expect(checks.find((c) => c.check === 'tables')).toMatchObject({ ok: true, detail: expect.stringContaining('staging_pruned, song_records, play_events, new in this version') });
    expect(checks.find((c) => c.check === 'transform statements')).toMatchObject({ ok: true });
    const upgraded = await runOn(warehouse);
    expect(upgraded.sources.events).toMatchObject({ objects: 30 });
    expect(upgraded.sources.songs).toMatchObject({ objects: 80 });
    expect(await tables()).toEqual(before);
    const counts = await warehouse.use(async (w) => ({
      events: Number((await w.query('SELECT COUNT(*) AS n FROM play_events')).rows[0]!.n),
      records: Number((await w.query('SELECT COUNT(*) AS n FROM song_records')).rows[0]!.n),
    }));
    expect(counts).toEqual({ events: before.songplays!.length, records: 80 });
    expect((await runOn(warehouse)).sources.events).toMatchObject({ objects: 0 });
  });
});
