/**
 * Runs one benchmark case as a child process and measures its wall time and peak RSS.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`, the kernel's ru_maxrss of the child as reported by
 * wait4, threads included). Where GNU time is missing, the child's VmHWM (its high-water RSS) is polled from
 * /proc every 20 ms instead; the result says which method was used.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  /** Wall time from spawn to exit, seconds. */
  readonly wallSeconds: number;
  /** Peak resident set size, KiB. */
  readonly peakRssKb: number;
  readonly rssMethod: 'gnu-time' | 'proc-vmhwm';
  readonly stdout: string;
  readonly stderr: string;
}

export interface MeasureOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const hasGnuTime = (): boolean => {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

async function vmHwmKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

const tail = (text: string, lines = 15): string => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs `command args` to completion; rejects (with the tail of its stderr) when it exits non-zero. */
export async function measure(command: string, args: readonly string[], options: MeasureOptions = {}): Promise<Measured> {
  const gnuTime = hasGnuTime();
  const scratch = gnuTime ? await mkdtemp(join(tmpdir(), 'sparkify-bench-time-')) : undefined;
  const timeFile = scratch ? join(scratch, 'time.txt') : '';
  const [file, argv] = gnuTime ? [GNU_TIME, ['-f', '%M', '-o', timeFile, command, ...args]] : [command, [...args]];
  try {
    const started = performance.now();
    const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    let polledKb = 0;
    const poll = gnuTime
      ? undefined
      : setInterval(() => {
          if (child.pid !== undefined) void vmHwmKb(child.pid).then((kb) => (polledKb = Math.max(polledKb, kb)));
        }, 20);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode, signal) => resolve(signal ? -1 : exitCode));
    });
    const wallSeconds = (performance.now() - started) / 1000;
    if (poll) clearInterval(poll);
    const out = Buffer.concat(stdout).toString('utf8');
    const err = Buffer.concat(stderr).toString('utf8');
    if (code !== 0) {
      throw new Error(`${[command, ...args].join(' ')} exited with ${code}:\n${tail(err || out)}`);
    }
    let peakRssKb = polledKb;
    if (gnuTime) {
      // GNU time may write "Command exited with non-zero status" first; the format's line is the last one.
      const last = (await readFile(timeFile, 'utf8')).trim().split('\n').at(-1) ?? '';
      peakRssKb = Number(last);
      if (!Number.isFinite(peakRssKb)) throw new Error(`Cannot read the peak RSS from ${GNU_TIME}'s output: ${last}`);
    }
    return { wallSeconds, peakRssKb, rssMethod: gnuTime ? 'gnu-time' : 'proc-vmhwm', stdout: out, stderr: err };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** The JSON object a floor script prints as its last stdout line. */
export function lastJsonLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`Expected a JSON result line, got: ${tail(stdout, 5)}`);
  }
}
