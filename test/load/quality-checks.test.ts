/**
 * The data quality checks (src/load/quality-checks.ts) on real warehouses: PGlite and a PostgreSQL server.
 * Each case starts from freshly created tables holding a small clean dataset, breaks one check with a few
 * statements, and expects exactly the named checks to fail, naming the offending keys.
 *
 * PostgreSQL and PGlite enforce the primary keys that Redshift only declares; the cases that break a key first
 * drop its constraint, which makes the table what Redshift would hold. Where a key is enforced, its check is
 * answered from the catalog: the cases below the first block see which statements were sent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECK_QUERIES, CHECK_SAMPLE_SIZE } from '../../src/load/check-queries.js';
import { createTables } from '../../src/load/load-steps.js';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import { PostgresWarehouse } from '../../src/load/postgres/postgres-warehouse.js';
import { redshiftDialect } from '../../src/load/redshift/redshift-dialect.js';
import type { Dialect } from '../../src/load/queries.js';
import { checkFailure, formatChecks, runChecks, type CheckResult } from '../../src/load/quality-checks.js';
import type { Warehouse } from '../../src/load/warehouse.js';
import { EtlError } from '../../src/errors.js';
import { PG_SERVER, createPgDatabase, dropPgDatabase, freshPgliteDir, removeTempDirs, runPgTests } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

/**
 * Three plays of two users: (10, 0) by user 77 of song SOA by ARA, (10, 1) by 77 and (20, 0) by 78 unmatched.
 * The staged batch holds their three NextSong events, plus a logged-out NextSong and a Home event (no plays).
 */
const CLEAN = [
  `INSERT INTO staging_events (session_id, item_in_session, page, ts, user_id, level) VALUES
    (10, 0, 'NextSong', 1541066400000, '77', 'free'),
    (10, 1, 'NextSong', 1541066700000, '77', 'free'),
    (10, 2, 'Home', 1541066800000, '77', 'free'),
    (20, 0, 'NextSong', 1541289599999, '78', 'paid'),
    (30, 0, 'NextSong', 1541289599999, '', 'free')`,
  `INSERT INTO songplays (songplay_id, start_time, user_id, level, song_id, artist_id, session_id, item_in_session) VALUES
    (1, '2018-11-01 10:00:00', 77, 'free', 'SOA', 'ARA', 10, 0),
    (2, '2018-11-01 10:05:00', 77, 'free', NULL, NULL, 10, 1),
    (3, '2018-11-03 23:59:59.999', 78, 'paid', NULL, NULL, 20, 0)`,
  `INSERT INTO users (user_id, first_name, last_name, gender, level, last_play_at) VALUES
    (77, 'Ann', 'Ash', 'F', 'free', '2018-11-01 10:05:00'),
    (78, 'Bob', 'Birch', 'M', 'paid', '2018-11-03 23:59:59.999')`,
  `INSERT INTO songs (song_id, title, artist_id, year, duration, artist_name, source_key) VALUES
    ('SOA', 'Song A', 'ARA', 2001, 200.5, 'Artist A', 'song_data/A/A/A/TRAAAAA.json'),
    ('SOB', 'Song B', 'ARB', NULL, 180.0, 'Artist B', 'song_data/A/A/B/TRAAABB.json')`,
  `INSERT INTO artists (artist_id, name, location, latitude, longitude, song_id) VALUES
    ('ARA', 'Artist A', 'Austin, TX', 30.27, -97.74, 'SOA'),
    ('ARB', 'Artist B', NULL, NULL, NULL, 'SOB')`,
  `INSERT INTO time (start_time, hour, day, week, month, year, weekday) VALUES
    ('2018-11-01 10:00:00', 10, 1, 44, 11, 2018, 4),
    ('2018-11-01 10:05:00', 10, 1, 44, 11, 2018, 4),
    ('2018-11-03 23:59:59.999', 23, 3, 44, 11, 2018, 6)`,
];

/** Makes `table`.`column` a plain nullable column, as on Redshift (where a primary key is not enforced). */
const unconstrain = (table: string, column: string): string[] => [
  `ALTER TABLE ${table} DROP CONSTRAINT ${table}_pkey`,
  ...(table === 'songplays' ? [`ALTER TABLE songplays ALTER COLUMN songplay_id DROP IDENTITY`] : []),
  `ALTER TABLE ${table} ALTER COLUMN ${column} DROP NOT NULL`,
];

