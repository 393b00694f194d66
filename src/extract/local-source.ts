import { createReadStream, statSync, type BigIntStats, type Dirent } from 'node:fs';
import { lstat, opendir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { EtlError } from '../errors.js';
import { compareKeys, isJsonKey, type Source, type SourceObject } from './source.js';

const STAT_BATCH = 64;
/** Subdirectories listed ahead of the walk (each holds at most one directory's entries in memory). */
const DIRS_AHEAD = 8;
const SMALL_FILE_BYTES = 256 * 1024;

interface Entry {
  readonly path: string;
  readonly key: string;
  /** A directory's real path (symbolic links resolved): what loop protection compares. */
  readonly realDir?: string;
  stat?: BigIntStats;
}

interface Dir {
  readonly path: string;
  readonly real: string;
  /** Real paths of the directories from the root down to this one, itself included. */
  readonly ancestors: ReadonlySet<string>;
}

export interface LocalSourceOptions {
  /** Told, in one line naming the path, of each entry skipped: a dangling symbolic link, a link loop. */
  readonly notice?: (message: string) => void;
}

/**
 * A local file's version, `<mtime ms>:<ctime ns>:<inode>`. Writing a file sets its change time (ctime) to the
 * clock, and so does setting its modification time back (utimes, `touch -m -d`): nothing but the system clock
 * sets ctime, so a file rewritten with its size and mtime kept still gets a new version, without reading it.
 * A file replaced by rename gets a new inode. A chmod, chown, rename or copy of the file changes the version
 * too: the object is then read again once, which the idempotent transform absorbs.
 */
export const localVersion = (info: BigIntStats): string => `${info.mtimeMs}:${info.ctimeNs}:${info.ino}`;

const code = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);

/**
 * A folder with the S3 layout. Keys are paths relative to the folder; listing walks one directory at a
 * time in key order, so only the entries of the directories on the current path are held in memory.
 * Symbolic links are followed, to files and to folders alike; a link to a folder that contains it (a loop)
 * and a dangling link are skipped, each with a notice naming it.
 */
export class LocalSource implements Source {
  readonly listsCheaply = true;
  private readonly root: string;
  private readonly notice: (message: string) => void;

  constructor(
    readonly url: string,
    options: LocalSourceOptions = {},
  ) {
    this.root = resolve(url);
    this.notice = options.notice ?? (() => {});
  }

  async *list(): AsyncIterable<SourceObject> {
    const info = await stat(this.root, { bigint: true }).catch(() => undefined);
    if (!info) throw new EtlError(`Source folder ${this.url} does not exist: check S3.SONG_DATA / S3.LOG_DATA`);
    if (info.isFile()) {
      // A single file named directly is its own prefix.
      if (isJsonKey(this.root)) yield { key: this.root.split(sep).pop()!, size: Number(info.size), version: localVersion(info) };
      return;
    }
    const real = await realpath(this.root);
    const top: Dir = { path: this.root, real, ancestors: new Set([real]) };
    yield* this.walk(top, this.listDir(top));
  }

  /** A directory's entries in key order (links resolved), its JSON files with their stat. */
  private async listDir(dir: Dir): Promise<Entry[]> {
    const entries: Entry[] = [];
    const links: Dirent[] = [];
    const handle = await opendir(dir.path).catch((error: unknown) => {
      throw new EtlError(`Cannot list ${dir.path}: ${code(error)}`);
    });
    for await (const entry of handle) {
      const path = join(dir.path, entry.name);
      if (entry.isDirectory()) entries.push({ path, key: `${this.keyOf(path)}/`, realDir: join(dir.real, entry.name) });
      else if (entry.isFile()) {
        if (isJsonKey(entry.name)) entries.push({ path, key: this.keyOf(path) });
      } else if (entry.isSymbolicLink() || !(entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice())) {
        // A link, or a file system that does not tell the entry's type: resolved below.
        links.push(entry);
      }
    }
    for (const resolved of await Promise.all(links.map((link) => this.resolveLink(dir, link)))) if (resolved) entries.push(resolved);
    // A directory sorts by its key plus '/', which is how its files' keys compare with its siblings'.
    entries.sort((a, b) => compareKeys(a.key, b.key));
    // Stat a directory's files together: one at a time, 15,000 song files take seconds of round trips.
    const files = entries.filter((e) => e.realDir === undefined && e.stat === undefined);
    for (let i = 0; i < files.length; i += STAT_BATCH) {
      const batch = files.slice(i, i + STAT_BATCH);
      const stats = await Promise.all(batch.map((e) => stat(e.path, { bigint: true }).catch((error: unknown) => this.vanished(e.path, error))));
      batch.forEach((e, j) => (e.stat = stats[j]));
    }
    return entries;
  }

