/**
 * A deterministic, streaming generator of synthetic Sparkify input in the real format and layout
 * (see ../../../shared/docs/CONTRACT.md):
 *
 *   <dir>/song_data/<c3>/<c4>/<c5>/<trackId>.json   one object per file, Python json.dumps style
 *                                                   (`": "`, `", "`, non-ASCII as \uXXXX, no final newline)
 *   <dir>/log_data/YYYY/MM/YYYY-MM-DD-events.json   JSON lines (no final newline), compact, `\/`, raw UTF-8
 *
 * Format decisions:
 *  - Every day of the month gets a log file; a day without events gets an empty (zero-byte) file,
 *    so `logFiles` is always the number of days in the month.
 *  - Same options give byte-identical files. Existing files are overwritten; other files under `dir` are left alone.
 *  - Memory is bounded whatever the volume: songs are pure functions of (seed, index) (see songs.ts), events
 *    come from a simulation whose state is O(users), with users capped (events.ts), lines are written in
 *    64 KiB chunks with backpressure, and song files are written by a fixed number of concurrent workers.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError, EtlError } from '../errors.js';
import { eventLine, monthRange, simulateEvents } from './events.js';
import { MAX_SONGS, generatedSong, songFileText } from './songs.js';

export { songRecord, generatedSong, songFileText, type SongRecord, type GeneratedSong } from './songs.js';
export { eventLine, type SparkifyEvent } from './events.js';

export interface GenerateOptions {
  /** Output root; writes <dir>/song_data/... and <dir>/log_data/... */
  dir: string;
  /** Number of song records (one file each). */
  songs: number;
  /** Number of event lines in total. */
  events: number;
  seed: number;
  /** Share (0..1) of NextSong plays whose song/artist/length match a generated song exactly; default 0.3. */
  matchShare?: number;
  /** 'YYYY-MM', default '2018-11'; one log file per day of that month. */
  month?: string;
  /** Called every 10,000 songs or events written, and once at the end. */
  onProgress?: (written: { songs: number; events: number }) => void;
}

export interface GenerateSummary {
  songFiles: number;
  logFiles: number;
  songs: number;
  events: number;
  /** NextSong events (all of them have a user id). */
  songPlays: number;
  /** Song plays whose title, artist and length equal a generated song's. */
  matchedPlays: number;
  /** Bytes written, all files together. */
  bytes: number;
}

/** Song files written at the same time. */
export const SONG_WRITE_CONCURRENCY = 32;
const CHUNK_BYTES = 64 * 1024;
const PROGRESS_EVERY = 10_000;
const DAY_MS = 86_400_000;

const checkOptions = (options: GenerateOptions): { matchShare: number; month: string } => {
  const { dir, songs, events, seed } = options;
  const matchShare = options.matchShare ?? 0.3;
  const month = options.month ?? '2018-11';
  if (typeof dir !== 'string' || dir === '') throw new EtlError('generate: the output folder (dir) is required.');
  if (!Number.isSafeInteger(songs) || songs < 0 || songs >= MAX_SONGS)
    throw new EtlError(`generate: songs must be an integer from 0 to ${MAX_SONGS - 1}, not ${songs}.`);
  if (!Number.isSafeInteger(events) || events < 0)
    throw new EtlError(`generate: events must be a non-negative integer, not ${events}.`);
  if (!Number.isSafeInteger(seed)) throw new EtlError(`generate: seed must be an integer, not ${seed}.`);
  if (!(matchShare >= 0 && matchShare <= 1))
    throw new EtlError(`generate: matchShare must be between 0 and 1, not ${matchShare}.`);
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12 || Number(m[1]) < 1970)
    throw new EtlError(`generate: month must be YYYY-MM (from 1970), not "${month}".`);
  return { matchShare, month };
};

/** The sample data shipped with the package (`data/` at its root; this file is src/generate/ or dist/generate/). */
export const SHIPPED_DATA_DIR = fileURLToPath(new URL('../../data', import.meta.url));

/** The folder a path names, symbolic links resolved, so another spelling of the same folder is recognised. */
const realFolder = (dir: string): Promise<string> => realpath(dir).catch(() => path.resolve(dir));

/**
 * Makes `dir` ready for `generate` as the CLI uses it: never the shipped sample data (its tests and the
 * defaults rely on it), and an empty folder, since files of an earlier generation would be loaded alongside
 * the new ones; `force` removes the earlier song_data/ and log_data/ instead, leaving other files alone.
 */
