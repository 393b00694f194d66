/**
 * The built CLI reading from a real S3 server (s3rver on loopback), off a terminal as a scheduler runs it:
 * timestamped progress lines, no AWS SDK notice about Node versions, and the run's log in its folder.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ETL } from '../helpers/cli.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { REPO_ROOT, removeTempDirs, tempDir } from '../helpers/warehouses.js';

let server: S3TestServer;
let work: string;

beforeAll(async () => {
  await ensureBuilt();
  server = await startS3Server({ buckets: ['sparkify-input'], proxy: false });
  await server.putDir('sparkify-input', 'song_data', join(REPO_ROOT, 'data/song_data'));
  await server.putDir('sparkify-input', 'log_data', join(REPO_ROOT, 'data/log_data'));
  work = await tempDir('sparkify-s3cli-');
});
afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SPARKIFY_') && name !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'));
    const child = spawn(process.execPath, [ETL, ...args], {
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...env,
        SPARKIFY_S3_SONG_DATA: 's3://sparkify-input/song_data',
        SPARKIFY_S3_LOG_DATA: 's3://sparkify-input/log_data',
        SPARKIFY_S3_ENDPOINT_URL: server.endpoint,
        SPARKIFY_AWS_KEY: S3RVER_CREDENTIALS.accessKeyId,
        SPARKIFY_AWS_SECRET: S3RVER_CREDENTIALS.secretAccessKey,
        SPARKIFY_ETL_WORK_DIR: join(work, '.sparkify'),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('etl off a terminal, from S3', () => {
  it('prints timestamped lines, no AWS SDK notice, and keeps the same lines in the run folder', async () => {
    const outcome = await run(['run', '--dry-run']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stderr).not.toMatch(/AWS SDK|NodeVersionSupportWarning|Warning/);
    const lines = outcome.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(outcome.stderr).toMatch(/song_data: 200 of 200 objects, 200 records, 0 rejected \(\d+\.\d s\)/);
    const runs = await readdir(join(work, '.sparkify/runs'));
    const folder = runs.find((name) => /^\d{8}T/.test(name))!;
    const log = await readFile(join(work, '.sparkify/runs', folder, 'run.log'), 'utf8');
    expect(log).toContain('song_data: 200 of 200 objects, 200 records, 0 rejected');
    expect(log).toContain('log_data: 30 of 30 objects, 3,000 records, 0 rejected');
  });
});
