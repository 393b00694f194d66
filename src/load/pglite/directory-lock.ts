/**
 * The lock of a data directory that one process at a time may open: a file `<dir>.lock` beside it, naming its
 * holder (pid, the process's start time and boot, host, command, since). Created atomically with its content
 * (written under a name of its own, then hard-linked), so a second process sees either no lock or a whole one.
 *
 * It is never taken over for its age: PGlite runs each statement on the main thread, where no timer fires, so
 * a live holder may say nothing for as long as a statement runs. It is taken over only from a holder of this
 * host that is provably gone (its pid no longer runs, or now names a process started at another time or in
 * another boot), with a notice naming it. A holder on another host (a shared directory) cannot be asked: the
 * lock is refused, and the message says how to remove it by hand. It is released by `release`, and on any
 * exit of the process (process.exit, the end of the event loop, an uncaught error); a SIGKILL leaves it,
 * for the next command to take over since its pid has gone.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { EtlError, describeError } from '../../errors.js';
import { identityAlive, thisProcess, type ProcessIdentity } from '../../process-alive.js';

/** What the lock file holds. */
export interface LockHolder extends ProcessIdentity {
  readonly host: string;
  readonly command: string;
  /** ISO time it was taken. */
  readonly since: string;
  /** This hold of the lock, unique: a lock is released or taken over only if it still holds this token. */
  readonly token: string;
}

export interface LockOptions {
  /** What is locked, as a message names it: "the embedded warehouse at X (WAREHOUSE.PGLITE_DIR)". */
  readonly subject: string;
  /** What holds it, for the message another process shows (default: this process's command line). */
  readonly command?: string;
  /** Hears of a lock taken over from a process that has gone. */
  readonly notice?: (message: string) => void;
}

export interface DirectoryLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock, if it is still this one's; later calls do nothing. */
  release(): Promise<void>;
}

/** Contenders that keep taking and releasing the lock get this many tries before the command gives up. */
const ATTEMPTS = 50;
/** A lock file being written (no hard links on this file system) is read again this many times. */
const UNREADABLE_RETRIES = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const shown = (iso: string): string => `${iso.slice(0, 19).replace('T', ' ')} UTC`;
const capital = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** The command line of this process, short enough for a message: `etl run --full-refresh`. */
const commandLine = (): string => {
  const text = ['etl', ...process.argv.slice(2)].join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
};

/** Error codes of file systems without hard links, where the lock file is created with O_EXCL instead. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);
const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

/** Creates `path` holding `content` unless it exists; resolves to whether it did. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const part = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(part, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(part, path);
    return true;
  } catch (error) {
    if (codeOf(error) === 'EEXIST') return false;
    if (!NO_LINKS.has(codeOf(error) ?? '')) throw error;
    // No hard links here: a reader may see the file empty for a moment, and reads it again (readHolder).
    return writeFile(path, content, { mode: 0o600, flag: 'wx' }).then(
      () => true,
      (cause: unknown) => {
        if (codeOf(cause) === 'EEXIST') return false;
        throw cause;
      },
    );
  } finally {
    await rm(part, { force: true });
  }
}

const parseHolder = (text: string): LockHolder | undefined => {
  try {
    const holder = JSON.parse(text) as Partial<LockHolder>;
    const complete = typeof holder.pid === 'number' && [holder.host, holder.token, holder.command, holder.since].every((v) => typeof v === 'string');
    return complete ? (holder as LockHolder) : undefined;
  } catch {
    return undefined;
  }
};

/** The holder in the lock file at `path`: 'missing' (released meanwhile), or 'unreadable' (not one of ours). */
async function readHolder(path: string): Promise<LockHolder | 'missing' | 'unreadable'> {
  for (let attempt = 0; ; attempt++) {
    const text = await readFile(path, 'utf8').catch((error: unknown) => (codeOf(error) === 'ENOENT' ? undefined : ''));
    if (text === undefined) return 'missing';
    const holder = parseHolder(text);
    if (holder) return holder;
    if (attempt >= UNREADABLE_RETRIES) return 'unreadable';
    await sleep(20);
  }
}

/** Whether the lock at `path` still holds `token` (read synchronously: this also runs on exit). */
const holdsSync = (path: string, token: string): boolean => {
  try {
    return parseHolder(readFileSync(path, 'utf8'))?.token === token;
  } catch {
    return false;
  }
};

