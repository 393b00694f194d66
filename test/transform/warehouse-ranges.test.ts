/**
 * Every value that becomes a typed column is checked against what the warehouse holds, so a value no engine
 * can take (or takes as something else) is rejected alone, with its reason, and the rest loads (issue 14
 * items 1 and 7). Loaded by the real pipeline into PGlite and PostgreSQL:
 *
 * - `ts` at the ends of its range (±9007199254740 ms, where the transform's TIMESTAMP arithmetic is exact)
 *   becomes exactly that start_time; one millisecond beyond, or -300000000000000 (year -7537, which made
 *   "pick staged plays" fail with "timestamp out of range" on every run), is rejected;
 * - 1e400 (Infinity to JSON.parse, once stored as Infinity) is "not a finite number" in any numeric field;
 * - a subnormal double (Redshift's DOUBLE PRECISION holds none) and integers beyond INTEGER are rejected,
 *   while the largest double and the smallest normal one load unchanged.
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run } from '../../src/pipeline/run.js';
import { removeTempDirs, runPgTests, tempDir, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const progress = createProgress(process.stderr, true);

const LOG_KEY = '2018/11/2018-11-01-events.json';
const UA = 'Mozilla/5.0 (X11; Linux x86_64)';

/** A valid NextSong event of its own user and session, with `changes` applied (as raw JSON text, so 1e400 stays 1e400). */
function eventLine(user: number, changes: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    artist: '"Muse"', auth: '"Logged In"', firstName: '"Ann"', gender: '"F"', itemInSession: '0', lastName: '"Lee"', length: '283.3111',
    level: '"free"', location: '"Austin, TX"', method: '"PUT"', page: '"NextSong"', registration: '1540794356796.0', sessionId: String(user * 10),
    song: '"Use Somebody"', status: '200', ts: '1541106106796', userAgent: JSON.stringify(UA), userId: `"${user}"`, ...changes,
  };
  return `{${Object.entries(fields).map(([k, v]) => `"${k}":${v}`).join(',')}}`;
}

/** A valid song object, with `changes` applied as raw JSON text. */
function songText(id: string, changes: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    num_songs: '1', artist_id: `"AR${id}"`, artist_latitude: '30.26715', artist_longitude: '-97.74306', artist_location: '"Austin, TX"',
    artist_name: '"Muse"', song_id: `"SO${id}"`, title: '"Some Song"', duration: '200.5', year: '2001', ...changes,
  };
  return `{${Object.entries(fields).map(([k, v]) => `"${k}":${v}`).join(', ')}}`;
}

const TIMESTAMP = 'out of range for TIMESTAMP (epoch ms from -9007199254740 to 9007199254740, 1684-07-28 to 2255-06-05 UTC)';
const INTEGER = 'out of range for INTEGER (-2147483648 to 2147483647)';
const DOUBLE = 'out of range for DOUBLE PRECISION (0, or magnitudes 2.2250738585072014e-308 to 1.7976931348623157e308)';

/** The log file, line by line: each line's changes and, for a rejected one, its reason. */
const EVENTS: { user: number; changes?: Record<string, string>; reason?: string }[] = [
  { user: 60, changes: { ts: '-9007199254740' } },
  { user: 61, changes: { ts: '9007199254740' } },
  { user: 62 },
  { user: 63, changes: { ts: '-300000000000000' }, reason: `ts: ${TIMESTAMP}, got -300000000000000` },
  { user: 64, changes: { ts: '9007199254741' }, reason: `ts: ${TIMESTAMP}, got 9007199254741` },
  { user: 65, changes: { ts: '-9007199254741' }, reason: `ts: ${TIMESTAMP}, got -9007199254741` },
  { user: 66, changes: { ts: '1e400' }, reason: 'ts: not a finite number, got Infinity' },
  { user: 67, changes: { length: '1e400' }, reason: 'length: not a finite number, got Infinity' },
  { user: 68, changes: { registration: '-1e400' }, reason: 'registration: not a finite number, got -Infinity' },
  { user: 69, changes: { length: '1e-310' }, reason: `length: ${DOUBLE}, got 1e-310` },
  { user: 70, changes: { sessionId: '2147483648' }, reason: `sessionId: ${INTEGER}, got 2147483648` },
  { user: 71, changes: { status: '1e21' }, reason: `status: ${INTEGER}, got 1e+21` },
  { user: 72, changes: { itemInSession: '-1e400' }, reason: 'itemInSession: not a finite number, got -Infinity' },
  { user: 73, changes: { userId: '"2147483648"' }, reason: `userId: ${INTEGER}, got "2147483648"` },
];

/** Song files (one object each, as in production), by key. */
const SONGS: { key: string; text: string; reason?: string }[] = [
  { key: 'A/A/A/TRAAAEDGE0001.json', text: songText('EDGE', { duration: '1.7976931348623157e308', artist_latitude: '2.2250738585072014e-308' }) },
  { key: 'A/A/A/TRAAABAD0001.json', text: songText('BAD1', { duration: '1e400' }), reason: 'duration: not a finite number, got Infinity' },
  { key: 'A/A/A/TRAAABAD0002.json', text: songText('BAD2', { artist_latitude: '-1e400' }), reason: 'artist_latitude: not a finite number, got -Infinity' },
  { key: 'A/A/A/TRAAABAD0003.json', text: songText('BAD3', { year: '1e400' }), reason: 'year: not a finite number, got Infinity' },
  { key: 'A/A/A/TRAAABAD0004.json', text: songText('BAD4', { artist_longitude: '5e-324' }), reason: `artist_longitude: ${DOUBLE}, got 5e-324` },
  { key: 'A/A/A/TRAAABAD0005.json', text: songText('BAD5', { num_songs: '2147483648' }), reason: `num_songs: ${INTEGER}, got 2147483648` },
];