const play = (id: number | 'NULL', session: number, item: number, user: number, start = '2018-11-01 10:00:00', song = 'NULL', artist = 'NULL') =>
  `INSERT INTO songplays (songplay_id, start_time, user_id, level, song_id, artist_id, session_id, item_in_session)
   VALUES (${id}, '${start}', ${user}, 'free', ${song}, ${artist}, ${session}, ${item})`;

interface Failure {
  readonly count: number;
  readonly offending: readonly string[];
}

interface Case {
  /** How the clean dataset is broken. */
  readonly by: string;
  readonly breaks: string;
  readonly sql: readonly string[];
  /** Every check expected to fail (by name), with its count and offending keys. */
  readonly fails: Record<string, Failure>;
}

const empty: Failure = { count: 0, offending: [] };

const CASES: readonly Case[] = [
  // Each table non-empty. users and time cannot be empty alone while songplays references them.
  { by: 'no plays, nothing staged', breaks: 'songplays has rows', sql: ['DELETE FROM songplays', 'DELETE FROM staging_events'], fails: { 'songplays has rows': empty } },
  {
    by: 'no users (nor plays)',
    breaks: 'users has rows',
    sql: ['DELETE FROM songplays', 'DELETE FROM staging_events', 'DELETE FROM users'],
    fails: { 'songplays has rows': empty, 'users has rows': empty },
  },
  { by: 'no songs', breaks: 'songs has rows', sql: ['UPDATE songplays SET song_id = NULL', 'DELETE FROM songs'], fails: { 'songs has rows': empty } },
  { by: 'no artists', breaks: 'artists has rows', sql: ['UPDATE songplays SET artist_id = NULL', 'DELETE FROM artists'], fails: { 'artists has rows': empty } },
  {
    by: 'no time (nor plays)',
    breaks: 'time has rows',
    sql: ['DELETE FROM songplays', 'DELETE FROM staging_events', 'DELETE FROM time'],
    fails: { 'songplays has rows': empty, 'time has rows': empty },
  },

  // Keys unique and not null.
  {
    by: 'a duplicated id',
    breaks: 'songplays.songplay_id unique and not null',
    sql: [...unconstrain('songplays', 'songplay_id'), play(2, 20, 1, 78)],
    fails: { 'songplays.songplay_id unique and not null': { count: 2, offending: ['2'] } },
  },
  {
    by: 'a NULL id',
    breaks: 'songplays.songplay_id unique and not null',
    sql: [...unconstrain('songplays', 'songplay_id'), play('NULL', 20, 1, 78)],
    fails: { 'songplays.songplay_id unique and not null': { count: 1, offending: ['NULL'] } },
  },
  {
    by: 'two duplicated pairs',
    breaks: 'songplays (session_id, item_in_session) unique and not null',
    sql: [play(4, 10, 1, 77), play(5, 20, 0, 78), play(6, 20, 0, 78)],
    fails: { 'songplays (session_id, item_in_session) unique and not null': { count: 5, offending: ['(10, 1)', '(20, 0)'] } },
  },
  {
    by: 'a duplicated id',
    breaks: 'users.user_id unique and not null',
    sql: [...unconstrain('users', 'user_id'), `INSERT INTO users (user_id, level, last_play_at) VALUES (78, 'free', '2018-11-01 00:00:00')`],
    fails: { 'users.user_id unique and not null': { count: 2, offending: ['78'] } },
  },
  {
    by: 'a NULL id',
    breaks: 'users.user_id unique and not null',
    sql: [...unconstrain('users', 'user_id'), `INSERT INTO users (user_id, level, last_play_at) VALUES (NULL, 'free', '2018-11-01 00:00:00')`],
    fails: { 'users.user_id unique and not null': { count: 1, offending: ['NULL'] } },
  },
  {
    by: 'a duplicated id',
    breaks: 'songs.song_id unique and not null',
    sql: [...unconstrain('songs', 'song_id'), `INSERT INTO songs (song_id, title, source_key) VALUES ('SOB', 'Song B again', 'k')`],
    fails: { 'songs.song_id unique and not null': { count: 2, offending: ['SOB'] } },
  },
  {
    by: 'a NULL id',
    breaks: 'songs.song_id unique and not null',
    sql: [...unconstrain('songs', 'song_id'), `INSERT INTO songs (song_id, title, source_key) VALUES (NULL, 'No id', 'k')`],
    fails: { 'songs.song_id unique and not null': { count: 1, offending: ['NULL'] } },
  },
  {
    by: 'a duplicated id',
    breaks: 'artists.artist_id unique and not null',
    sql: [...unconstrain('artists', 'artist_id'), `INSERT INTO artists (artist_id, name, song_id) VALUES ('ARA', 'Artist A again', 'SOA')`],
    fails: { 'artists.artist_id unique and not null': { count: 2, offending: ['ARA'] } },
  },
  {
    by: 'a NULL id',
    breaks: 'artists.artist_id unique and not null',
    sql: [...unconstrain('artists', 'artist_id'), `INSERT INTO artists (artist_id, name, song_id) VALUES (NULL, 'Nobody', 'SOA')`],
    fails: { 'artists.artist_id unique and not null': { count: 1, offending: ['NULL'] } },
  },
  {
    by: 'a duplicated start_time',
    breaks: 'time.start_time unique and not null',
    sql: [...unconstrain('time', 'start_time'), `INSERT INTO time VALUES ('2018-11-03 23:59:59.999', 23, 3, 44, 11, 2018, 6)`],
    fails: { 'time.start_time unique and not null': { count: 2, offending: ['2018-11-03 23:59:59.999'] } },
  },
  {
    by: 'a NULL start_time',
    breaks: 'time.start_time unique and not null',
    sql: [...unconstrain('time', 'start_time'), `INSERT INTO time VALUES (NULL, 23, 3, 44, 11, 2018, 6)`],
    fails: { 'time.start_time unique and not null': { count: 1, offending: ['NULL'] } },
  },

  // References of the fact table: the missing keys once each, with the count of plays.
  {
    by: 'two unknown users',
    breaks: 'songplays.user_id exists in users',
    sql: [play(4, 40, 0, 91), play(5, 40, 1, 91), play(6, 40, 2, 80)],
    fails: { 'songplays.user_id exists in users': { count: 3, offending: ['80', '91'] } },
  },
  {
    by: 'seven unknown users',
    breaks: 'songplays.user_id exists in users',
    // More offenders than the sample: all are counted, the first few named.
    sql: [1, 2, 3, 4, 5, 6, 7].map((i) => play(100 + i, 50, i, 100 + i)),
    fails: { 'songplays.user_id exists in users': { count: 7, offending: ['101', '102', '103', '104', '105'] } },
  },
  {
    by: 'an unknown start_time',
    breaks: 'songplays.start_time exists in time',
    sql: [play(4, 40, 0, 77, '2018-11-04 00:30:00.25')],
    fails: { 'songplays.start_time exists in time': { count: 1, offending: ['2018-11-04 00:30:00.25'] } },
  },
  {
    by: 'an unknown song',
    breaks: 'songplays.song_id exists in songs',
    sql: [play(4, 40, 0, 77, '2018-11-01 10:00:00', "'SOZ'", "'ARA'")],
    fails: { 'songplays.song_id exists in songs': { count: 1, offending: ['SOZ'] } },
  },
  {
    by: 'an unknown artist',
    breaks: 'songplays.artist_id exists in artists',
    sql: [play(4, 40, 0, 77, '2018-11-01 10:00:00', 'NULL', "'ARZ'")],
    fails: { 'songplays.artist_id exists in artists': { count: 1, offending: ['ARZ'] } },
  },

  // The staged batch has all its plays: missing ones by (session_id, item_in_session), each counted once.
  {
    by: 'a deleted play and a new staged one',
    breaks: 'songplays has every staged NextSong play',
    sql: [
      `INSERT INTO staging_events (session_id, item_in_session, page, ts, user_id) VALUES
        (40, 3, 'NextSong', 1541066400000, '79'), (40, 3, 'NextSong', 1541066400000, '79'), (40, 4, 'Logout', 1541066400000, '79')`,
      'DELETE FROM songplays WHERE songplay_id = 2',
    ],
    fails: { 'songplays has every staged NextSong play': { count: 2, offending: ['(10, 1)', '(40, 3)'] } },
  },

  // Domains.
  {
    by: "level 'premium'",
    breaks: "users.level is 'free' or 'paid'",
    sql: [`UPDATE users SET level = 'premium' WHERE user_id = 78`],
    fails: { "users.level is 'free' or 'paid'": { count: 1, offending: ['(78, premium)'] } },
  },
  {
    by: 'level NULL',
    breaks: "users.level is 'free' or 'paid'",
    sql: [`UPDATE users SET level = NULL WHERE user_id = 77`],
    fails: { "users.level is 'free' or 'paid'": { count: 1, offending: ['(77, NULL)'] } },
  },
  ...(
    [
      ['hour', 24, 'in 0-23'],
      ['hour', -1, 'in 0-23'],
      ['day', 0, 'in 1-31'],
      ['day', 32, 'in 1-31'],
      ['week', 0, 'in 1-53'],
      ['week', 54, 'in 1-53'],
      ['month', 0, 'in 1-12'],
      ['month', 13, 'in 1-12'],
      ['weekday', -1, 'in 0-6'],
      ['weekday', 7, 'in 0-6'],
    ] as const
  ).map(
    ([part, value, range]): Case => ({
      by: `${part} ${value}`,
      breaks: `time.${part} ${range}`,
      sql: [`UPDATE time SET ${part} = ${value} WHERE start_time = '2018-11-01 10:05:00'`],
      fails: { [`time.${part} ${range}`]: { count: 1, offending: [`(2018-11-01 10:05:00, ${value})`] } },
    }),
  ),
];

