/**
 * Retention of run folders (ETL.KEEP_RUNS, `etl clean`): the newest N stay, older ones go with what they hold
 * (report, rejects, local staging parts). Only folders named like a run id directly under the runs folder are
 * ever removed, never one whose command is still working (in this process or another).
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive as alive } from '../process-alive.js';

/** Written into a run folder while its command works ({pid, host, since}); removed when it ends. */
export const IN_PROGRESS_FILE = '.in-progress';

/** The folder name of a run (see newRunId): UTC time to the millisecond, a random suffix. */
const RUN_FOLDER = /^\d{8}T\d{9}Z-[0-9a-z]+$/;

export async function markInProgress(runDir: string): Promise<void> {
  await writeFile(join(runDir, IN_PROGRESS_FILE), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }) + '\n');
}

export async function unmarkInProgress(runDir: string): Promise<void> {
  await rm(join(runDir, IN_PROGRESS_FILE), { force: true });
}

/**
 * Whether the run of `runDir` may still be working: its marker names a live process of this host, or a
 * process of another host (which cannot be asked), or cannot be read yet. A killed run's marker names a
 * process that is gone.
 */
async function inProgress(runDir: string): Promise<boolean> {
  const text = await readFile(join(runDir, IN_PROGRESS_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  try {
    const { pid, host } = JSON.parse(text) as { pid: number; host: string };
    return host !== hostname() || alive(pid);
  } catch {
    return true;
  }
}

export interface PruneOptions {
  /** Run ids never removed (the run that is pruning, the latest extract). */
  readonly protect?: readonly string[];
  /** Say what would go, remove nothing. */
  readonly dryRun?: boolean;
}

export interface Pruned {
  /** The folders removed (or, in a dry run, that would be), oldest last. */
  readonly removed: string[];
  /** Run folders left. */
  readonly kept: number;
}

/** Removes the run folders under `runs` beyond the newest `keep` (none in progress, none protected). */
export async function pruneRuns(runs: string, keep: number, options: PruneOptions = {}): Promise<Pruned> {
  const entries = await readdir(runs, { withFileTypes: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  // Real folders only: a symbolic link is not followed, let alone removed.
  const newestFirst = entries.filter((e) => e.isDirectory() && RUN_FOLDER.test(e.name)).map((e) => e.name).sort().reverse();
  const removed: string[] = [];
  let kept = 0;
  for (const [i, name] of newestFirst.entries()) {
    const dir = join(runs, name);
    if (i < keep || options.protect?.includes(name) || (await inProgress(dir))) {
      kept += 1;
      continue;
    }
    if (!options.dryRun) await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return { removed, kept };
}
