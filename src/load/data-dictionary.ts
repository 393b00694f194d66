/**
 * The data dictionary of the seven tables (`etl docs`): each column's type, nullability and meaning, the keys,
 * and on Redshift the distribution and sort keys. Columns, types and keys are read from the DDL itself
 * (`createTable` of queries.ts, with PRIMARY_KEYS and the staging schema of transform/schema.ts), so the
 * dictionary cannot drift from the tables; only the meanings are written here, and a column without one is an
 * error (data-dictionary.test.ts).
 */
import { STAGING } from '../transform/schema.js';
import { ALL_TABLES, createTable, PRIMARY_KEYS, postgresDialect, type AnalyticTable, type Dialect, type TableName } from './queries.js';
import { redshiftDialect } from './redshift/redshift-dialect.js';

export interface ColumnEntry {
  readonly name: string;
  /** Type as PostgreSQL and PGlite create it. */
  readonly type: string;
  /** Type on Redshift, where it differs. */
  readonly redshiftType?: string;
  readonly nullable: boolean;
  readonly key: boolean;
  readonly meaning: string;
}

export interface TableEntry {
  readonly name: TableName;
  readonly role: string;
  readonly meaning: string;
  readonly primaryKey: readonly string[];
  /** Redshift's DISTSTYLE/DISTKEY/SORTKEY clauses, as created. */
  readonly redshift: { readonly distStyle?: string; readonly distKey?: string; readonly sortKey?: string; readonly clauses: string };
  /** Other tables' columns this table's columns refer to: column -> table.column. */
  readonly references: Readonly<Record<string, string>>;
  readonly columns: readonly ColumnEntry[];
}

const TABLE_MEANINGS: Record<'staging_events' | 'staging_songs' | AnalyticTable, { role: string; meaning: string; references?: Record<string, string> }> = {
  staging_events: { role: 'staging', meaning: 'The last batch of app event log records (every page, not only song plays), one row per valid JSON line; emptied before each load.' },
  staging_songs: { role: 'staging', meaning: 'The last batch of song metadata records, one row per valid song JSON object; emptied before each load.' },
  songplays: {
    role: 'fact',
    meaning: 'One row per song play: a NextSong event of a known user, matched to a song and artist where title, artist name and duration agree.',
    references: { user_id: 'users.user_id', start_time: 'time.start_time', song_id: 'songs.song_id', artist_id: 'artists.artist_id' },
  },
  users: { role: 'dimension', meaning: 'One row per user with a play; names, gender and level from their latest play.' },
  songs: { role: 'dimension', meaning: 'One row per song of the catalogue; a song_id seen in several records takes the one of the first object key.', references: { artist_id: 'artists.artist_id' } },
  artists: { role: 'dimension', meaning: 'One row per artist of the catalogue, with the attributes of their lowest song_id.', references: { song_id: 'songs.song_id' } },
  time: { role: 'dimension', meaning: 'One row per distinct play timestamp, broken into calendar units (UTC).' },
};

const LINEAGE: Record<string, string> = {
  source_key: 'Key (path) of the source object the row came from; NULL after a direct JSON COPY on Redshift.',
  source_line: 'Line of the record in its source object (1-based); NULL after a direct JSON COPY on Redshift.',
};

const ANALYTIC_MEANINGS: Record<string, Record<string, string>> = {
  songplays: {
    songplay_id: 'Surrogate key of the play (generated; values differ between engines).',
    start_time: 'When the play started (UTC), from the event ts in epoch milliseconds.',
    user_id: 'The user who played (users.user_id).',
    level: "The user's level at the time of the play: free or paid.",
    song_id: 'The matched song (songs.song_id); NULL when no song of the catalogue matched.',
    artist_id: 'The matched artist (artists.artist_id); NULL when no song matched.',
    session_id: 'The app session of the play.',
    location: "The user's location as the app reported it.",
    user_agent: "The user's browser or app user agent.",
    item_in_session: 'Position of the event in its session; with session_id it identifies the event, so re-runs update instead of duplicating.',
    source_key: 'The log object the play came from (`replay:<key>` for a record re-submitted by etl replay): a changed object has its earlier plays replaced.',
  },
  users: {
    user_id: 'The user id of the app (userId of the events).',
    first_name: 'First name, from the latest play.',
    last_name: 'Last name, from the latest play.',
    gender: 'Gender as reported (F or M), from the latest play.',
    level: 'Current level (free or paid): the level of the latest play.',
    last_play_at: 'The latest play the attributes come from; a later load only moves a user forward.',
  },
  songs: {
    song_id: 'Song id of the catalogue (SO...).',
    title: 'Song title.',
    artist_id: 'The artist (artists.artist_id).',
    year: 'Release year; NULL when unknown (0 in the source).',
    duration: 'Length in seconds.',
    artist_name: 'Artist name as in the song record: what plays are matched on.',
    source_key: 'The song object the record came from: the first key in byte order wins for a song_id.',
  },
  artists: {
    artist_id: 'Artist id of the catalogue (AR...).',
    name: 'Artist name.',
    location: 'Artist location; NULL when empty.',
    latitude: 'Latitude of the location, degrees.',
    longitude: 'Longitude of the location, degrees.',
    song_id: "The artist's lowest song_id: the record the attributes come from.",
  },
  time: {
    start_time: 'A play timestamp (songplays.start_time), UTC.',
    hour: 'Hour of day, 0-23.',
    day: 'Day of month, 1-31.',
    week: 'ISO-8601 week of the year, 1-53.',
    month: 'Month, 1-12.',
    year: 'Year.',
    weekday: 'Day of week, 0 = Sunday to 6 = Saturday.',
  },
};

