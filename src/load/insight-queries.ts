/**
 * The analytic questions the star schema exists for (`etl insights`): named SELECTs over songplays and its
 * dimensions, one text for every engine.
 *
 * Every statement is in the PostgreSQL dialect that Redshift also accepts: no `::` casts, FILTER, DISTINCT ON
 * or ON CONFLICT, no window function (an aggregate window with ORDER BY would need a ROWS frame on Redshift),
 * no reserved word as a name, "time" quoted. Counts are CAST to INTEGER and shares to DOUBLE PRECISION, so
 * every engine's driver returns them as numbers; days are texts (TO_CHAR), not dates, so no driver turns them
 * into a local-time Date. Ties are broken by key, compared by bytes, so every engine orders rows alike.
 */
import type { Dialect } from './queries.js';

/** How the HTML page charts a query's rows. */
export interface InsightChart {
  readonly type: 'bar' | 'line' | 'doughnut';
  /** The column that labels the x axis (or the slices). */
  readonly x: string;
  /** The columns plotted, one dataset each. */
  readonly y: readonly string[];
  /** Bars drawn sideways (long labels such as song titles). */
  readonly horizontal?: boolean;
  /** One row whose `y` columns are the slices (x is then unused). */
  readonly byColumn?: boolean;
}

export interface InsightQuery {
  /** Stable name: the key of `etl insights --json`. */
  readonly name: string;
  /** The question it answers, as a heading. */
  readonly title: string;
  /** What the rows mean. */
  readonly description: string;
  /** The columns of its rows, in order. */
  readonly fields: readonly string[];
  readonly chart: InsightChart;
  readonly sql: string;
}

/** How many rows the "top" queries return. */
export const TOP_N = 10;

const PLAY_COUNT = 'CAST(COUNT(*) AS INTEGER)';
const isLevel = (level: 'free' | 'paid', column = 'sp.level') => `RTRIM(${column}) = '${level}'`;