/** The start_time PostgreSQL prints for epoch ms (no trailing zeros of the fraction). */
const startTime = (ts: number): string => new Date(ts).toISOString().replace('T', ' ').replace(/\.?0*Z$/, '');

/** ISO-8601 week number of a UTC date: the week (Monday first) holding its Thursday, counted from the one holding January 4. */
function isoWeek(ts: number): number {
  const d = new Date(ts);
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7) + 3);
  const jan4 = new Date(Date.UTC(new Date(thursday).getUTCFullYear(), 0, 4));
  return 1 + Math.round(((thursday - jan4.getTime()) / 86_400_000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
}

const PLAYS = [
  { user: 60, ts: -9007199254740 },
  { user: 61, ts: 9007199254740 },
  { user: 62, ts: 1541106106796 },
];

let sources: { songData: string; logData: string };

beforeAll(async () => {
  const root = await tempDir('sparkify-ranges-');
  sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
  await mkdir(join(sources.logData, '2018/11'), { recursive: true });
  await writeFile(join(sources.logData, LOG_KEY), EVENTS.map((e) => eventLine(e.user, e.changes)).join('\n') + '\n');
  for (const song of SONGS) {
    await mkdir(join(sources.songData, song.key, '..'), { recursive: true });
    await writeFile(join(sources.songData, song.key), song.text);
  }
});
afterAll(removeTempDirs);

const expectedRejects = [
  ...SONGS.filter((s) => s.reason).map((s) => ({ kind: 'songs', source: s.key, line: 1, reason: s.reason! })),
  ...EVENTS.flatMap((e, i) => (e.reason ? [{ kind: 'events', source: LOG_KEY, line: i + 1, reason: e.reason }] : [])),
];

describe.each(ENGINES)('typed values at and beyond their range on %s', (engine) => {
  let warehouse: TestWarehouse;
  let report: RunReport;
  let dump: Dump;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'ranges');
    report = await run({ config: warehouse.config(sources), progress });
    dump = await warehouse.dump(['songplays', 'time', 'users', 'songs', 'artists', 'staging_events', 'staging_songs', 'load_errors']);
  });
  afterAll(async () => warehouse?.dispose());

  it('the run completes: each bad line or song is rejected alone, the rest loads', () => {
    expect(report.status).toBe('ok');
    expect(report.sources.events).toMatchObject({ records: EVENTS.length, loaded: 3, rejected: EVENTS.length - 3 });
    expect(report.sources.songs).toMatchObject({ records: SONGS.length, loaded: 1, rejected: SONGS.length - 1 });
    expect(report.counts).toMatchObject({ staging_events: 3, staging_songs: 1, songplays: 3, users: 3, songs: 1, artists: 1, time: 3 });
  });

  it('rejections name the field, the range and the value, in the rejects file and in load_errors', async () => {
    const rejects = (await readFile(report.rejectsFile!, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rejects.map(({ kind, source, line, reason }) => ({ kind, source, line, reason }))).toEqual(expectedRejects);
    const loadErrors = dump.load_errors!.map((r) => ({ kind: r.kind, source: r.source_key, line: r.line, reason: r.reason }));
    const byPlace = (a: { source: unknown; line: unknown }, b: { source: unknown; line: unknown }) =>
      String(a.source).localeCompare(String(b.source)) || Number(a.line) - Number(b.line);
    expect(loadErrors.sort(byPlace)).toEqual([...expectedRejects].sort(byPlace));
  });

  it('ts at both ends of its range becomes exactly that start_time, with its time parts (rule 1, rule 5)', () => {
    for (const { user, ts } of PLAYS) {
      expect(dump.songplays!.filter((r) => r.user_id === user).map((r) => r.start_time)).toEqual([startTime(ts)]);
      const d = new Date(ts);
      expect(dump.time!.find((r) => r.start_time === startTime(ts))).toEqual({
        start_time: startTime(ts),
        hour: d.getUTCHours(),
        day: d.getUTCDate(),
        week: isoWeek(ts),
        month: d.getUTCMonth() + 1,
        year: d.getUTCFullYear(),
        weekday: d.getUTCDay(),
      });
    }
    expect(startTime(-9007199254740)).toBe('1684-07-28 00:12:25.26');
    expect(startTime(9007199254740)).toBe('2255-06-05 23:47:34.74');
    expect(dump.staging_events!.map((r) => r.ts).sort()).toEqual(PLAYS.map((p) => p.ts).sort());
  });

  it('the largest double and the smallest normal one load unchanged', () => {
    expect(dump.songs!.map((r) => [r.song_id, r.duration])).toEqual([['SOEDGE', Number.MAX_VALUE]]);
    expect(dump.artists!.map((r) => [r.artist_id, r.latitude])).toEqual([['AREDGE', 2 ** -1022]]);
  });
});