/** A staging column's meaning: the JSON field it holds. */
function stagingMeaning(table: 'staging_events' | 'staging_songs', column: string): string | undefined {
  if (LINEAGE[column]) return LINEAGE[column];
  const spec = (table === 'staging_events' ? STAGING.events : STAGING.songs).fields.find((f) => f.column === column);
  if (!spec) return undefined;
  return `JSON field "${spec.json}" of the ${table === 'staging_events' ? 'event log' : 'song'} record (${spec.type}${spec.required ? ', required: a record without it is rejected' : ''}).`;
}

export function columnMeaning(table: TableName, column: string): string | undefined {
  if (table === 'staging_events' || table === 'staging_songs') return stagingMeaning(table, column);
  return ANALYTIC_MEANINGS[table]?.[column];
}

/** The column definitions of a CREATE TABLE statement: name, type, NOT NULL. */
export function parseColumns(ddl: string): { name: string; type: string; nullable: boolean }[] {
  const body = ddl.slice(ddl.indexOf('(') + 1, ddl.lastIndexOf('\n)'));
  return body
    .split(',\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(PRIMARY|UNIQUE|FOREIGN|CONSTRAINT|CHECK)\b/i.test(line))
    .map((line) => {
      const m = /^(\w+)\s+(.*?)(\s+NOT NULL)?$/i.exec(line);
      if (!m) throw new Error(`Cannot read the column definition "${line}"`);
      return { name: m[1]!, type: m[2]!, nullable: !m[3] };
    });
}

function redshiftKeys(d: Dialect, table: TableName): TableEntry['redshift'] {
  const clauses = d.tableAttributes(table);
  const distStyle = /DISTSTYLE\s+(\w+)/i.exec(clauses)?.[1];
  const distKey = /DISTKEY\s*\(([^)]*)\)/i.exec(clauses)?.[1];
  const sortKey = /SORTKEY\s*\(([^)]*)\)/i.exec(clauses)?.[1];
  return { clauses, ...(distStyle ? { distStyle } : {}), ...(distKey ? { distKey } : {}), ...(sortKey ? { sortKey } : {}) };
}

/** The dictionary of the seven tables (staging first, then the star schema). */
export function dataDictionary(): TableEntry[] {
  return ALL_TABLES.map((table) => {
    const pg = parseColumns(createTable(postgresDialect, table));
    const rs = new Map(parseColumns(createTable(redshiftDialect, table)).map((c) => [c.name, c]));
    const primaryKey = PRIMARY_KEYS[table] ?? [];
    const info = TABLE_MEANINGS[table as keyof typeof TABLE_MEANINGS];
    return {
      name: table,
      role: info.role,
      meaning: info.meaning,
      primaryKey,
      redshift: redshiftKeys(redshiftDialect, table),
      references: info.references ?? {},
      columns: pg.map((c) => {
        const redshiftType = rs.get(c.name)?.type;
        return {
          ...c,
          // A primary key column is NOT NULL whether or not it says so (songplay_id: an identity column).
          nullable: c.nullable && !primaryKey.includes(c.name),
          ...(redshiftType && redshiftType !== c.type ? { redshiftType } : {}),
          key: primaryKey.includes(c.name),
          meaning: columnMeaning(table, c.name) ?? '',
        };
      }),
    };
  });
}