/** `warehouse` with the statements it is sent recorded, and optionally another engine's dialect. */
function spied(warehouse: Warehouse, dialect: Dialect = warehouse.dialect): { warehouse: Warehouse; sent: string[] } {
  const sent: string[] = [];
  const proxy = new Proxy(warehouse, {
    get(target, property) {
      if (property === 'dialect') return dialect;
      if (property === 'query') {
        return (sql: string, params?: readonly unknown[]) => {
          sent.push(sql);
          return target.query(sql, params);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { warehouse: proxy, sent };
}

const KEY_CHECKS = CHECK_QUERIES.filter((q) => q.uniqueKey !== undefined);
const scanned = (sent: readonly string[]): string[] => KEY_CHECKS.filter((q) => sent.includes(q.sql)).map((q) => q.name);

const failures = (results: readonly CheckResult[]): Record<string, Failure> =>
  Object.fromEntries(results.filter((r) => !r.passed).map((r) => [r.name, { count: r.count, offending: r.offending }]));

describe.each(ENGINES)('quality checks on %s', (engine) => {
  let warehouse: Warehouse;
  let database: string | undefined;

  beforeAll(async () => {
    if (engine === 'pglite') {
      warehouse = await PgliteWarehouse.open(await freshPgliteDir());
    } else {
      database = await createPgDatabase('sparkify_test_checks');
      warehouse = await PostgresWarehouse.open({ ...PG_SERVER, password: PG_SERVER.password ?? '', database, ssl: 'disable' });
    }
  });

  afterAll(async () => {
    await warehouse?.close();
    if (database) await dropPgDatabase(database);
    await removeTempDirs();
  });

  beforeEach(async () => {
    await createTables(warehouse);
    for (const sql of CLEAN) await warehouse.query(sql);
  });

  const breakWith = async (sql: readonly string[]) => {
    for (const statement of sql) await warehouse.query(statement);
  };

  it('passes every check on the clean dataset', async () => {
    const results = await runChecks(warehouse);
    expect(results.map((r) => r.name)).toEqual(CHECK_QUERIES.map((q) => q.name));
    expect(failures(results)).toEqual({});
    expect(checkFailure(results)).toBeUndefined();
  });

  it('breaks every check in at least one case', () => {
    const broken = new Set(CASES.map((c) => c.breaks));
    expect(CHECK_QUERIES.map((q) => q.name).filter((name) => !broken.has(name))).toEqual([]);
  });

  it.each(CASES)('fails $breaks: $by', async ({ breaks, sql, fails }) => {
    await breakWith(sql);
    const results = await runChecks(warehouse);
    expect(failures(results)).toEqual(fails);
    expect(Object.keys(fails)).toContain(breaks);
    // The message names the first failed check, in the order the checks run.
    expect(checkFailure(results)?.message).toContain(`Quality check failed: ${Object.keys(fails)[0]}: `);
  });

  it('passes on empty tables without the "has rows" checks, and fails them with', async () => {
    await breakWith(['DELETE FROM songplays', 'DELETE FROM users', 'DELETE FROM songs', 'DELETE FROM artists', 'DELETE FROM time', 'DELETE FROM staging_events']);
    const relaxed = await runChecks(warehouse, { requireRows: false });
    expect(relaxed.some((r) => r.check === 'has rows')).toBe(false);
    expect(relaxed.length).toBe(CHECK_QUERIES.length - 5);
    expect(failures(relaxed)).toEqual({});

    const strict = await runChecks(warehouse, { requireRows: true });
    expect(Object.keys(failures(strict))).toEqual(['songplays has rows', 'users has rows', 'songs has rows', 'artists has rows', 'time has rows']);
    expect(checkFailure(strict)?.message).toBe('Quality check failed: songplays has rows: the table is empty (and 4 more failed checks)');
  });

  it('answers a key the engine enforces from the catalog, and scans for it once the key is dropped', async () => {
    const first = spied(warehouse);
    expect(failures(await runChecks(first.warehouse))).toEqual({});
    // Only (session_id, item_in_session) has no unique index: the primary keys are not scanned.
    expect(scanned(first.sent)).toEqual(['songplays (session_id, item_in_session) unique and not null']);

    await breakWith(unconstrain('users', 'user_id'));
    const second = spied(warehouse);
    await runChecks(second.warehouse);
    expect(scanned(second.sent)).toEqual(['songplays (session_id, item_in_session) unique and not null', 'users.user_id unique and not null']);
  });

  it('takes a unique index over NOT NULL columns for the key, not a partial one, nor one over a nullable column', async () => {
    await breakWith(['CREATE UNIQUE INDEX songplays_partial ON songplays (session_id, item_in_session) WHERE session_id > 0']);
    const partial = spied(warehouse);
    await runChecks(partial.warehouse);
    expect(scanned(partial.sent)).toContain('songplays (session_id, item_in_session) unique and not null');

    await breakWith(['CREATE UNIQUE INDEX songplays_play ON songplays (session_id, item_in_session)']);
    const full = spied(warehouse);
    await runChecks(full.warehouse);
    expect(scanned(full.sent)).toEqual([]);

    // A unique artist_id, but nullable: NULLs would pass the index, so the check scans.
    await breakWith([...unconstrain('artists', 'artist_id'), 'CREATE UNIQUE INDEX artists_id ON artists (artist_id)']);
    const nullable = spied(warehouse);
    await breakWith([`INSERT INTO artists (artist_id, name, song_id) VALUES (NULL, 'Nobody', 'SOA')`]);
    const results = await runChecks(nullable.warehouse);
    expect(scanned(nullable.sent)).toEqual(['artists.artist_id unique and not null']);
    expect(failures(results)).toEqual({ 'artists.artist_id unique and not null': { count: 1, offending: ['NULL'] } });
  });

  it("scans every key with a dialect that enforces none (Redshift's), whatever the catalog holds", async () => {
    const redshift = spied(warehouse, redshiftDialect);
    expect(failures(await runChecks(redshift.warehouse))).toEqual({});
    expect(scanned(redshift.sent)).toEqual(KEY_CHECKS.map((q) => q.name));
  });

  it('reports a check that cannot run as an EtlError naming it', async () => {
    await warehouse.query('DROP TABLE users');
    const error = await runChecks(warehouse).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EtlError);
    expect((error as Error).message).toMatch(/^Quality check "users has rows" could not run on .*users/);
  });
});

describe('check results in words', () => {
  const result = (name: string, offending: string[], count = offending.length, key = 'user_id'): CheckResult => {
    const [table, ...rest] = name.split(/[. ]/);
    return { table: table!, check: rest.join(' '), name, passed: offending.length === 0 && key !== '', count, key, offending };
  };
  const ok = result('songplays.user_id exists in users', []);
  const missingUsers = result('songplays.user_id exists in users', ['77', '78', '91'], 3);
  const badLevel = result("users.level is 'free' or 'paid'", ['(78, premium)'], 1, '(user_id, level)');

  it('names the first failed check, a few offending keys and how many more checks failed', () => {
    expect(checkFailure([ok])).toBeUndefined();
    expect(checkFailure([ok, missingUsers])?.message).toBe('Quality check failed: songplays.user_id exists in users: 3 rows, e.g. user_id 77, 78, 91');
    expect(checkFailure([missingUsers, badLevel])?.message).toBe(
      'Quality check failed: songplays.user_id exists in users: 3 rows, e.g. user_id 77, 78, 91 (and 1 more failed check)',
    );
    expect(checkFailure([badLevel])?.message).toBe("Quality check failed: users.level is 'free' or 'paid': 1 row, e.g. (user_id, level) (78, premium)");
    expect(checkFailure([badLevel])).toBeInstanceOf(EtlError);
    expect(checkFailure([badLevel])?.message).not.toContain('\n');
  });

  it('formats the results as a table: table | check | result', () => {
    expect(formatChecks([ok, missingUsers, badLevel])).toBe(
      [
        'table     | check                     | result',
        '----------+---------------------------+---------------------------------------------------',
        'songplays | user_id exists in users   | ok',
        'songplays | user_id exists in users   | FAILED: 3 rows, e.g. user_id 77, 78, 91',
        "users     | level is 'free' or 'paid' | FAILED: 1 row, e.g. (user_id, level) (78, premium)",
        '3 checks, 2 failed',
        '',
      ].join('\n'),
    );
    expect(CHECK_SAMPLE_SIZE).toBe(5);
  });
});