export const insightQueries = (d: Dialect): InsightQuery[] => [
  {
    name: 'top_songs',
    title: 'Most played songs',
    description: `The ${TOP_N} songs with the most plays (only plays matched to a song in the catalogue count).`,
    fields: ['song_id', 'title', 'artist_name', 'plays'],
    chart: { type: 'bar', x: 'title', y: ['plays'], horizontal: true },
    sql: `SELECT sp.song_id, s.title, a.name AS artist_name, ${PLAY_COUNT} AS plays
FROM songplays sp
JOIN songs s ON s.song_id = sp.song_id
LEFT JOIN artists a ON a.artist_id = sp.artist_id
GROUP BY sp.song_id, s.title, a.name
ORDER BY plays DESC, ${d.bytewise('sp.song_id')}
LIMIT ${TOP_N}`,
  },
  {
    name: 'top_artists',
    title: 'Most played artists',
    description: `The ${TOP_N} artists with the most plays of their songs, and how many of their songs were played.`,
    fields: ['artist_id', 'artist_name', 'plays', 'songs_played'],
    chart: { type: 'bar', x: 'artist_name', y: ['plays'], horizontal: true },
    sql: `SELECT sp.artist_id, a.name AS artist_name, ${PLAY_COUNT} AS plays, CAST(COUNT(DISTINCT sp.song_id) AS INTEGER) AS songs_played
FROM songplays sp
JOIN artists a ON a.artist_id = sp.artist_id
GROUP BY sp.artist_id, a.name
ORDER BY plays DESC, ${d.bytewise('sp.artist_id')}
LIMIT ${TOP_N}`,
  },
  {
    name: 'plays_by_hour',
    title: 'Plays by hour of day (UTC)',
    description: 'Song plays per hour of the day, over every day loaded.',
    fields: ['hour', 'plays', 'users'],
    chart: { type: 'bar', x: 'hour', y: ['plays'] },
    sql: `SELECT t.hour, ${PLAY_COUNT} AS plays, CAST(COUNT(DISTINCT sp.user_id) AS INTEGER) AS users
FROM songplays sp
JOIN "time" t ON t.start_time = sp.start_time
GROUP BY t.hour
ORDER BY t.hour`,
  },
  {
    name: 'plays_by_weekday',
    title: 'Plays by weekday',
    description: 'Song plays per day of the week (0 = Sunday), over every week loaded.',
    fields: ['weekday', 'weekday_name', 'plays', 'users'],
    chart: { type: 'bar', x: 'weekday_name', y: ['plays'] },
    sql: `SELECT t.weekday,
  CASE t.weekday WHEN 0 THEN 'Sunday' WHEN 1 THEN 'Monday' WHEN 2 THEN 'Tuesday' WHEN 3 THEN 'Wednesday'
    WHEN 4 THEN 'Thursday' WHEN 5 THEN 'Friday' ELSE 'Saturday' END AS weekday_name,
  ${PLAY_COUNT} AS plays, CAST(COUNT(DISTINCT sp.user_id) AS INTEGER) AS users
FROM songplays sp
JOIN "time" t ON t.start_time = sp.start_time
GROUP BY t.weekday
ORDER BY t.weekday`,
  },
  {
    name: 'levels_by_day',
    title: 'Free vs paid, day by day',
    description: 'Per day (UTC): plays at the free and the paid level, and the users who played at each level that day.',
    fields: ['play_date', 'free_plays', 'paid_plays', 'free_users', 'paid_users'],
    chart: { type: 'line', x: 'play_date', y: ['free_plays', 'paid_plays', 'free_users', 'paid_users'] },
    sql: `SELECT TO_CHAR(sp.start_time, 'YYYY-MM-DD') AS play_date,
  CAST(SUM(CASE WHEN ${isLevel('free')} THEN 1 ELSE 0 END) AS INTEGER) AS free_plays,
  CAST(SUM(CASE WHEN ${isLevel('paid')} THEN 1 ELSE 0 END) AS INTEGER) AS paid_plays,
  CAST(COUNT(DISTINCT CASE WHEN ${isLevel('free')} THEN sp.user_id END) AS INTEGER) AS free_users,
  CAST(COUNT(DISTINCT CASE WHEN ${isLevel('paid')} THEN sp.user_id END) AS INTEGER) AS paid_users
FROM songplays sp
GROUP BY TO_CHAR(sp.start_time, 'YYYY-MM-DD')
ORDER BY play_date`,
  },
  {
    name: 'levels',
    title: 'Free vs paid, in all',
    description: 'Plays at each level, and the users whose current level it is (users.level, from their latest play).',
    fields: ['level', 'plays', 'users'],
    chart: { type: 'doughnut', x: 'level', y: ['plays'] },
    sql: `SELECT p.level, p.plays, CAST(COALESCE(u.users, 0) AS INTEGER) AS users
FROM (SELECT RTRIM(sp.level) AS level, ${PLAY_COUNT} AS plays FROM songplays sp GROUP BY RTRIM(sp.level)) p
LEFT JOIN (SELECT RTRIM(level) AS level, COUNT(*) AS users FROM users GROUP BY RTRIM(level)) u ON u.level = p.level
ORDER BY ${d.bytewise('p.level')}`,
  },
  {
    name: 'top_users',
    title: 'Top users',
    description: `The ${TOP_N} users with the most plays: their sessions, and their current level.`,
    fields: ['user_id', 'first_name', 'last_name', 'level', 'plays', 'sessions'],
    chart: { type: 'bar', x: 'user_id', y: ['plays', 'sessions'] },
    sql: `SELECT sp.user_id, u.first_name, u.last_name, u.level, ${PLAY_COUNT} AS plays, CAST(COUNT(DISTINCT sp.session_id) AS INTEGER) AS sessions
FROM songplays sp
LEFT JOIN users u ON u.user_id = sp.user_id
GROUP BY sp.user_id, u.first_name, u.last_name, u.level
ORDER BY plays DESC, sp.user_id
LIMIT ${TOP_N}`,
  },
  {
    name: 'song_match_share',
    title: 'Plays matched to a song',
    description: 'How many plays were matched to a song of the catalogue (title, artist and duration), and their share in percent.',
    fields: ['plays', 'matched_plays', 'unmatched_plays', 'matched_pct'],
    chart: { type: 'doughnut', x: '', y: ['matched_plays', 'unmatched_plays'], byColumn: true },
    sql: `SELECT ${PLAY_COUNT} AS plays,
  CAST(SUM(CASE WHEN sp.song_id IS NULL THEN 0 ELSE 1 END) AS INTEGER) AS matched_plays,
  CAST(SUM(CASE WHEN sp.song_id IS NULL THEN 1 ELSE 0 END) AS INTEGER) AS unmatched_plays,
  CAST(ROUND(100.0 * SUM(CASE WHEN sp.song_id IS NULL THEN 0 ELSE 1 END) / NULLIF(COUNT(*), 0), 2) AS DOUBLE PRECISION) AS matched_pct
FROM songplays sp`,
  },
  {
    name: 'sessions_per_user',
    title: 'Sessions per user',
    description: 'How many users had 1, 2, 3, ... sessions with at least one play, and their plays per session on average.',
    fields: ['sessions', 'users', 'avg_plays_per_session'],
    chart: { type: 'bar', x: 'sessions', y: ['users'] },
    sql: `SELECT s.sessions, CAST(COUNT(*) AS INTEGER) AS users,
  CAST(ROUND(1.0 * SUM(s.plays) / SUM(s.sessions), 2) AS DOUBLE PRECISION) AS avg_plays_per_session
FROM (
  SELECT sp.user_id, CAST(COUNT(DISTINCT sp.session_id) AS INTEGER) AS sessions, CAST(COUNT(*) AS INTEGER) AS plays
  FROM songplays sp
  GROUP BY sp.user_id
) s
GROUP BY s.sessions
ORDER BY s.sessions`,
  },
];