  /** A file gone between listing and stat is not listed (as if listed a moment later); any other error stops. */
  private vanished(path: string, error: unknown): undefined {
    if (code(error) === 'ENOENT') return undefined;
    throw new EtlError(`Cannot read ${path}: ${code(error)}`);
  }

  /** What a link (or an entry of unknown type) stands for: a file, a folder to walk, or nothing (with a notice). */
  private async resolveLink(dir: Dir, entry: Dirent): Promise<Entry | undefined> {
    const path = join(dir.path, entry.name);
    const isLink = entry.isSymbolicLink() || (await lstat(path).then((s) => s.isSymbolicLink(), () => false));
    let target: BigIntStats;
    try {
      target = await stat(path, { bigint: true });
    } catch (error) {
      const why = code(error);
      if (!isLink && why === 'ENOENT') return undefined;
      if (!isLink || !['ENOENT', 'ELOOP', 'ENOTDIR'].includes(why)) throw new EtlError(`Cannot read ${path}: ${why}`);
      const to = await readlink(path).catch(() => '?');
      this.notice(`Skipped ${path}: ${why === 'ELOOP' ? 'a loop of symbolic links' : 'a dangling symbolic link'} (to ${to})`);
      return undefined;
    }
    if (target.isFile()) return isJsonKey(entry.name) ? { path, key: this.keyOf(path), stat: target } : undefined;
    if (!target.isDirectory()) return undefined;
    const real = await realpath(path);
    if (dir.ancestors.has(real)) {
      this.notice(`Skipped ${path}: a symbolic link to ${real}, a folder that contains it (it would be walked forever)`);
      return undefined;
    }
    return { path, key: `${this.keyOf(path)}/`, realDir: real };
  }

  private keyOf(path: string): string {
    return relative(this.root, path).split(sep).join('/');
  }

  /** Walks depth first in key order, listing the next few subdirectories ahead while a previous one is walked. */
  private async *walk(dir: Dir, listing: Promise<Entry[]>): AsyncGenerator<SourceObject> {
    const entries = await listing;
    const ahead = new Map<number, Promise<Entry[]>>();
    const subdir = (e: Entry): Dir => ({ path: e.path, real: e.realDir!, ancestors: new Set([...dir.ancestors, e.realDir!]) });
    const listAhead = (from: number) => {
      for (let i = from; i < entries.length && ahead.size < DIRS_AHEAD; i++) {
        const e = entries[i]!;
        if (e.realDir !== undefined && !ahead.has(i)) {
          const promise = this.listDir(subdir(e));
          promise.catch(() => {}); // awaited when its turn comes
          ahead.set(i, promise);
        }
      }
    };
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.realDir !== undefined) {
        listAhead(i);
        const promise = ahead.get(i)!;
        ahead.delete(i);
        yield* this.walk(subdir(entry), promise);
      } else if (entry.stat) {
        yield { key: entry.key, size: Number(entry.stat.size), version: localVersion(entry.stat) };
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
        throw new EtlError(`Cannot read ${path}: ${code(error)}`);
      }
    }
    // Open eagerly so a vanished or unreadable file fails here, naming the file.
    return await new Promise<Readable>((resolveOpen, reject) => {
      const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
      stream.once('open', () => resolveOpen(stream));
      stream.once('error', (error) => reject(new EtlError(`Cannot read ${path}: ${code(error)}`)));
    });
  }

  /** Absolute path of an object listed by this source. */
  pathOf(object: SourceObject): string {
    this.rootIsFile ??= statSync(this.root, { throwIfNoEntry: false })?.isFile() ?? false;
    return this.rootIsFile ? this.root : join(this.root, object.key);
  }

  private rootIsFile: boolean | undefined;
}
