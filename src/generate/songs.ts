/**
 * Synthetic song records. Song `index` is a pure function of (seed, index), so the event generator can
 * reference any song without a catalogue in memory, and tests can recompute what a play should match.
 *
 * Songs come in blocks of 8 indexes; each block is split into 1-8 artists (so there are fewer artists than
 * songs, about one per 2.6 songs), and every artist's attributes are a pure function of (seed, artist index).
 * In about one artist group in seven with two or more songs, the second song repeats the first one's title
 * (same artist) with a different duration: a play then matches one of the two by length.
 */
import { Random, hash32 } from './random.js';
import {
  ADJECTIVES,
  ARTIST_LOCATIONS,
  FIRST_NAMES_ARTIST,
  FOREIGN_WORDS,
  LAST_NAMES_ARTIST,
  NOUNS,
  PREPOSITIONS,
  SPECIAL_ARTISTS,
  VERBS,
} from './vocabulary.js';

/** The single object of a song file, fields in the real files' order. */
export interface SongRecord {
  num_songs: number;
  artist_id: string;
  artist_latitude: number | null;
  artist_longitude: number | null;
  artist_location: string;
  artist_name: string;
  song_id: string;
  title: string;
  duration: number;
  year: number;
}

export interface GeneratedSong {
  /** "TR" + 16 upper-case letters and digits; its 3rd-5th characters name the folders. */
  trackId: string;
  /** Path of the song file relative to the output root: song_data/A/B/C/TRABC....json */
  path: string;
  record: SongRecord;
}

interface Artist {
  artist_id: string;
  artist_latitude: number | null;
  artist_longitude: number | null;
  artist_location: string;
  artist_name: string;
}

const SALT_SONG = 0x50_4e_47;
const SALT_ARTIST = 0x41_52_54;
const SALT_BLOCK = 0x42_4c_4b;

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const HEX = '0123456789ABCDEF';
const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
/** Largest index an id can encode (7 base-36 digits). */
export const MAX_SONGS = 36 ** 7;

const BLOCK = 8;
/** Ways to split a block of 8 songs into artists (group sizes). */
const PARTITIONS: readonly (readonly number[])[] = [
  [8], [4, 4], [2, 3, 3], [1, 2, 5], [1, 1, 1, 1, 4], [3, 5], [2, 2, 2, 2], [1, 7], [1, 1, 2, 2, 2],
  [5, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1], [6, 2], [2, 1, 3, 1, 1],
];

const base36 = (n: number, width: number): string => n.toString(36).toUpperCase().padStart(width, '0');

/** A 16-character id body that embeds `index`, so ids are unique by construction. */
const idBody = (rng: Random, index: number): string => rng.chars(UPPER, 5) + base36(index, 7) + rng.chars(HEX, 4);

/** Which artist group song `index` belongs to: the artist index and the song's position in the group. */
const groupOf = (seed: number, index: number): { artist: number; position: number } => {
  const block = Math.floor(index / BLOCK);
  const offset = index - block * BLOCK;
  const parts = PARTITIONS[hash32(seed, SALT_BLOCK, block) % PARTITIONS.length] as readonly number[];
  let start = 0;
  for (const size of parts) {
    if (offset < start + size) return { artist: block * BLOCK + start, position: offset - start };
    start += size;
  }
  /* c8 ignore next */
  throw new Error('unreachable: partitions cover the block');
};

const artistOf = (seed: number, artistIndex: number): Artist => {
  const rng = Random.of(seed, SALT_ARTIST, artistIndex);
  const artist_id = 'AR' + idBody(rng, artistIndex);
  const style = rng.next();
  let artist_name: string;
  if (style < 0.12) artist_name = rng.pick(SPECIAL_ARTISTS);
  else if (style < 0.47) artist_name = `The ${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}s`;
  else if (style < 0.67) artist_name = `${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}`;
  else if (style < 0.92) artist_name = `${rng.pick(FIRST_NAMES_ARTIST)} ${rng.pick(LAST_NAMES_ARTIST)}`;
  else artist_name = `${rng.pick(FIRST_NAMES_ARTIST)} ${rng.pick(LAST_NAMES_ARTIST)} & The ${rng.pick(NOUNS)}s`;
  const located = rng.chance(0.45);
  const artist_latitude = located ? rng.decimal5(-55, 70) : null;
  const artist_longitude = located ? rng.decimal5(-180, 180) : null;
  const artist_location = rng.chance(0.3) ? '' : rng.pick(ARTIST_LOCATIONS);
  return { artist_id, artist_latitude, artist_longitude, artist_location, artist_name };
};

