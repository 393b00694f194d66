import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate,
  generatedSong,
  songFileText,
  songRecord,
  type GenerateOptions,
  type GenerateSummary,
  type SongRecord,
} from '../../src/generate/generator.js';
import { PLAY_ONLY_ARTISTS } from '../../src/generate/vocabulary.js';
import { EVENT_FIELDS, SONG_FIELDS } from '../../src/transform/schema.js';

const tmpDirs: string[] = [];
const tmp = async (): Promise<string> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sparkify-gen-'));
  tmpDirs.push(dir);
  return dir;
};
afterAll(async () => {
  await Promise.all(tmpDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Relative paths of every file under `root`, sorted. */
const walk = async (root: string): Promise<string[]> => {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
};

const treeHash = async (root: string): Promise<string> => {
  const hash = createHash('sha256');
  for (const file of await walk(root)) {
    hash.update(file + '\0');
    hash.update(await readFile(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
};

interface Line {
  file: string;
  raw: string;
  event: Record<string, unknown>;
}

const readEvents = async (root: string, files: string[]): Promise<Line[]> => {
  const lines: Line[] = [];
  for (const file of files.filter((f) => f.startsWith('log_data/'))) {
    const text = await readFile(path.join(root, file), 'utf8');
    if (text === '') continue;
    for (const raw of text.split('\n')) lines.push({ file, raw, event: JSON.parse(raw) as Record<string, unknown> });
  }
  return lines;
};

const SEED = 7;
const BASE: Omit<GenerateOptions, 'dir'> = { songs: 400, events: 6000, seed: SEED, matchShare: 0.3 };

describe('generate', () => {
  let dir: string;
  let summary: GenerateSummary;
  let files: string[];
  let lines: Line[];
  const progress: { songs: number; events: number }[] = [];

  beforeAll(async () => {
    dir = await tmp();
    summary = await generate({ ...BASE, dir, onProgress: (w) => progress.push(w) });
    files = await walk(dir);
    lines = await readEvents(dir, files);
  });

  it('returns exact counts and reports progress', () => {
    expect(summary).toMatchObject({ songFiles: 400, logFiles: 30, songs: 400, events: 6000 });
    expect(lines).toHaveLength(6000);
    expect(summary.songPlays).toBe(lines.filter((l) => l.event.page === 'NextSong').length);
    expect(progress.at(-1)).toEqual({ songs: 400, events: 6000 });
    expect(summary.bytes).toBeGreaterThan(0);
  });

  it('lays out song files by the 3rd-5th characters of the track id, formatted like the real files', async () => {
    const songFiles = files.filter((f) => f.startsWith('song_data/'));
    expect(songFiles).toHaveLength(400);
    for (const file of songFiles) {
      const m = /^song_data\/([A-Z])\/([A-Z])\/([A-Z])\/(TR[A-Z0-9]{16})\.json$/.exec(file);
      expect(m, file).not.toBeNull();
      const [, c3, c4, c5, trackId] = m as unknown as [string, string, string, string, string];
      expect(trackId.slice(2, 5)).toBe(c3 + c4 + c5);
      const text = await readFile(path.join(dir, file), 'utf8');
      expect(text).toMatch(/^\{"num_songs": 1, "artist_id": "AR[A-Z0-9]{16}", [\x20-\x7e]*\}$/);
      const record = JSON.parse(text) as SongRecord;
      expect(Object.keys(record)).toEqual(SONG_FIELDS.map((f) => f.json));
      expect(record.song_id).toMatch(/^SO[A-Z0-9]{16}$/);
      expect(songFileText(record)).toBe(text);
    }
  });

  it('writes the song records that songRecord(seed, index) describes', async () => {
    for (let i = 0; i < 400; i += 37) {
      const song = generatedSong(SEED, i);
      expect(song.record).toEqual(songRecord(SEED, i));
      const text = await readFile(path.join(dir, song.path), 'utf8');
      expect(JSON.parse(text)).toEqual(song.record);
    }
    const ids = new Set(Array.from({ length: 400 }, (_, i) => songRecord(SEED, i).song_id));
    expect(ids.size).toBe(400);
  });

  it('covers the awkward song cases', () => {
    const songs = Array.from({ length: 400 }, (_, i) => songRecord(SEED, i));
    const artists = new Set(songs.map((s) => s.artist_id));
    expect(artists.size).toBeLessThan(songs.length);
    expect(songs.some((s) => s.artist_latitude === null && s.artist_longitude === null)).toBe(true);
    expect(songs.some((s) => typeof s.artist_latitude === 'number')).toBe(true);
    expect(songs.some((s) => s.year === 0)).toBe(true);
    expect(songs.some((s) => s.year > 1900)).toBe(true);
    expect(songs.some((s) => s.artist_location === '')).toBe(true);
    expect(songs.some((s) => s.artist_location.includes(','))).toBe(true);
    expect(songs.some((s) => /[^\x20-\x7e]/.test(s.artist_name))).toBe(true);
    for (const ch of [',', '"', "'", '\\']) expect(songs.some((s) => s.title.includes(ch)), ch).toBe(true);
    expect(songs.every((s) => Number(s.duration.toFixed(5)) === s.duration)).toBe(true);
    // Same title and artist, different durations.
    const byKey = new Map<string, number[]>();
    for (const s of songs) byKey.set(`${s.artist_name}\0${s.title}`, [...(byKey.get(`${s.artist_name}\0${s.title}`) ?? []), s.duration]);
    expect([...byKey.values()].some((d) => d.length > 1 && new Set(d).size > 1)).toBe(true);
    // Unmatched plays use artists the catalogue never has.
    const names = new Set(songs.map((s) => s.artist_name));
    expect(PLAY_ONLY_ARTISTS.filter((a) => names.has(a))).toEqual([]);
  });

  it('writes one JSON-lines file per day, events sorted and inside their day', () => {
    const logFiles = files.filter((f) => f.startsWith('log_data/'));
    expect(logFiles).toEqual(
      Array.from({ length: 30 }, (_, d) => `log_data/2018/11/2018-11-${String(d + 1).padStart(2, '0')}-events.json`),
    );
    let last = 0;
    for (const { file, event } of lines) {
      const day = Number(/-(\d\d)-events\.json$/.exec(file)?.[1]);
      const ts = event.ts as number;
      expect(new Date(ts).getUTCDate()).toBe(day);
      expect(new Date(ts).getUTCMonth()).toBe(10);
      expect(ts).toBeGreaterThanOrEqual(last);
      last = ts;
    }
  });

  it('gives every line the 18 fields in JSONPaths order with the contract types', () => {
    const order = EVENT_FIELDS.map((f) => f.json).join();
    const problems: string[] = [];
    const check = (ok: boolean, what: string, raw: string): void => {
      if (!ok && problems.length < 10) problems.push(`${what}: ${raw}`);
    };
    for (const { raw, event: e } of lines) {
      check(Object.keys(e).join() === order, 'key order', raw);
      for (const field of EVENT_FIELDS) {
        const v = e[field.json];
        if (field.type === 'digits') check(typeof v === 'string' && /^\d*$/.test(v), field.json, raw);
        else if (v === null) check(!field.required, field.json, raw);
        else if (field.type === 'integer') check(Number.isInteger(v), field.json, raw);
        else check(typeof v === field.type, field.json, raw);
      }
      check(e.registration === null || /"registration":\d{13}\.0,/.test(raw), 'registration as a float', raw);
      check(!/(^|[^\\])\//.test(raw), 'every slash escaped', raw);
      // Compact, like the sample.
      check(/^\{"artist":(null|"[^\n]*"),"auth":"[A-Za-z ]+","firstName":/.test(raw), 'compact', raw);
      check(e.method === 'GET' || e.method === 'PUT', 'method', raw);
      if (e.page === 'NextSong') {
        check(e.method === 'PUT' && e.status === 200 && e.auth === 'Logged In', 'NextSong request', raw);
        check(typeof e.song === 'string' && typeof e.artist === 'string' && typeof e.length === 'number', 'play', raw);
        check(e.userId !== '', 'play user', raw);
      } else {
        check(e.song === null && e.artist === null && e.length === null, 'no song', raw);
      }
      if (e.auth === 'Logged Out' || e.auth === 'Guest') {
        const nulls = [e.firstName, e.lastName, e.gender, e.registration, e.location, e.userAgent];
        check(e.userId === '' && nulls.every((v) => v === null), 'anonymous', raw);
      } else {
        check(/^\d+$/.test(e.userId as string), 'user id', raw);
      }
    }
    expect(problems).toEqual([]);
    expect(lines.some((l) => l.raw.includes('\\/'))).toBe(true);
  });

  it('has a realistic mix of pages, auth states and statuses', () => {
    const count = (pred: (e: Record<string, unknown>) => boolean): number => lines.filter((l) => pred(l.event)).length;
    const nonSong = count((e) => e.page !== 'NextSong') / lines.length;
    expect(nonSong).toBeGreaterThan(0.2);
    expect(nonSong).toBeLessThan(0.3);
    expect(count((e) => e.auth === 'Logged Out')).toBeGreaterThan(0);
    expect(count((e) => e.auth === 'Guest')).toBeGreaterThan(0);
    for (const status of [200, 307, 404]) expect(count((e) => e.status === status)).toBeGreaterThan(0);
    for (const page of ['Home', 'Login', 'Logout', 'Upgrade', 'Submit Upgrade', 'Downgrade', 'Settings', 'Help', 'About'])
      expect(count((e) => e.page === page), page).toBeGreaterThan(0);
    expect(count((e) => typeof e.location === 'string' && e.location.includes(','))).toBeGreaterThan(0);
  });

  it('keeps (sessionId, itemInSession) unique and counts items from 0 in each session', () => {
    const bySession = new Map<number, number[]>();
    for (const { event } of lines) {
      const items = bySession.get(event.sessionId as number) ?? [];
      items.push(event.itemInSession as number);
      bySession.set(event.sessionId as number, items);
    }
    for (const items of bySession.values()) expect(items).toEqual(items.map((_, i) => i));
    const keys = new Set(lines.map((l) => `${l.event.sessionId as number}/${l.event.itemInSession as number}`));
    expect(keys.size).toBe(lines.length);
  });

  it('has users who play songs both as free and as paid', () => {
    const levels = new Map<string, Set<unknown>>();
    for (const { event } of lines)
      if (event.page === 'NextSong') levels.set(event.userId as string, (levels.get(event.userId as string) ?? new Set()).add(event.level));
    expect([...levels.values()].filter((s) => s.size === 2).length).toBeGreaterThan(0);
  });

  it('honours matchShare: that share of plays matches a song by title, artist and duration (within 0.01)', () => {
    const catalogue = new Map<string, number[]>();
    for (let i = 0; i < BASE.songs; i++) {
      const s = songRecord(SEED, i);
      const key = `${s.title}\0${s.artist_name}`;
      catalogue.set(key, [...(catalogue.get(key) ?? []), s.duration]);
    }
    const plays = lines.filter((l) => l.event.page === 'NextSong').map((l) => l.event);
    const matched = plays.filter((e) =>
      (catalogue.get(`${e.song as string}\0${e.artist as string}`) ?? []).some((d) => Math.abs(d - (e.length as number)) <= 0.01),
    );
    expect(matched.length).toBe(summary.matchedPlays);
    expect(matched.length / plays.length).toBeGreaterThan(0.26);
    expect(matched.length / plays.length).toBeLessThan(0.34);
  });

  it('is deterministic: same options give the same bytes, another seed other bytes', async () => {
    const again = await tmp();
    const other = await tmp();
    await generate({ ...BASE, dir: again });
    await generate({ ...BASE, seed: SEED + 1, dir: other });
    const [a, b, c] = await Promise.all([treeHash(dir), treeHash(again), treeHash(other)]);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });
});

describe('generate options', () => {
  it('honours matchShare 0 and 1', async () => {
    const none = await generate({ dir: await tmp(), songs: 50, events: 1500, seed: 3, matchShare: 0 });
    expect(none.matchedPlays).toBe(0);
    const all = await generate({ dir: await tmp(), songs: 50, events: 1500, seed: 3, matchShare: 1 });
    expect(all.matchedPlays).toBe(all.songPlays);
    expect(all.songPlays).toBeGreaterThan(0);
  });

  it('writes one file per day of another month, empty files for days without events', async () => {
    const dir = await tmp();
    const summary = await generate({ dir, songs: 0, events: 20, seed: 1, month: '2016-02' });
    expect(summary).toMatchObject({ songFiles: 0, logFiles: 29, events: 20, matchedPlays: 0 });
    const files = await walk(dir);
    expect(files).toHaveLength(29);
    expect(files[28]).toBe('log_data/2016/02/2016-02-29-events.json');
    const lines = await readEvents(dir, files);
    expect(lines).toHaveLength(20);
    for (const { event } of lines) expect(new Date(event.ts as number).toISOString()).toMatch(/^2016-02-/);
    const sizes = await Promise.all(files.map(async (f) => (await readFile(path.join(dir, f))).length));
    expect(sizes.filter((s) => s === 0).length).toBeGreaterThan(0);
  });

  it('writes nothing but empty day files for zero events', async () => {
    const dir = await tmp();
    expect(await generate({ dir, songs: 0, events: 0, seed: 1 })).toMatchObject({ logFiles: 30, bytes: 0 });
    expect(await walk(dir)).toHaveLength(30);
  });

  it('rejects invalid options', async () => {
    const dir = await tmp();
    await expect(generate({ dir, songs: -1, events: 1, seed: 1 })).rejects.toThrow(/songs/);
    await expect(generate({ dir, songs: 1, events: 1.5, seed: 1 })).rejects.toThrow(/events/);
    await expect(generate({ dir, songs: 1, events: 1, seed: 1, matchShare: 2 })).rejects.toThrow(/matchShare/);
    await expect(generate({ dir, songs: 1, events: 1, seed: 1, month: '2018-13' })).rejects.toThrow(/month/);
  });

  it('keeps memory flat: ten times the events need about the same heap', async () => {
    const peak = async (events: number): Promise<number> => {
      let max = 0;
      await generate({
        dir: await tmp(),
        songs: events / 100,
        events,
        seed: 5,
        onProgress: () => {
          max = Math.max(max, process.memoryUsage().heapUsed);
        },
      });
      return max;
    };
    const small = await peak(30_000);
    const large = await peak(300_000);
    // 300k lines are ~140 MB of text; holding any per-event state would show.
    expect(large - small).toBeLessThan(48 * 1024 * 1024);
  });
});
