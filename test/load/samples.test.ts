/**
 * The public sample in fixtures/samples (a copy of shared/samples: 3 song files, 1 day of event logs) through the
 * real pipeline on PGlite and PostgreSQL, against figures worked out by hand from the files and the contract.
 *
 * song_data/A/A/A: 3 files, one valid object each -> staging_songs 3
 *   TRAAAAW128F429D538  SOMZWCG12A8C13C480 "I Didn't Mean To"  Casual (ARD7TVE1187B99BFB1)           year 0    "California - LA"
 *   TRAAABD128F429CF47  SOCIWDW12A8C13D406 "Soul Deep"         The Box Tops (ARMJAGH1187FB546F3)     year 1969 "Memphis, TN"
 *   TRAAADZ128F9348C2E  SOXVLOJ12AB0189215 "Amor De Cabaret"   Sonora Santanera (ARKRRTF1187B9984DA) year 0    ""
 *   3 distinct song_ids -> songs 3 (two with year NULL); 3 distinct artist_ids -> artists 3 (Sonora Santanera's
 *   location NULL).
 *
 * log_data/2018/11/2018-11-01-events.json: 15 lines (the last without a line end, but complete), all valid
 *   -> staging_events 15. By line:
 *    1 Home 39 | 2 Home 8 | 3-10: user 8, session 139, items 1-8, all NextSong except item 2 (Upgrade) |
 *   11 NextSong 10 | 12 Home 26 | 13, 14 NextSong 26 | 15 NextSong 101
 *   NextSong lines: 3, 5, 6, 7, 8, 9, 10 (user 8: 7 plays), 11 (user 10), 13, 14 (user 26), 15 (user 101): 11 plays,
 *   every one with a non-empty userId -> songplays 11.
 *   Users with a play: 8, 10, 26, 101 -> users 4 (user 39 only visited Home); every play is at level free.
 *   The 11 plays' ts are all different (1541106106796, ...352796, ...496796, ...673796, 1541107053796, ...493796,
 *   ...734796, 1541108520796, 1541109125796, ...325796, 1541110994796) -> time 11.
 *   None of the played titles ("You Gotta Be", "Flat 55", ...) is one of the 3 songs -> 0 plays matched.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run } from '../../src/pipeline/run.js';
import { ALL_TABLES, FIXTURES, removeTempDirs, runPgTests, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

const SAMPLES = join(FIXTURES, 'samples');
const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

afterAll(removeTempDirs);

describe.each(ENGINES)('the public sample on %s', (engine) => {
  let warehouse: TestWarehouse;
  let report: RunReport;
  let dump: Dump;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'samples');
    const config = warehouse.config({ songData: join(SAMPLES, 'song_data'), logData: join(SAMPLES, 'log_data') });
    report = await run({ config, progress: createProgress(process.stderr, true) });
    dump = await warehouse.dump(ALL_TABLES);
  });
  afterAll(async () => warehouse?.dispose());

  it('loads every record and rejects none', () => {
    expect(report.status).toBe('ok');
    expect(report.sources.songs).toMatchObject({ objects: 3, records: 3, loaded: 3, rejected: 0 });
    expect(report.sources.events).toMatchObject({ objects: 1, records: 15, loaded: 15, rejected: 0 });
  });

  it('gives the counts worked out by hand', () => {
    const expected = { staging_events: 15, staging_songs: 3, songplays: 11, users: 4, songs: 3, artists: 3, time: 11 };
    expect(report.counts).toEqual(expected);
    expect(Object.fromEntries(ALL_TABLES.map((t) => [t, dump[t]!.length]))).toEqual(expected);
  });

  it('matches no play to a song; plays per user 7, 1, 2, 1', () => {
    expect(dump.songplays!.filter((r) => r.song_id !== null || r.artist_id !== null)).toEqual([]);
    const perUser: Record<string, number> = {};
    for (const r of dump.songplays!) perUser[String(r.user_id)] = (perUser[String(r.user_id)] ?? 0) + 1;
    expect(perUser).toEqual({ 8: 7, 10: 1, 26: 2, 101: 1 });
  });

  it('users, songs and artists as in the files', () => {
    const users = dump.users!.map(({ user_id, first_name, last_name, gender, level }) => ({ user_id, first_name, last_name, gender, level }));
    expect(users.sort((a, b) => Number(a.user_id) - Number(b.user_id))).toEqual([
      { user_id: 8, first_name: 'Kaylee', last_name: 'Summers', gender: 'F', level: 'free' },
      { user_id: 10, first_name: 'Sylvie', last_name: 'Cruz', gender: 'F', level: 'free' },
      { user_id: 26, first_name: 'Ryan', last_name: 'Smith', gender: 'M', level: 'free' },
      { user_id: 101, first_name: 'Jayden', last_name: 'Fox', gender: 'M', level: 'free' },
    ]);
    expect(dump.songs!.map(({ song_id, title, artist_id, year, duration }) => ({ song_id, title, artist_id, year, duration }))).toEqual([
      { song_id: 'SOCIWDW12A8C13D406', title: 'Soul Deep', artist_id: 'ARMJAGH1187FB546F3', year: 1969, duration: 148.03546 },
      { song_id: 'SOMZWCG12A8C13C480', title: "I Didn't Mean To", artist_id: 'ARD7TVE1187B99BFB1', year: null, duration: 218.93179 },
      { song_id: 'SOXVLOJ12AB0189215', title: 'Amor De Cabaret', artist_id: 'ARKRRTF1187B9984DA', year: null, duration: 177.47546 },
    ]);
    expect(dump.artists!.map(({ artist_id, name, location, latitude, longitude }) => ({ artist_id, name, location, latitude, longitude }))).toEqual([
      { artist_id: 'ARD7TVE1187B99BFB1', name: 'Casual', location: 'California - LA', latitude: null, longitude: null },
      { artist_id: 'ARKRRTF1187B9984DA', name: 'Sonora Santanera', location: null, latitude: null, longitude: null },
      { artist_id: 'ARMJAGH1187FB546F3', name: 'The Box Tops', location: 'Memphis, TN', latitude: 35.14968, longitude: -90.04892 },
    ]);
  });

  it("the first play: Kaylee's 'You Gotta Be' at 2018-11-01 21:01:46.796 UTC, a Thursday of ISO week 44", () => {
    const first = dump.songplays!.find((r) => r.session_id === 139 && r.item_in_session === 1);
    expect(first).toMatchObject({
      start_time: '2018-11-01 21:01:46.796',
      user_id: 8,
      level: 'free',
      song_id: null,
      artist_id: null,
      location: 'Phoenix-Mesa-Scottsdale, AZ',
      user_agent: 'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36',
    });
    expect(dump.time!.find((r) => r.start_time === '2018-11-01 21:01:46.796')).toEqual({
      start_time: '2018-11-01 21:01:46.796',
      hour: 21,
      day: 1,
      week: 44,
      month: 11,
      year: 2018,
      weekday: 4,
    });
  });
});