/** A song title; now and then with a comma, double quotes, an apostrophe, a backslash, a slash or non-ASCII. */
export const songTitle = (rng: Random): string => {
  const u = rng.next();
  if (u < 0.02) return `Yes, ${rng.pick(NOUNS)}, ${rng.pick(NOUNS)}`;
  if (u < 0.035) return `The "${rng.pick(NOUNS)}" Song`;
  if (u < 0.055) return `Don't ${rng.pick(VERBS)} My ${rng.pick(NOUNS)}`;
  if (u < 0.065) return `${rng.pick(NOUNS)} \\ ${rng.pick(NOUNS)}`;
  if (u < 0.075) return `${rng.pick(NOUNS)} / ${rng.pick(NOUNS)}`;
  if (u < 0.11) return `${rng.pick(FOREIGN_WORDS)} ${rng.pick(NOUNS)}`;
  if (u < 0.45) return `${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}`;
  if (u < 0.65) return `${rng.pick(VERBS)} ${rng.pick(PREPOSITIONS)} The ${rng.pick(NOUNS)}`;
  if (u < 0.8) return `The ${rng.pick(NOUNS)} Of ${rng.pick(NOUNS)}`;
  if (u < 0.9) return `${rng.pick(NOUNS)} (${rng.pick(ADJECTIVES)} Mix)`;
  return `${rng.pick(VERBS)} Me ${rng.pick(ADJECTIVES)}`;
};

/** Song `index` before the duplicate-title rule. */
const baseSong = (seed: number, index: number, artist: Artist): GeneratedSong => {
  const rng = Random.of(seed, SALT_SONG, index);
  const c3 = rng.chance(0.6) ? 'A' : 'B';
  const trackId = 'TR' + c3 + rng.chars(UPPER, 5) + base36(index, 7) + rng.chars(ALNUM, 3);
  const song_id = 'SO' + idBody(rng, index);
  const title = songTitle(rng);
  const duration = rng.chance(0.9) ? rng.decimal5(120, 360) : rng.decimal5(25, 1200);
  const year = rng.chance(0.4) ? 0 : rng.range(1955, 2010);
  return {
    trackId,
    path: `song_data/${trackId[2]}/${trackId[3]}/${trackId[4]}/${trackId}.json`,
    record: { num_songs: 1, ...artist, song_id, title, duration, year },
  };
};

/** Song `index` under `seed`, with its track id and file path: a pure function of the two. */
export const generatedSong = (seed: number, index: number): GeneratedSong => {
  const { artist: artistIndex, position } = groupOf(seed, index);
  const artist = artistOf(seed, artistIndex);
  const song = baseSong(seed, index, artist);
  if (position === 1 && hash32(seed, SALT_ARTIST, artistIndex, 1) % 7 === 0) {
    // Same title and artist as the group's first song, a different duration (at least 2 s apart).
    const first = baseSong(seed, index - 1, artist).record;
    song.record.title = first.title;
    const delta = 2 + (hash32(seed, SALT_SONG, index, 1) % 60) + 0.12345;
    song.record.duration = Math.round((first.duration + delta) * 1e5) / 1e5;
  }
  return song;
};

/** The record of song `index` under `seed`. */
export const songRecord = (seed: number, index: number): SongRecord => generatedSong(seed, index).record;

/** A float the way Python's json writes it: always with a fractional part (218.93179, 1540919166796.0). */
export const formatFloat = (value: number): string =>
  Number.isInteger(value) ? `${value}.0` : JSON.stringify(value);

/** JSON text with every non-ASCII character as \uXXXX, as Python's json.dumps writes it by default. */
const asciiJson = (value: string): string =>
  JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

/**
 * The text of a song file, exactly as the real files are formatted: one object, `": "` and `", "` separators,
 * non-ASCII escaped, no trailing newline.
 */
export const songFileText = (record: SongRecord): string => {
  const value = (v: string | number | null, float: boolean): string =>
    v === null ? 'null' : typeof v === 'string' ? asciiJson(v) : float ? formatFloat(v) : String(v);
  return (
    `{"num_songs": ${value(record.num_songs, false)}, "artist_id": ${value(record.artist_id, false)}, ` +
    `"artist_latitude": ${value(record.artist_latitude, true)}, "artist_longitude": ${value(record.artist_longitude, true)}, ` +
    `"artist_location": ${value(record.artist_location, false)}, "artist_name": ${value(record.artist_name, false)}, ` +
    `"song_id": ${value(record.song_id, false)}, "title": ${value(record.title, false)}, ` +
    `"duration": ${value(record.duration, true)}, "year": ${value(record.year, false)}}`
  );
};