/** Removes `path` if it still holds `token`. No other process removes a live holder's lock, so this cannot race. */
const removeIfHeld = (path: string, token: string): void => {
  if (!holdsSync(path, token)) return;
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
};

/** How the holder of a lock stands: still working, provably gone, or on a host this one cannot ask. */
const standing = (holder: LockHolder): 'alive' | 'gone' | 'elsewhere' =>
  holder.host !== hostname() ? 'elsewhere' : identityAlive(holder) ? 'alive' : 'gone';

/**
 * Removes the lock of `gone`, unless another process took it over first. Takers-over go one at a time
 * through a second lock, `<lock>.takeover`, held for a moment: each reads the lock again under it and removes
 * it only if it still names the process found gone. (A contender that finds the takeover lock of a process
 * that died inside that moment removes it: the one window left, of microseconds, after such a death.)
 */
export async function removeGoneHolder(path: string, gone: LockHolder, mine: LockHolder): Promise<boolean> {
  const gate = `${path}.takeover`;
  if (!(await createExclusive(gate, JSON.stringify(mine) + '\n'))) {
    const other = await readHolder(gate);
    if (other === 'unreadable' || (other !== 'missing' && standing(other) === 'gone')) await rm(gate, { force: true });
    return false;
  }
  try {
    const now = await readHolder(path);
    if (now === 'missing' || now === 'unreadable' || now.token !== gone.token) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    removeIfHeld(gate, mine.token);
  }
}

/**
 * Locks the directory `dir` (resolved already: one directory, one lock) for this process, or fails with one
 * line saying who holds it and what to do.
 */
export async function lockDirectory(dir: string, options: LockOptions): Promise<DirectoryLock> {
  const path = `${dir}.lock`;
  const holder: LockHolder = {
    ...thisProcess(),
    host: hostname(),
    command: options.command ?? commandLine(),
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const content = JSON.stringify(holder) + '\n';
  const fail = (why: string) => new EtlError(`${capital(options.subject)} ${why}`);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let created: boolean;
    try {
      created = await createExclusive(path, content);
    } catch (error) {
      throw fail(`cannot be locked: ${describeError(error)} (the lock is the file ${path})`);
    }
    if (created) return held(path, holder);
    const other = await readHolder(path);
    if (other === 'missing') continue;
    if (other === 'unreadable') {
      throw fail(`is locked by ${path}, which does not say who holds it (an earlier version's lock, or a damaged one): if no etl command is working on it, remove it (rm -r ${path}) and run this again`);
    }
    const who = `process ${other.pid} (\`${other.command}\`, since ${shown(other.since)})`;
    const state = standing(other);
    if (state === 'alive') throw fail(`is in use by another etl command, ${who}: wait for it to finish, then run this again`);
    if (state === 'elsewhere') {
      throw fail(`is locked by ${who} on host ${other.host}, which this host cannot check: if no etl command is working on it there, remove ${path} and run this again`);
    }
    if (await removeGoneHolder(path, other, holder)) {
      options.notice?.(`Took over the lock of ${options.subject}: process ${other.pid}, which held it since ${shown(other.since)}, has exited (it ran \`${other.command}\`)`);
    } else {
      // Another process is taking it over right now: see who holds it then.
      await sleep(20 + Math.random() * 30);
    }
  }
  throw fail(`cannot be locked: other commands kept taking the lock (${path}); run this again`);
}

/** The locks to remove at exit: token -> path. */
const atExit = new Map<string, string>();
const releaseAll = () => atExit.forEach((path, token) => removeIfHeld(path, token));

/**
 * Removes the lock `path` (if it still holds `token`) when this thread's process exits: process.exit (the
 * CLI's signal handlers end that way), an uncaught error, the end of the event loop. Returns the function that
 * cancels it. In a worker thread, 'exit' fires only when the thread ends by itself, not when the process
 * exits: a thread that holds a lock passes its path and token to the main thread, which calls this.
 */
export function releaseAtExit(path: string, token: string): () => void {
  // One listener for all the locks held (a test process may hold many).
  if (atExit.size === 0) process.on('exit', releaseAll);
  atExit.set(token, path);
  return () => {
    atExit.delete(token);
    if (atExit.size === 0) process.off('exit', releaseAll);
  };
}

function held(path: string, holder: LockHolder): DirectoryLock {
  const cancel = releaseAtExit(path, holder.token);
  let released = false;
  return {
    path,
    holder,
    async release() {
      if (released) return;
      released = true;
      cancel();
      removeIfHeld(path, holder.token);
    },
  };
}
