/**
 * A PGlite data directory is its owner's only (0700 folders, 0600 files, whatever the umask): PGlite's initdb
 * leaves most files 0666 (chmod, past the umask), and a local user who can write `global/pg_control` can
 * destroy the warehouse. Group and other permissions are removed, never the owner's, which PostgreSQL needs.
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const GROUP_OTHER = 0o077;
const GROUP_OTHER_WRITE = 0o022;

/**
 * Removes group and other permissions from `dir` and everything under it (symbolic links are left alone).
 * Resolves to how many entries were writable by group or others before.
 */
export async function makeOwnerOnly(dir: string): Promise<number> {
  let writable = 0;
  const visit = async (path: string): Promise<void> => {
    // Gone since its folder was listed: nothing to protect.
    const stats = await lstat(path).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    });
    if (!stats || stats.isSymbolicLink()) return;
    if (stats.mode & GROUP_OTHER) {
      if (stats.mode & GROUP_OTHER_WRITE) writable++;
      await chmod(path, stats.mode & 0o7777 & ~GROUP_OTHER);
    }
    if (stats.isDirectory()) await Promise.all((await readdir(path)).map((name) => visit(join(path, name))));
  };
  await visit(dir);
  return writable;
}