export async function prepareOutputFolder(dir: string, { force = false } = {}): Promise<void> {
  const [target, shipped] = await Promise.all([realFolder(dir), realFolder(SHIPPED_DATA_DIR)]);
  const inside = path.relative(shipped, target);
  if (inside === '' || (inside.split(path.sep)[0] !== '..' && !path.isAbsolute(inside))) {
    throw new EtlError(
      `${dir} is the project's shipped sample data, which etl generate never overwrites: generate into another folder (e.g. etl generate /tmp/sparkify-data) and point S3.SONG_DATA and S3.LOG_DATA (or SPARKIFY_S3_SONG_DATA, SPARKIFY_S3_LOG_DATA) at its song_data and log_data`,
    );
  }
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    if (error.code === 'ENOTDIR') throw new EtlError(`${dir} is a file, not a folder: choose an empty folder`);
    throw new EtlError(`Cannot read the output folder ${dir}: ${describeError(error)}`, { cause: error });
  });
  if (entries.length === 0) return;
  if (!force) throw new EtlError(`${dir} is not empty: generating into it would mix old and new files; choose an empty folder or pass --force`);
  await Promise.all(['song_data', 'log_data'].map((sub) => rm(path.join(dir, sub), { recursive: true, force: true })));
}

export async function generate(options: GenerateOptions): Promise<GenerateSummary> {
  const { matchShare, month } = checkOptions(options);
  const { dir, songs, events, seed, onProgress } = options;
  const written = { songs: 0, events: 0 };
  let bytes = 0;
  let failed = false;
  const progress = (): void => onProgress?.({ ...written });

  const writeSongs = async (): Promise<void> => {
    const folders = new Map<string, Promise<unknown>>(); // at most 2 * 26 * 26 entries
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!failed && next < songs) {
        const index = next++;
        const song = generatedSong(seed, index);
        const file = path.join(dir, song.path);
        const folder = path.dirname(file);
        let made = folders.get(folder);
        if (made === undefined) {
          made = mkdir(folder, { recursive: true });
          folders.set(folder, made);
        }
        await made;
        const text = songFileText(song.record);
        await writeFile(file, text);
        bytes += Buffer.byteLength(text);
        if (++written.songs % PROGRESS_EVERY === 0) progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(SONG_WRITE_CONCURRENCY, songs) }, worker));
  };

  const { start, end, days } = monthRange(month);
  const [yyyy, mm] = month.split('-') as [string, string];
  const logFolder = path.join(dir, 'log_data', yyyy, mm);
  const logFile = (day: number): string =>
    path.join(logFolder, `${yyyy}-${mm}-${String(day + 1).padStart(2, '0')}-events.json`);

  const stats = { songPlays: 0, matchedPlays: 0 };
  const writeEvents = async (): Promise<void> => {
    await mkdir(logFolder, { recursive: true });
    let day = -1; // day of the open file
    let stream: WriteStream | null = null;
    // Lines are encoded straight into a fresh buffer per chunk (handed to the stream, never reused).
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let used = 0;
    const flush = async (): Promise<void> => {
      if (stream === null || used === 0) return;
      const data = chunk.subarray(0, used);
      chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      used = 0;
      bytes += data.length;
      if (!stream.write(data)) await once(stream, 'drain');
    };
    const close = async (): Promise<void> => {
      if (stream === null) return;
      await flush();
      const s = stream;
      stream = null;
      s.end();
      await finished(s);
    };
    // Closes the open day and opens `target`, writing empty files for the days in between.
    const openDay = async (target: number): Promise<void> => {
      await close();
      for (let d = day + 1; d < target; d++) await writeFile(logFile(d), '');
      day = target;
      if (target < days) {
        stream = createWriteStream(logFile(target), { highWaterMark: 4 * CHUNK_BYTES });
        stream.on('error', () => undefined); // surfaced by once()/finished()
      }
    };
    try {
      let first = true;
      for (const event of simulateEvents({ seed, songs, events, matchShare, start, end, stats })) {
        const eventDay = Math.floor((event.ts - start) / DAY_MS);
        if (eventDay !== day) {
          await openDay(eventDay);
          first = true;
        }
        const line = first ? eventLine(event) : '\n' + eventLine(event);
        first = false;
        // A UTF-16 code unit takes at most 3 bytes in UTF-8.
        if (used + 3 * line.length > chunk.length) {
          await flush();
          if (failed) return;
          if (3 * line.length > chunk.length) chunk = Buffer.allocUnsafe(3 * line.length);
        }
        used += chunk.write(line, used);
        if (++written.events % PROGRESS_EVERY === 0) progress();
      }
      await openDay(days); // closes the last file and writes the empty days after it
    } finally {
      (stream as WriteStream | null)?.destroy();
    }
  };

  const results = await Promise.allSettled([
    writeSongs().catch((error: unknown) => {
      failed = true;
      throw error;
    }),
    writeEvents().catch((error: unknown) => {
      failed = true;
      throw error;
    }),
  ]);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  progress();
  return { songFiles: songs, logFiles: days, songs, events, ...stats, bytes };
}
