/**
 * What Redshift's SQL needs that PostgreSQL's does not: an IDENTITY surrogate key, distribution and sort keys,
 * and an explicit case-sensitive collation where the contract asks for byte order.
 */
import type { Dialect, TableName } from '../queries.js';

/**
 * Distribution and sort keys, chosen for the statements in `transformSteps` and for star-schema queries.
 *
 * - staging_events DISTKEY(session_id): "pick staged plays" ranks events PARTITION BY (session_id,
 *   item_in_session) and joins the matches back on the same pair; with session_id as the distribution key both
 *   run slice-locally. Sessions are many and evenly sized, so the load is not skewed.
 * - staging_songs DISTKEY(song_id): "pick staged songs" ranks PARTITION BY song_id, likewise slice-local.
 * - songplays DISTKEY(start_time) SORTKEY(start_time): not song_id, although that is the textbook choice: song_id
 *   is NULL for almost every play (1 of 6,820 plays of the public sample matches a song), so DISTKEY(song_id)
 *   would put nearly the whole fact table on one slice. start_time is almost unique per play (6,813 distinct in
 *   6,820), spreads evenly, collocates the fact with `time` (its only dimension as large as itself), and is what
 *   analysts filter on, so it is also the sort key (zone maps skip blocks outside a time range).
 * - time DISTKEY(start_time) SORTKEY(start_time): one row per play time, as large as songplays; same key, so the
 *   fact-to-time join and "insert time"'s NOT EXISTS are slice-local.
 * - users, songs, artists DISTSTYLE ALL: small, slowly changing dimensions (96, 71, 69 rows in the sample;
 *   about 15,000 songs in production). A copy on every node makes every join to them local, including the
 *   song matching join of "pick staged plays" (title, artist_name), whatever the plays' distribution.
 *   Sorted on their MERGE keys.
 */
const TABLE_ATTRIBUTES: Record<TableName, string> = {
  staging_events: 'DISTSTYLE KEY DISTKEY(session_id)',
  staging_songs: 'DISTSTYLE KEY DISTKEY(song_id)',
  songplays: 'DISTSTYLE KEY DISTKEY(start_time) SORTKEY(start_time)',
  users: 'DISTSTYLE ALL SORTKEY(user_id)',
  songs: 'DISTSTYLE ALL SORTKEY(song_id)',
  artists: 'DISTSTYLE ALL SORTKEY(artist_id)',
  time: 'DISTSTYLE KEY DISTKEY(start_time) SORTKEY(start_time)',
  // Bookkeeping: small, read whole or by key.
  load_errors: 'DISTSTYLE EVEN',
  staging_objects: 'DISTSTYLE ALL',
  load_ledger: 'DISTSTYLE ALL SORTKEY(kind, source_key)',
  staging_pruned: 'DISTSTYLE ALL',
  // As large as songs (a few duplicate records): a copy on every node, like songs, for the ranking by song_id.
  song_records: 'DISTSTYLE ALL SORTKEY(song_id)',
  // As large as songplays; merged and joined by (session_id, item_in_session), like staging_events.
  play_events: 'DISTSTYLE KEY DISTKEY(session_id) SORTKEY(session_id)',
};

export const redshiftDialect: Dialect = {
  // Seed 0, step 1: values are unique, not consecutive (each slice takes its own range); the contract only
  // asks for a surrogate key.
  surrogateKey: 'BIGINT IDENTITY(0,1)',
  tableAttributes: (table) => TABLE_ATTRIBUTES[table],
  // Redshift has no locale collations: strings compare by their UTF-8 bytes, which is the contract's
  // lexicographic order, but only in a case-sensitive database (the default). A database created with
  // COLLATE CASE_INSENSITIVE would order 'a' and 'B' case-blind and so pick a different "first object key"
  // (keys such as song_data/A/B/C/TRABC... mix cases). COLLATE(expr, 'case_sensitive') pins byte order either
  // way and changes nothing in a case-sensitive database; in a comparison, the explicit collation of one side
  // decides the comparison's.
  bytewise: (expr) => `COLLATE(${expr}, 'case_sensitive')`,
  // "Serializable isolation": lock the tables at the start of a transaction, so a concurrent one waits
  // instead of failing with error 1023.
  lockTable: (table) => `LOCK ${table}`,
  // "Defining table constraints": keys are informational and the planner assumes them to hold, so a
  // duplicate could slip past the uniqueness checks (e.g. a GROUP BY on a declared key); none is declared.
  primaryKey: () => '',
  // STV_SESSIONS shows a regular user only their own sessions: a lease stays until it expires.
  liveSession: undefined,
  transformSettings: [],
  analyzeInTransform: false,
};
