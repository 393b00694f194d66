/**
 * Baseline (e): the original projects' pattern. Every event is one autocommitted INSERT into staging_events
 * through `pg`, and every NextSong play one SELECT looking its song up by title, artist and length. Runs on a
 * sample of the events (one line in `sampleEvery`). With `loadSongs` the songs are loaded first, untimed, so
 * the lookups scan a full songs table; without, the table stays empty (the cheapest lookup there is).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import type { NaiveArgs } from './args.js';
import { floorArgs, listFiles, printResult } from './common.js';

const { logDir, songDir, connection, ddl, eventColumns, sampleEvery, loadSongs } = floorArgs<NaiveArgs>();
const client = new pg.Client({ ...connection, connectionTimeoutMillis: 15_000 });
await client.connect();
for (const sql of ddl) await client.query(sql);

// Set-up, untimed: the songs, a thousand rows per statement.
type Song = Record<string, unknown>;
const songFiles = loadSongs ? await listFiles(songDir) : [];
for (let i = 0; i < songFiles.length; i += 1000) {
  const batch = await Promise.all(songFiles.slice(i, i + 1000).map(async (f) => [f, JSON.parse(await readFile(f, 'utf8')) as Song] as const));
  const values: unknown[] = [];
  const rows = batch.map(([file, s], n) => {
    values.push(s.song_id, s.title, s.artist_id, s.year, s.duration, s.artist_name, relative(songDir, file));
    return `(${Array.from({ length: 7 }, (_, k) => `$${n * 7 + k + 1}`).join(', ')})`;
  });
  await client.query(
    `INSERT INTO songs (song_id, title, artist_id, year, duration, artist_name, source_key) VALUES ${rows.join(', ')} ON CONFLICT (song_id) DO NOTHING`,
    values,
  );
}

const insert = `INSERT INTO staging_events (${eventColumns.map((c) => c.column).join(', ')}, source_key, source_line) VALUES (${eventColumns
  .map((_, i) => `$${i + 1}`)
  .join(', ')}, $${eventColumns.length + 1}, $${eventColumns.length + 2})`;
const lookup = 'SELECT song_id, artist_id FROM songs WHERE title = $1 AND artist_name = $2 AND ABS(duration - $3) <= 0.01';

const logFiles = await listFiles(logDir);
const started = performance.now();
let line = 0;
let events = 0;
let plays = 0;
let matched = 0;
let failed = 0;
for (const file of logFiles) {
  const key = relative(logDir, file);
  let lineNo = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    lineNo++;
    if (text.trim() === '' || line++ % sampleEvery !== 0) continue;
    const event = JSON.parse(text) as Record<string, unknown>;
    const values = eventColumns.map((c) => event[c.json] ?? null);
    try {
      await client.query(insert, [...values, key, lineNo]);
    } catch {
      failed++;
    }
    events++;
    if (event.page === 'NextSong') {
      plays++;
      const found = await client.query(lookup, [event.song ?? null, event.artist ?? null, event.length ?? null]);
      if (found.rowCount) matched++;
    }
  }
}
const seconds = (performance.now() - started) / 1000;
await client.end();
printResult({ seconds, events, plays, matched, failed, sampleEvery, songsLoaded: songFiles.length });
