/**
 * Many small objects (issue 12), not timed: s3rver delays every request inside its own process, so the fetch
 * can only get through by having many requests in progress at once. The server counts them; every object must
 * still reach the staging CSV, in key order (contract rule 3, "first object key wins", depends on it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Source } from '../../src/extract/s3-source.js';
import { compareKeys } from '../../src/extract/source.js';
import { generatedSong, songFileText } from '../../src/generate/generator.js';
import { extractTable } from '../../src/pipeline/extract-table.js';
import { RejectsFile } from '../../src/pipeline/rejects.js';
import { emptySourceReport } from '../../src/pipeline/report.js';
import { STAGING } from '../../src/transform/schema.js';
import { EncodePool } from '../../src/transform/worker-pool.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { removeTempDirs, tempDir } from '../helpers/warehouses.js';

const BUCKET = 'many-small';
const OBJECTS = 2000;
const LATENCY_MS = 40;

describe('many small objects from an S3 with latency', () => {
  let server: S3TestServer;
  let pool: EncodePool;
  const keys: string[] = [];

  beforeAll(async () => {
    server = await startS3Server({ buckets: [BUCKET], latencyMs: LATENCY_MS });
    const objects: [string, string][] = [];
    for (let i = 0; i < OBJECTS; i++) {
      const song = generatedSong(3, i);
      objects.push([song.path, songFileText(song.record)]);
      keys.push(song.path);
    }
    keys.sort(compareKeys);
    await server.putAll(BUCKET, objects);
    pool = new EncodePool(1);
  });
  afterAll(async () => {
    await pool?.close();
    await server?.stop();
    await removeTempDirs();
  });

  it('has the concurrency in progress at the server, and loads every object in key order', async () => {
    const concurrency = 48;
    const source = new S3Source(`s3://${BUCKET}/song_data/`, server.proxyOptions);
    const report = emptySourceReport(source.url);
    const rejects = new RejectsFile(`${await tempDir('sparkify-small-objects-')}/rejects.jsonl`);
    server.faults.clear();
    await server.requestStats({ reset: true });
    let csv = '';
    for await (const chunk of extractTable({ table: STAGING.songs, source, concurrency, pool, report, rejects })) csv += chunk;
    await rejects.close();
    const stats = await server.requestStats();

    expect(stats.gets).toBe(OBJECTS);
    expect(stats.maxConcurrent).toBeGreaterThanOrEqual(concurrency);
    // Besides the GETs, at most the next listing page (asked for ahead) and a response still finishing.
    expect(stats.maxConcurrent).toBeLessThanOrEqual(concurrency + 2);

    const rows = csv.split('\n').filter((line) => line !== '');
    expect(rows).toHaveLength(OBJECTS);
    expect(rows.map((row) => row.split(',').at(-2))).toEqual(keys);
    expect(report.objectReports.map((o) => o.key)).toEqual(keys);
    expect(report.rejected).toBe(0);

    // The second listing page was asked for while the first page's objects were still being fetched.
    const requests = server.faults.requests;
    const secondPage = requests.findIndex((r) => r.key === '' && r.url.includes('continuation-token='));
    const fetched = requests.findIndex((r) => r.key === keys[500]);
    expect(secondPage).toBeGreaterThan(0);
    expect(secondPage).toBeLessThan(fetched);
  });
});
