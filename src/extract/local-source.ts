import { createReadStream, statSync } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { EtlError } from '../errors.js';
import { compareKeys, isJsonKey, type Source, type SourceObject } from './source.js';

/**
 * A folder with the S3 layout. Keys are paths relative to the folder; listing walks one directory at a
 * time in key order, so only the entries of the directories on the current path are held in memory.
 */
export class LocalSource implements Source {
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

  private async *walk(dir: string): AsyncIterable<SourceObject> {
    const entries: { name: string; key: string; isDir: boolean }[] = [];
    for await (const entry of await opendir(dir)) {
      if (!entry.isDirectory() && !entry.isFile()) continue;
      const key = relative(this.root, join(dir, entry.name)).split(sep).join('/');
      // A directory sorts by its key plus '/', which is how its files' keys compare with siblings'.
      entries.push({ name: entry.name, key: entry.isDirectory() ? `${key}/` : key, isDir: entry.isDirectory() });
    }
    entries.sort((a, b) => compareKeys(a.key, b.key));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDir) {
        yield* this.walk(path);
      } else if (isJsonKey(entry.key)) {
        const info = await stat(path);
        yield { key: entry.key, size: info.size, version: String(Math.trunc(info.mtimeMs)) };
      }
    }
  }

  async open(object: SourceObject): Promise<Readable> {
    const path = this.pathOf(object);
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
