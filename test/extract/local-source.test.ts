/**
 * The local folder source on a real file system: versions that tell a rewritten file even when its size and
 * mtime were kept, and symbolic links (followed; loops and dangling links skipped with one notice each).
 */
import { mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalSource } from '../../src/extract/local-source.js';
import type { SourceObject } from '../../src/extract/source.js';
import { isUnchanged } from '../../src/pipeline/object-selection.js';
import { removeTempDirs, tempDir } from '../helpers/warehouses.js';

afterAll(removeTempDirs);

const listAll = async (source: LocalSource): Promise<SourceObject[]> => {
  const objects: SourceObject[] = [];
  for await (const object of source.list()) objects.push(object);
  return objects;
};

const text = async (source: LocalSource, object: SourceObject): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of await source.open(object)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

describe('local versions', () => {
  it('a file rewritten with its size kept and its mtime set back gets a new version', async () => {
    const root = await tempDir('sparkify-local-version-');
    const path = join(root, '2018-11-01-events.json');
    await writeFile(path, '{"level":"free"}\n');
    // A whole second, which utimes sets exactly (as `touch -d` or `cp -p` would keep it).
    const kept = 1_541_030_400;
    await utimes(path, kept, kept);
    const before = await stat(path);
    const [first] = await listAll(new LocalSource(root));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(path, '{"level":"paid"}\n');
    await utimes(path, kept, kept);
    const after = await stat(path);
    // What the ledger held before this release (the mtime alone) is the same: that missed the change.
    expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);

    const [second] = await listAll(new LocalSource(root));
    expect(second!.size).toBe(first!.size);
    expect(second!.version).not.toBe(first!.version);
    expect(second!.version.split(':')[0]).toBe(first!.version.split(':')[0]);
    expect(isUnchanged({ size: first!.size, version: first!.version }, second!)).toBe(false);
    // Listed again untouched, the version is the same: an unchanged file is not read again.
    const [third] = await listAll(new LocalSource(root));
    expect(isUnchanged({ size: second!.size, version: second!.version }, third!)).toBe(true);
  });

  it('a ledger entry of an older release (the mtime alone) matches while size and mtime do', async () => {
    const root = await tempDir('sparkify-local-legacy-');
    await writeFile(join(root, 'a.json'), '{}\n');
    const [object] = await listAll(new LocalSource(root));
    const mtime = object!.version.split(':')[0]!;
    expect(isUnchanged({ size: object!.size, version: mtime }, object!)).toBe(true);
    expect(isUnchanged({ size: object!.size, version: `${mtime}.731` }, object!)).toBe(true);
    expect(isUnchanged({ size: object!.size + 1, version: mtime }, object!)).toBe(false);
    expect(isUnchanged({ size: object!.size, version: String(Number(mtime) - 1) }, object!)).toBe(false);
  });

  it('an S3 object is unchanged only with the same ETag and the same size', () => {
    const object = { key: 'k.json', size: 250, version: '"0cc175b9c0f1b6a831c399e269772661"' };
    expect(isUnchanged({ size: 250, version: object.version }, object)).toBe(true);
    expect(isUnchanged({ size: 251, version: object.version }, object)).toBe(false);
    expect(isUnchanged({ size: 250, version: '"92eb5ffee6ae2fec3ad71c777531578f"' }, object)).toBe(false);
    expect(isUnchanged(undefined, object)).toBe(false);
  });
});

describe('symbolic links', () => {
  let root: string;
  let notices: string[];
  let objects: SourceObject[];
  let source: LocalSource;

  const setUp = async () => {
    const base = await tempDir('sparkify-local-links-');
    root = join(base, 'song_data');
    const elsewhere = join(base, 'elsewhere');
    await mkdir(join(root, 'A', 'B'), { recursive: true });
    await mkdir(join(elsewhere, 'C'), { recursive: true });
    await writeFile(join(root, 'A', 'B', 'real.json'), '{"real":1}');
    await writeFile(join(elsewhere, 'target.json'), '{"linked file":1}');
    await writeFile(join(elsewhere, 'C', 'inside.json'), '{"in a linked folder":1}');
    await writeFile(join(elsewhere, 'notes.txt'), 'not JSON');
    await symlink(join(elsewhere, 'target.json'), join(root, 'A', 'file-link.json'));
    await symlink(join(elsewhere, 'notes.txt'), join(root, 'A', 'notes.txt'));
    await symlink(join(elsewhere, 'C'), join(root, 'A', 'dir-link'));
    // Loops: a folder linked to its parent, and to the root itself.
    await symlink('..', join(root, 'A', 'B', 'up'));
    await symlink(root, join(root, 'A', 'B', 'root'));
    await symlink(join(base, 'gone.json'), join(root, 'A', 'dangling.json'));
    await symlink('self.json', join(root, 'A', 'self.json'));
    notices = [];
    source = new LocalSource(root, { notice: (m) => notices.push(m) });
    objects = await listAll(source);
  };

  it('follows links to files and to folders, listing them in key order under the link name', async () => {
    await setUp();
    expect(objects.map((o) => o.key)).toEqual(['A/B/real.json', 'A/dir-link/inside.json', 'A/file-link.json']);
    const byKey = new Map(objects.map((o) => [o.key, o]));
    expect(await text(source, byKey.get('A/file-link.json')!)).toBe('{"linked file":1}');
    expect(await text(source, byKey.get('A/dir-link/inside.json')!)).toBe('{"in a linked folder":1}');
    // The version is the target's: rewriting the target changes it.
    expect(byKey.get('A/file-link.json')!.size).toBe((await readFile(join(root, '..', 'elsewhere', 'target.json'))).length);
  });

  it('skips a link to a folder that contains it and a dangling link, one notice naming each', () => {
    expect(notices).toHaveLength(4);
    expect(notices.every((n) => !n.includes('\n'))).toBe(true);
    const about = (name: string) => notices.filter((n) => n.startsWith(`Skipped ${join(root, ...name.split('/'))}:`));
    expect(about('A/B/up')[0]).toMatch(/a symbolic link to .*song_data[/\\]A, a folder that contains it/);
    expect(about('A/B/root')[0]).toMatch(/a symbolic link to .*song_data, a folder that contains it/);
    expect(about('A/dangling.json')[0]).toMatch(/a dangling symbolic link \(to .*gone\.json\)$/);
    expect(about('A/self.json')[0]).toMatch(/a loop of symbolic links/);
  });
});
