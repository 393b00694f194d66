import { readFileSync } from 'node:fs';

/** Whether process `pid` exists on this host: signal 0 tests without signalling (EPERM: it exists, not ours). */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * When process `pid` started, in clock ticks after boot (/proc/<pid>/stat field 22): with the pid, it names
 * one process, so a pid the kernel has given to another program since is not taken for the one recorded.
 * Undefined where there is no /proc (not Linux) or the process is gone.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name in parentheses, may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

/** This boot of the machine (Linux): a process recorded in another boot has ended, whatever its pid. */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** One process of this host, as recorded by itself: the pid, and where the host tells them, its start and boot. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly started?: string;
  readonly boot?: string;
}

export function thisProcess(): ProcessIdentity {
  const started = processStartTime(process.pid);
  const boot = bootId();
  return { pid: process.pid, ...(started ? { started } : {}), ...(boot ? { boot } : {}) };
}

/**
 * Whether the process `id` recorded still runs on this host: its pid exists and, where both are known, it
 * started when it said and in this boot. What cannot be told (no /proc) counts as running.
 */
export function identityAlive(id: ProcessIdentity): boolean {
  const boot = bootId();
  if (id.boot && boot && id.boot !== boot) return false;
  if (!processAlive(id.pid)) return false;
  const started = id.started ? processStartTime(id.pid) : undefined;
  return !(started && started !== id.started);
}
