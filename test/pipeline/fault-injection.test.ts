/**
 * Fault injection (issue 4): generated data, copied, and the copy corrupted with one fault per object, in log
 * files and in song files. The real pipeline (`run`) loads the corrupted copy; the expectations come from the
 * faults as injected and from an independent reading of the corrupted files (below, `truthOf`: the contract's
 * framing and field rules, written again here without the program's code):
 *
 * - every good record is staged, every bad one is in load_errors and in the run's rejects.jsonl with its
 *   source object, line, reason and raw text, and the report reconciles read = loaded + rejected, per object
 *   and in total;
 * - an empty object is reported `empty: true` with nothing rejected; a file with a BOM and CRLF line ends loads whole;
 * - a run with more rejections than MAX_ERRORS fails, changes no analytic table and still records them;
 * - rejected lines fixed in a copy of rejects.jsonl and replayed reach the analytic tables; the others are rejected again.
 */
import { cp, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { join, relative, sep } from 'node:path';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { EtlError } from '../../src/errors.js';
import { generate } from '../../src/generate/generator.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { readReport, replay, run } from '../../src/pipeline/run.js';
import { removeTempDirs, runPgTests, tempDir, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's runs (see openKeptOpen).
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const progress = createProgress(process.stderr, true);
const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

type Kind = 'events' | 'songs';

/** A rejection as the rejects file holds it. */
interface Rejected {
  kind: Kind;
  source: string;
  line: number;
  reason: string;
  raw: string;
}

/** A rejected line that the replay test fixes, and where the fixed record must show up. */
interface Fixable {
  rejected: Rejected;
  fixed: string;
  shows: { table: 'songplays'; session_id: number; item_in_session: number } | { table: 'songs'; song_id: string; title: string };
}

// ---------------------------------------------------------------------------------------------------------
// The independent reading of a corrupted tree: the contract's framing and field rules, nothing imported.

interface Spec {
  strings: Record<string, number>;
  integers: string[];
  numbers: string[];
  digits: string[];
  required: string[];
}

const SPECS: Record<Kind, Spec> = {
  events: {
    // Redshift VARCHAR sizes in bytes, as the staging DDL declares them.
    strings: { artist: 512, auth: 64, firstName: 256, gender: 16, lastName: 256, level: 16, location: 256, method: 16, page: 64, song: 512, userAgent: 512 },
    integers: ['itemInSession', 'sessionId', 'status', 'ts'],
    numbers: ['length', 'registration'],
    digits: ['userId'],
    required: ['ts', 'sessionId', 'itemInSession', 'page'],
  },
  songs: {
    strings: { artist_id: 32, artist_location: 512, artist_name: 512, song_id: 32, title: 512 },
    integers: ['num_songs', 'year'],
    numbers: ['artist_latitude', 'artist_longitude', 'duration'],
    digits: [],
    required: ['song_id', 'artist_id', 'title', 'artist_name'],
  },
};

/** The parsed record if it is valid, else undefined. */
function validRecord(kind: Kind, bytes: Buffer): Record<string, unknown> | undefined {
  if (!isUtf8(bytes)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const spec = SPECS[kind];
  const present = (field: string) => record[field] !== undefined && record[field] !== null;
  if (!spec.required.every(present)) return undefined;
  for (const [field, max] of Object.entries(spec.strings)) {
    const v = record[field];
    if (!present(field)) continue;
    if (typeof v !== 'string' || Buffer.byteLength(v) > max || v.includes('\u0000') || !v.isWellFormed()) return undefined;
  }
  for (const field of spec.integers) if (present(field) && !Number.isSafeInteger(record[field])) return undefined;
  for (const field of spec.numbers) if (present(field) && typeof record[field] !== 'number') return undefined;
  for (const field of spec.digits) if (present(field) && !(typeof record[field] === 'string' && /^\d{0,10}$/.test(record[field] as string))) return undefined;
  return record;
}

interface Truth {
  /** Records found: good + bad. */
  records: number;
  good: number;
  /** Lines of the bad records. */
  bad: number[];
  /** Good NextSong events with a user id: the plays. */
  plays: number;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const isBlank = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
const trimBytes = (b: Buffer): Buffer => {
  let start = 0;
  let end = b.length;
  while (start < end && isBlank(b[start]!)) start += 1;
  while (end > start && isBlank(b[end - 1]!)) end -= 1;
  return b.subarray(start, end);
};

/**
 * What an object holds, read the way the contract says: a gzipped object as far as it decompresses, log lines
 * one record each (blank lines skipped; BOM and CR allowed), a song file one value. A gzipped object cut short
 * keeps its complete lines; the rest of it is one bad record.
 */
function truthOf(kind: Kind, key: string, file: Buffer): Truth {
  let bytes = file;
  let cut = false;
  if (key.endsWith('.gz')) {
    try {
      bytes = gunzipSync(file);
    } catch {
      bytes = gunzipSync(file, { finishFlush: constants.Z_SYNC_FLUSH });
      cut = true;
    }
  }
  if (bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
  const truth: Truth = { records: 0, good: 0, bad: [], plays: 0 };
  const add = (line: number, record: Buffer) => {
    truth.records += 1;
    const parsed = validRecord(kind, record);
    if (!parsed) return void truth.bad.push(line);
    truth.good += 1;
    if (parsed.page === 'NextSong' && parsed.userId !== '') truth.plays += 1;
  };
  if (kind === 'songs') {
    // One value, wherever it starts; blank lines before it count.
    if (cut) return { records: 1, good: 0, bad: [1], plays: 0 };
    let start = 0;
    while (start < bytes.length && isBlank(bytes[start]!)) start += 1;
    const record = trimBytes(bytes.subarray(start));
    if (record.length > 0) add(1 + bytes.subarray(0, start).filter((b) => b === 0x0a).length, record);
    return truth;
  }
  const complete = cut ? bytes.subarray(0, bytes.lastIndexOf(0x0a) + 1) : bytes;
  let line = 1;
  let start = 0;
  while (start < complete.length) {
    let end = complete.indexOf(0x0a, start);
    if (end === -1) end = complete.length;
    const record = trimBytes(complete.subarray(start, end));
    if (record.length > 0) add(line, record);
    line += 1;
    start = end + 1;
  }
  if (cut) {
    truth.records += 1;
    truth.bad.push(line);
  }
  return truth;
}

/** Every JSON object of a folder, by key (path relative to it, `/`-separated). */
async function objectsOf(dir: string): Promise<Map<string, Buffer>> {
  const objects = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.json(\.gz)?$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    objects.set(relative(dir, path).split(sep).join('/'), await readFile(path));
  }
  return objects;
}

// ---------------------------------------------------------------------------------------------------------
// The faults

/** Deterministic bytes; every line holds a 0xFF byte, never valid UTF-8, so each line is rejected as such. */
function binaryGarbage(length: number, seed: number, lines: boolean): Buffer {
  const out: number[] = [0xff];
  let x = seed;
  while (out.length < length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const b = (x >> 16) & 0xff;
    if (lines) {
      out.push(b);
      if (b === 0x0a) out.push(0xff);
    } else {
      // A song file must stay one value: no whitespace, quotes or brackets.
      out.push(0x80 | (b & 0x7f));
    }
  }
  return Buffer.from(out);
}

const LONG_FIRST_NAME = 'é'.repeat(150); // 150 characters, 300 bytes: fits VARCHAR(256) in PostgreSQL, not in Redshift
const LONG_TITLE = 'ü'.repeat(300); // 300 characters, 600 bytes > 512
const rawOf = (line: Buffer | string): string => (typeof line === 'string' ? line : line.toString('utf8')).replace(/[\r \t]+$/, '');

interface Corrupted {
  root: string;
  songData: string;
  logData: string;
  /** Every rejection the faults cause, sorted by kind, source and line. */
  rejections: Rejected[];
  fixable: Fixable[];
  emptyKeys: string[];
  bomCrlfKeys: string[];
}

/** Copies the generated tree and corrupts the copy; returns what each fault must cause. */
async function corruptCopy(clean: string, into: string): Promise<Corrupted> {
  await cp(clean, into, { recursive: true });
  const songData = join(into, 'song_data');
  const logData = join(into, 'log_data');
  const rejections: Rejected[] = [];
  const fixable: Fixable[] = [];
  const reject = (kind: Kind, source: string, line: number, reason: string, raw: string) => {
    const r = { kind, source, line, reason, raw };
    rejections.push(r);
    return r;
  };

  // Log files: one fault per day (keys 2018/11/2018-11-DD-events.json).
  const logKey = (day: number) => `2018/11/2018-11-${String(day).padStart(2, '0')}-events.json`;
  const logLines = async (day: number) => (await readFile(join(logData, logKey(day)), 'utf8')).split('\n');
  const writeLog = (day: number, content: string | Buffer) => writeFile(join(logData, logKey(day)), content);
  /** A song play of a known user, not the file's first or last line: its fix shows in songplays. */
  const playAt = (lines: string[]) => {
    const index = lines.findIndex((l, i) => i > 1 && i < lines.length - 1 && /"page":"NextSong"/.test(l) && !/"userId":""/.test(l));
    expect(index).toBeGreaterThan(0);
    const event = JSON.parse(lines[index]!) as { sessionId: number; itemInSession: number };
    return { index, original: lines[index]!, shows: { table: 'songplays' as const, session_id: event.sessionId, item_in_session: event.itemInSession } };
  };
  const fixableLine = async (day: number, reason: string, corrupt: (line: string) => string) => {
    const lines = await logLines(day);
    const { index, original, shows } = playAt(lines);
    lines[index] = corrupt(original);
    expect(lines[index]).not.toBe(original);
    await writeLog(day, lines.join('\n'));
    fixable.push({ rejected: reject('events', logKey(day), index + 1, reason, lines[index]!), fixed: original, shows });
  };

  await fixableLine(2, 'malformed JSON', (l) => l.replace('"auth":', '"auth"'));
  await fixableLine(3, 'ts: expected integer, got "abc"', (l) => l.replace(/"ts":\d+/, '"ts":"abc"'));
  await fixableLine(4, 'missing required field sessionId', (l) => l.replace(/"sessionId":\d+,/, ''));
  await fixableLine(7, 'firstName: field too long for Redshift VARCHAR(256) (300 bytes)', (l) => l.replace(/"firstName":"[^"]*"/, `"firstName":"${LONG_FIRST_NAME}"`));
  {
    // Invalid UTF-8 bytes inside a line.
    const lines = await logLines(5);
    const { index, original } = playAt(lines);
    const at = original.indexOf('"lastName":"') + '"lastName":"'.length;
    const bad = Buffer.concat([Buffer.from(original.slice(0, at)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(original.slice(at))]);
    const before = Buffer.from(lines.slice(0, index).join('\n') + '\n');
    const after = Buffer.from('\n' + lines.slice(index + 1).join('\n'));
    await writeLog(5, Buffer.concat([before, bad, after]));
    reject('events', logKey(5), index + 1, 'invalid UTF-8', rawOf(bad));
  }
  {
    // The file cut in the middle of its last line: no line end.
    const lines = await logLines(6);
    const last = lines.length - 1;
    lines[last] = lines[last]!.slice(0, Math.floor(lines[last]!.length / 2));
    await writeLog(6, lines.join('\n'));
    reject('events', logKey(6), last + 1, 'truncated last line', rawOf(lines[last]!));
  }
  const emptyKeys = [logKey(8)];
  await writeLog(8, '');
  const bomCrlfKeys = [logKey(9)];
  await writeLog(9, '\ufeff' + (await logLines(9)).join('\r\n') + '\r\n');
  {
    // A NUL character in a string: escaped (valid JSON, but no warehouse stores it), and as a raw byte (not JSON).
    const lines = await logLines(10);
    const escaped = playAt(lines).index;
    lines[escaped] = lines[escaped]!.replace(/"firstName":"([^"]*)"/, '"firstName":"$1\\u0000x"');
    const rawNul = lines.findIndex((l, i) => i > escaped && /"lastName":"/.test(l));
    lines[rawNul] = lines[rawNul]!.replace(/"lastName":"([^"]*)"/, '"lastName":"$1\u0000x"');
    await writeLog(10, lines.join('\n'));
    reject('events', logKey(10), escaped + 1, 'firstName: contains a NUL character, which no warehouse stores', lines[escaped]!);
    reject('events', logKey(10), rawNul + 1, 'malformed JSON', lines[rawNul]!);
  }
  {
    // A JSON array where an object belongs.
    const lines = await logLines(11);
    lines.splice(3, 0, '[{"ts":1541105830796,"sessionId":1,"itemInSession":0,"page":"Home"}]');
    await writeLog(11, lines.join('\n'));
    reject('events', logKey(11), 4, 'expected a JSON object, got an array', lines[3]!);
  }
  {
    // A gzipped object cut mid-stream: its complete lines load, the rest is one rejection.
    const text = Buffer.from((await logLines(12)).join('\n'));
    const gz = gzipSync(text);
    const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
    await rm(join(logData, logKey(12)));
    await writeFile(join(logData, `${logKey(12)}.gz`), cut);
    const partial = gunzipSync(cut, { finishFlush: constants.Z_SYNC_FLUSH });
    expect(partial.length).toBeGreaterThan(1000);
    expect(partial.length).toBeLessThan(text.length);
    const completeLines = partial.subarray(0, partial.lastIndexOf(0x0a)).toString('utf8').split('\n').length;
    reject('events', `${logKey(12)}.gz`, completeLines + 1, 'truncated or corrupt gzip data', '');
  }
  {
    // Not JSON at all: binary garbage, and plain text (whose last line has no line end).
    const garbage = binaryGarbage(3000, 13, true);
    await writeLog(13, garbage);
    let line = 1;
    for (let start = 0; start < garbage.length; line += 1) {
      let end = garbage.indexOf(0x0a, start);
      if (end === -1) end = garbage.length;
      reject('events', logKey(13), line, 'invalid UTF-8', rawOf(garbage.subarray(start, end)));
      start = end + 1;
    }
    const text = ['This is not JSON.', 'It is a plain text file saved under a .json name,', 'and its last line has no line end'];
    await writeLog(14, text.join('\n'));
    text.forEach((t, i) => reject('events', logKey(14), i + 1, 'malformed JSON', t));
  }

  // Song files: one fault per file, in the first files in key order.
  const songKeys = [...(await objectsOf(songData)).keys()].sort();
  let nextSong = 0;
  const songFile = async () => {
    const key = songKeys[nextSong++]!;
    return { key, path: join(songData, key), text: await readFile(join(songData, key), 'utf8') };
  };
  const corruptSong = async (reason: string, corrupt: (text: string) => string, fixed = false) => {
    const { key, path, text } = await songFile();
    const bad = corrupt(text);
    expect(bad).not.toBe(text);
    await writeFile(path, bad);
    const rejected = reject('songs', key, 1, reason, bad);
    const song = JSON.parse(text) as { song_id: string; title: string };
    if (fixed) fixable.push({ rejected, fixed: text, shows: { table: 'songs', song_id: song.song_id, title: song.title } });
  };
  await corruptSong('malformed JSON', (t) => t.replace('"artist_id":', '"artist_id"'));
  await corruptSong('year: expected integer, got "abc"', (t) => t.replace(/"year": \d+/, '"year": "abc"'));
  await corruptSong('missing required field song_id', (t) => t.replace(/"song_id": "[^"]*", /, ''), true);
  await corruptSong('title: field too long for Redshift VARCHAR(512) (600 bytes)', (t) => t.replace(/"title": "(?:[^"\\]|\\.)*"/, `"title": "${LONG_TITLE}"`), true);
  await corruptSong('title: contains a NUL character, which no warehouse stores', (t) => t.replace(/"title": "/, '"title": "\\u0000'));
  await corruptSong('truncated last line', (t) => t.slice(0, Math.floor(t.length / 2)).replace(/[ \t]+$/, ''));
  await corruptSong('expected a JSON object, got an array', (t) => `[${t}]`);
  await corruptSong('malformed JSON', () => 'This is not JSON, just a sentence in a song file.');
  {
    const { key, path, text } = await songFile();
    const at = text.indexOf('"title": "') + '"title": "'.length;
    const bad = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(at))]);
    await writeFile(path, bad);
    reject('songs', key, 1, 'invalid UTF-8', bad.toString('utf8'));
  }
  {
    const { key, path } = await songFile();
    const garbage = binaryGarbage(500, 7, false);
    await writeFile(path, garbage);
    reject('songs', key, 1, 'invalid UTF-8', garbage.toString('utf8'));
  }
  {
    const { key, path } = await songFile();
    await writeFile(path, '');
    emptyKeys.push(key);
  }
  {
    // Pretty-printed with a BOM and CRLF line ends: loads.
    const { key, path, text } = await songFile();
    await writeFile(path, '\ufeff' + JSON.stringify(JSON.parse(text), null, 2).replaceAll('\n', '\r\n') + '\r\n');
    bomCrlfKeys.push(key);
  }
  {
    const { key, path, text } = await songFile();
    const gz = gzipSync(text);
    await rm(path);
    await writeFile(`${path}.gz`, gz.subarray(0, Math.floor(gz.length / 2)));
    reject('songs', `${key}.gz`, 1, 'truncated or corrupt gzip data', '');
  }

  // A version of its own for every object, unlike the clean tree's: a later run sees them all as changed.
  const old = new Date('2020-01-01T00:00:00Z');
  for (const dir of [songData, logData]) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), old, old);
    }
  }
  rejections.sort((a, b) => a.kind.localeCompare(b.kind) || (a.source < b.source ? -1 : a.source > b.source ? 1 : a.line - b.line));
  return { root: into, songData, logData, rejections, fixable, emptyKeys, bomCrlfKeys };
}

const byPlace = (a: Rejected, b: Rejected) => a.kind.localeCompare(b.kind) || (a.source < b.source ? -1 : a.source > b.source ? 1 : a.line - b.line);
const readJsonLines = async <T>(path: string): Promise<T[]> =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

// ---------------------------------------------------------------------------------------------------------

let clean: { songData: string; logData: string; emptySongs: string };
const UNPLAYED_SONG = {
  num_songs: 1,
  artist_id: 'ARUNPLAYED000000001',
  artist_latitude: null,
  artist_longitude: null,
  artist_location: '',
  artist_name: 'Nobody Plays',
  song_id: 'SOUNPLAYED00000001',
  title: 'Unplayed',
  duration: 1.5,
  year: 0,
};
let corrupted: Corrupted;
/** The independent reading of the corrupted tree, by kind and key. */
let truth: Record<Kind, Map<string, Truth>>;
const total = (kind: Kind, field: 'records' | 'good' | 'plays') => [...truth[kind].values()].reduce((n, t) => n + t[field], 0);

beforeAll(async () => {
  const root = await tempDir('sparkify-faults-');
  await generate({ dir: join(root, 'clean'), songs: 200, events: 5000, seed: 21, matchShare: 0.3 });
  clean = { songData: join(root, 'clean/song_data'), logData: join(root, 'clean/log_data'), emptySongs: join(root, 'no-songs') };
  // One song no play matches: a source folder with no object at all would fail the run (a wrong prefix).
  await mkdir(join(clean.emptySongs, 'Z/Z/Z'), { recursive: true });
  await writeFile(join(clean.emptySongs, 'Z/Z/Z/TRZZZUN128F4290001.json'), JSON.stringify(UNPLAYED_SONG));
  corrupted = await corruptCopy(join(root, 'clean'), join(root, 'corrupted'));
  truth = { events: new Map(), songs: new Map() };
  for (const kind of ['events', 'songs'] as const) {
    for (const [key, bytes] of await objectsOf(kind === 'events' ? corrupted.logData : corrupted.songData)) truth[kind].set(key, truthOf(kind, key, bytes));
  }
});

afterAll(removeTempDirs);

describe('the injected faults', () => {
  it('are exactly the bad records an independent reading of the corrupted files finds', () => {
    const found = (['events', 'songs'] as const).flatMap((kind) => [...truth[kind]].flatMap(([source, t]) => t.bad.map((line) => ({ kind, source, line }))));
    expect(found.sort((a, b) => byPlace(a as Rejected, b as Rejected))).toEqual(corrupted.rejections.map(({ kind, source, line }) => ({ kind, source, line })));
    expect(corrupted.rejections.length).toBeGreaterThan(20);
  });
});

describe.each(ENGINES)('a corrupted source on %s', (engine) => {
  let warehouse: TestWarehouse;
  let config: Config;
  /** The analytic tables after a clean first batch, before the corrupted runs. */
  let before: Dump;
  let failed: { error: unknown; report: RunReport; after: Dump };
  let report: RunReport;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'faults');
    config = warehouse.config({ songData: corrupted.songData, logData: corrupted.logData });
    // A first batch of clean logs (no songs: the corrupted ones load later, so a song rejected then is absent).
    await run({ config: warehouse.config({ songData: clean.emptySongs, logData: clean.logData }), progress, until: '2018-11-10', checks: false });
    before = await warehouse.dump();
    expect(before.songplays!.length).toBeGreaterThan(500);
    const limit = corrupted.rejections.length - 1;
    const error = await run({ config, progress, maxErrors: limit }).then(
      () => undefined,
      (e: unknown) => e,
    );
    failed = { error, report: await readReport(config), after: await warehouse.dump() };
    report = await run({ config, progress, maxErrors: corrupted.rejections.length });
  });
  afterAll(async () => warehouse?.dispose());

  describe('MAX_ERRORS', () => {
    it('a run with more rejections than MAX_ERRORS fails with an EtlError naming MAX_ERRORS', () => {
      expect(failed.error).toBeInstanceOf(EtlError);
      expect((failed.error as Error).message).toMatch(new RegExp(`${corrupted.rejections.length} records were rejected, more than MAX_ERRORS = ${corrupted.rejections.length - 1}`));
      expect(failed.report).toMatchObject({ status: 'failed', command: 'run' });
      expect(failed.report.error).toMatch(/MAX_ERRORS/);
    });

    it('leaves the analytic tables as they were before the run (every column)', () => {
      expect(failed.after).toEqual(before);
      expect(failed.report.steps.map((s) => s.name)).not.toContain('transform');
    });

    it('keeps the rejections of the failed run in load_errors', async () => {
      const rows = await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM load_errors WHERE run_id = $1', [failed.report.runId]));
      expect(Number(rows.rows[0]!.n)).toBe(corrupted.rejections.length);
    });
  });

  describe('the run within MAX_ERRORS', () => {
    it('stages every good record: staging counts equal the good records of the corrupted files', async () => {
      expect(report.status).toBe('ok');
      expect(report.counts).toMatchObject({ staging_events: total('events', 'good'), staging_songs: total('songs', 'good') });
      const counts = await warehouse.use(async (w) => ({
        events: Number((await w.query('SELECT COUNT(*) AS n FROM staging_events')).rows[0]!.n),
        songs: Number((await w.query('SELECT COUNT(*) AS n FROM staging_songs')).rows[0]!.n),
      }));
      expect(counts).toEqual({ events: total('events', 'good'), songs: total('songs', 'good') });
    });

    it('reconciles every object: read = loaded + rejected, as the files hold them', () => {
      for (const kind of ['events', 'songs'] as const) {
        const source = report.sources[kind]!;
        expect(source.objectReports.map((o) => o.key).sort()).toEqual([...truth[kind].keys()].sort());
        for (const o of source.objectReports) {
          const t = truth[kind].get(o.key)!;
          expect({ key: o.key, records: o.records, loaded: o.loaded, rejected: o.rejected }).toEqual({ key: o.key, records: t.records, loaded: t.good, rejected: t.bad.length });
          expect(o.records).toBe(o.loaded + o.rejected);
        }
        expect(source).toMatchObject({ objects: truth[kind].size, records: total(kind, 'records'), loaded: total(kind, 'good'), rejected: corrupted.rejections.filter((r) => r.kind === kind).length });
        expect(source.records).toBe(source.loaded + source.rejected);
      }
    });

    it('reports an empty object as empty, with nothing rejected', () => {
      const objects = [...report.sources.events!.objectReports, ...report.sources.songs!.objectReports];
      for (const key of corrupted.emptyKeys) expect(objects.find((o) => o.key === key)).toMatchObject({ records: 0, loaded: 0, rejected: 0, empty: true, size: 0 });
      expect(objects.filter((o) => o.empty).map((o) => o.key).sort()).toEqual([...corrupted.emptyKeys].sort());
    });

    it('loads a file with a BOM and CRLF line ends whole', async () => {
      const objects = [...report.sources.events!.objectReports, ...report.sources.songs!.objectReports];
      for (const key of corrupted.bomCrlfKeys) {
        const o = objects.find((x) => x.key === key)!;
        expect(o.rejected).toBe(0);
        expect(o.loaded).toBeGreaterThan(0);
      }
      const [logKey, songKey] = corrupted.bomCrlfKeys;
      const staged = await warehouse.use(async (w) => ({
        events: (await w.query('SELECT first_name, user_agent FROM staging_events WHERE source_key = $1', [logKey])).rows,
        songs: (await w.query('SELECT song_id, title FROM staging_songs WHERE source_key = $1', [songKey])).rows,
      }));
      expect(staged.events).toHaveLength(truth.events.get(logKey!)!.good);
      // Nothing of the BOM or the CRs leaks into the values.
      for (const row of [...staged.events, ...staged.songs]) for (const v of Object.values(row)) if (typeof v === 'string') expect(v).not.toMatch(/[\r\ufeff]/);
      expect(staged.songs).toHaveLength(1);
    });

    it('writes every rejection to the rejects file: source object, line, reason and raw text', async () => {
      const rejects = await readJsonLines<Rejected>(report.rejectsFile!);
      expect(rejects.sort(byPlace)).toEqual(corrupted.rejections);
    });

    it('records every rejection in load_errors, under the run id', async () => {
      const { rows } = await warehouse.use((w) => w.query('SELECT kind, source_key, line, reason, raw_line AS raw FROM load_errors WHERE run_id = $1', [report.runId]));
      const inWarehouse = rows.map((r) => ({ kind: r.kind, source: r.source_key, line: r.line, reason: r.reason, raw: r.raw }) as Rejected);
      // NUL cannot be stored: it becomes U+FFFD.
      expect(inWarehouse.sort(byPlace)).toEqual(corrupted.rejections.map((r) => ({ ...r, raw: r.raw.replaceAll('\u0000', '\ufffd') })));
    });

    it('counts the reasons in the report', () => {
      const reasons = { ...report.sources.events!.reasons };
      for (const [reason, n] of Object.entries(report.sources.songs!.reasons)) reasons[reason] = (reasons[reason] ?? 0) + n;
      expect(Object.values(reasons).reduce((a, b) => a + b, 0)).toBe(corrupted.rejections.length);
      expect(reasons).toMatchObject({ 'invalid UTF-8': corrupted.rejections.filter((r) => r.reason === 'invalid UTF-8').length, 'truncated or corrupt gzip data': 2 });
    });

    it('the plays are exactly the good plays of the corrupted files: the clean batch of the same objects is replaced', async () => {
      const plays = await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM songplays'));
      expect(Number(plays.rows[0]!.n)).toBe(total('events', 'plays'));
      const { songplays } = await warehouse.dump(['songplays']);
      for (const f of corrupted.fixable) {
        if (f.shows.table === 'songplays') {
          const { session_id, item_in_session } = f.shows;
          expect(songplays!.filter((p) => p.session_id === session_id && p.item_in_session === item_in_session)).toEqual([]);
        }
      }
    });
  });

  describe('replay', () => {
    it('fixed lines of a copy of rejects.jsonl reach the analytic tables; the unfixed are rejected again', async () => {
      const rejects = await readJsonLines<Rejected>(report.rejectsFile!);
      const fixes = new Map(corrupted.fixable.map((f) => [`${f.rejected.source}:${f.rejected.line}`, f.fixed]));
      const edited = rejects.map((r) => ({ ...r, raw: fixes.get(`${r.source}:${r.line}`) ?? r.raw }));
      const file = join(warehouse.workDir, 'rejects-fixed.jsonl');
      await writeFile(file, edited.map((r) => JSON.stringify(r)).join('\n') + '\n');

      const replayed = await replay({ config, progress, file, maxErrors: rejects.length });
      expect(replayed.status).toBe('ok');
      const fixedOf = (kind: Kind) => corrupted.fixable.filter((f) => f.rejected.kind === kind).length;
      const rejectedOf = (kind: Kind) => corrupted.rejections.filter((r) => r.kind === kind).length;
      for (const kind of ['events', 'songs'] as const) {
        expect(replayed.sources[kind]).toMatchObject({ records: rejectedOf(kind), loaded: fixedOf(kind), rejected: rejectedOf(kind) - fixedOf(kind) });
      }
      const again = (await readJsonLines<Rejected>(replayed.rejectsFile!)).sort(byPlace);
      const fixedPlaces = new Set(corrupted.fixable.map((f) => `${f.rejected.source}:${f.rejected.line}`));
      expect(again).toEqual(corrupted.rejections.filter((r) => !fixedPlaces.has(`${r.source}:${r.line}`)));

      const dump = await warehouse.dump(['songplays', 'songs']);
      for (const { shows } of corrupted.fixable) {
        if (shows.table === 'songplays') {
          expect(dump.songplays!.filter((p) => p.session_id === shows.session_id && p.item_in_session === shows.item_in_session)).toHaveLength(1);
        } else {
          expect(dump.songs!.find((s) => s.song_id === shows.song_id)).toMatchObject({ title: shows.title });
        }
      }
      expect(dump.songplays).toHaveLength(total('events', 'plays') + corrupted.fixable.filter((f) => f.shows.table === 'songplays').length);
      // The replay's rejections are recorded in load_errors under its own run id; the ledger is not touched.
      const { rows } = await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM load_errors WHERE run_id = $1', [replayed.runId]));
      expect(Number(rows[0]!.n)).toBe(again.length);
    });
  });

  it('the first, clean batch held the plays of days 1-10 and no song of the corrupted files', () => {
    expect(before.songs!.map((s) => s.song_id)).toEqual([UNPLAYED_SONG.song_id]);
    expect(new Set(before.songplays!.map((p) => String(p.start_time).slice(0, 10))).size).toBeLessThanOrEqual(10);
  });
});
