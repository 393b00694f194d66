import { createReadStream, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { opendir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { EtlError } from '../errors.js';
import { compareKeys, isJsonKey, type Source, type SourceObject } from './source.js';

const STAT_BATCH = 64;
/** Subdirectories listed ahead of the walk (each holds at most one directory's entries in memory). */
const DIRS_AHEAD = 8;

interface Entry {
  readonly path: string;
  readonly key: string;
  readonly isDir: boolean;
  stat?: Stats;
}
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * A folder with the S3 layout. Keys are paths relative to the folder; listing walks one directory at a
 * time in key order, so only the entries of the directories on the current path are held in memory.
 */
export class LocalSource implements Source {
  readonly listsCheaply = true;
  private readonly root: string;

  constructor(readonly url: string) {
    this.root = resolve(url);
  }

  async *list(): AsyncIterable<SourceObject> {
    const info = await stat(this.root).catch(() => undefined);
    if (!info) throw new EtlError(`Source folder ${this.url} does not exist: check S3.SONG_DATA / S3.LOG_DATA`);
    if (info.isFile()) {
      // A single file named directly is its own prefix.
      if (isJsonKey(this.root)) yield { key: this.root.split(sep).pop()!, size: info.size, version: String(info.mtimeMs) };
      return;
    }
    yield* this.walk(this.root);
  }

  /** A directory's entries in key order, its JSON files with their stat. */
  private async listDir(dir: string): Promise<Entry[]> {
    const entries: Entry[] = [];
    for await (const entry of await opendir(dir)) {
      if (!entry.isDirectory() && !entry.isFile()) continue;
      const key = relative(this.root, join(dir, entry.name)).split(sep).join('/');
      if (entry.isDirectory()) entries.push({ path: join(dir, entry.name), key: `${key}/`, isDir: true });
      else if (isJsonKey(key)) entries.push({ path: join(dir, entry.name), key, isDir: false });
    }
    // A directory sorts by its key plus '/', which is how its files' keys compare with its siblings'.
    entries.sort((a, b) => compareKeys(a.key, b.key));
    // Stat a directory's files together: one at a time, 15,000 song files take seconds of round trips.
    for (let i = 0; i < entries.length; i += STAT_BATCH) {
      const batch = entries.slice(i, i + STAT_BATCH).filter((e) => !e.isDir);
      const stats = await Promise.all(batch.map((e) => stat(e.path)));
      batch.forEach((e, j) => (e.stat = stats[j]));
    }
    return entries;
  }

  /** Walks depth first in key order, listing the next few subdirectories ahead while a previous one is walked. */
  private async *walk(dir: string, listing: Promise<Entry[]> = this.listDir(dir)): AsyncGenerator<SourceObject> {
    const entries = await listing;
    const ahead = new Map<number, Promise<Entry[]>>();
    const listAhead = (from: number) => {
      for (let i = from; i < entries.length && ahead.size < DIRS_AHEAD; i++) {
        const e = entries[i]!;
        if (e.isDir && !ahead.has(i)) {
          const promise = this.listDir(e.path);
          promise.catch(() => {}); // awaited when its turn comes
          ahead.set(i, promise);
        }
      }
    };
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.isDir) {
        listAhead(i);
        const promise = ahead.get(i)!;
        ahead.delete(i);
        yield* this.walk(entry.path, promise);
      } else if (entry.stat) {
        yield { key: entry.key, size: entry.stat.size, version: String(Math.trunc(entry.stat.mtimeMs)) };
      }
    }
  }

  async open(object: SourceObject): Promise<Readable> {
    const path = this.pathOf(object);
    // A small file in one read: cheaper than a stream's open/read/close round trips.
    if (object.size <= SMALL_FILE_BYTES) {
      try {
        return Readable.from([await readFile(path)]);
      } catch (error) {
        throw new EtlError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
      }
    }
    // Open eagerly so a vanished or unreadable file fails here, naming the file.
    return await new Promise<Readable>((resolveOpen, reject) => {
      const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
      stream.once('open', () => resolveOpen(stream));
      stream.once('error', (error) => reject(new EtlError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    });
  }

  /** Absolute path of an object listed by this source. */
  pathOf(object: SourceObject): string {
    this.rootIsFile ??= statSync(this.root, { throwIfNoEntry: false })?.isFile() ?? false;
    return this.rootIsFile ? this.root : join(this.root, object.key);
  }

  private rootIsFile: boolean | undefined;
}
