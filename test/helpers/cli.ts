/**
 * The built CLI as a child process, as a user or a scheduler runs it: `etl(config, args)` with the config's
 * settings as SPARKIFY_* variables, stderr read line by line.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../src/config/config.js';
import { REPO_ROOT } from './warehouses.js';

export const ETL = join(REPO_ROOT, 'bin/etl.js');

/** Newest modification time of the files under `dir`, in ms. */
async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) latest = Math.max(latest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return latest;
}

/** Builds dist/ (`npm run build`) when a source file is newer than it. */
export async function ensureBuilt(): Promise<void> {
  const built = await stat(join(REPO_ROOT, 'dist/cli.js')).then((s) => s.mtimeMs, () => 0);
  if (built >= (await newest(join(REPO_ROOT, 'src')))) return;
  await promisify(execFile)('npm', ['run', 'build'], { cwd: REPO_ROOT });
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI's settings for `config`, as `SPARKIFY_*` variables (nothing else of that name inherited). */
export function cliEnv(config: Config): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SPARKIFY_')));
  return {
    ...env,
    SPARKIFY_S3_SONG_DATA: config.s3.songData,
    SPARKIFY_S3_LOG_DATA: config.s3.logData,
    SPARKIFY_ETL_WORK_DIR: config.etl.workDir,
    SPARKIFY_ETL_WORKERS: '1',
    SPARKIFY_WAREHOUSE_ENGINE: config.warehouse.engine,
    SPARKIFY_WAREHOUSE_PGLITE_DIR: config.warehouse.pgliteDir,
    SPARKIFY_CLUSTER_HOST: config.cluster.host,
    SPARKIFY_CLUSTER_DB_PORT: String(config.cluster.port),
    SPARKIFY_CLUSTER_DB_USER: config.cluster.user,
    SPARKIFY_CLUSTER_DB_NAME: config.cluster.database,
    SPARKIFY_CLUSTER_SSL: 'disable',
    ...(config.cluster.password ? { SPARKIFY_CLUSTER_DB_PASSWORD: config.cluster.password } : {}),
  };
}

/** Runs `etl ...args` (stderr a pipe, so progress comes as lines); `onLine` sees each stderr line as it comes. */
export function etl(config: Config, args: readonly string[], onLine?: (line: string, child: ChildProcess) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ETL, ...args], { cwd: config.etl.workDir, env: cliEnv(config), stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (out.stdout += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      out.stderr += text;
      pending += text;
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
        onLine?.(pending.slice(0, end), child);
        pending = pending.slice(end + 1);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
}


/** Whether a `--log-format json` line says the step `name` begins. */
export const stepStarts = (line: string, name: string): boolean => {
  try {
    const entry = JSON.parse(line) as { event?: string; name?: string };
    return entry.event === 'step-start' && entry.name === name;
  } catch {
    return false;
  }
};
