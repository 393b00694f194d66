import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, dropPgDatabase, PG_SERVER, runPgTests } from '../helpers/warehouses.js';
import type { Config } from '../../src/config/config.js';
import { EtlError } from '../../src/errors.js';
import { ensureTables, stageTable } from '../../src/load/load-steps.js';
import { PostgresWarehouse } from '../../src/load/postgres/postgres-warehouse.js';
import { readS3Manifest, readS3Parts, s3ManifestUrl, wholeRows, writeS3Parts } from '../../src/load/s3-staging.js';
import { LocalStagingArea } from '../../src/pipeline/staging-area.js';
import { encodeBatch } from '../../src/transform/record-encoder.js';
import type { RawRecord } from '../../src/transform/record-splitter.js';
import { STAGING } from '../../src/transform/schema.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

const BUCKET = 'sparkify-staging';

const readAll = async (body: Readable | AsyncIterable<Buffer>): Promise<Buffer> => {
  const pieces: Buffer[] = [];
  for await (const piece of body) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
};

/** Text values that CSV and COPY must carry unchanged, NULL and '' among them. */
const AWKWARD = [null, '', 'Plain', 'Comma, Inc.', 'Say "hi"', 'two\nlines', 'cr\r\nlf', 'back\\slash', '\\N', '\\.', ' edge ', 'ünïcødé 🎵', '""', ','];

/** Valid events with awkward values, as the extract path encodes them: the real encoder, real CSV. */
const eventCsv = (objects: number, perObject: number): string[] => {
  const batches: string[] = [];
  for (let o = 0; o < objects; o++) {
    const records: RawRecord[] = [];
    for (let i = 0; i < perObject; i++) {
      const n = o * perObject + i;
      const pick = (k: number) => AWKWARD[(n + k) % AWKWARD.length];
      const event = {
        artist: pick(0),
        auth: 'Logged In',
        firstName: pick(3),
        gender: n % 2 ? 'F' : 'M',
        itemInSession: i,
        lastName: pick(5),
        length: n % 3 ? 200.25 + n : null,
        level: n % 4 ? 'free' : 'paid',
        location: pick(7),
        method: 'PUT',
        page: n % 5 ? 'NextSong' : 'Home',
        registration: 1540919166796.0 + n,
        sessionId: o,
        song: pick(9),
        status: 200,
        ts: 1541105830796 + n,
        userAgent: pick(11),
        userId: n % 6 ? String(n % 97) : '',
      };
      records.push({ line: i + 1, bytes: Buffer.from(JSON.stringify(event)), unterminated: false });
    }
    const encoded = encodeBatch(STAGING.events, `log_data/2018/11/2018-11-${String(o + 1).padStart(2, '0')}-events.json`, records);
    expect(encoded.rejections).toEqual([]);
    batches.push(encoded.csv);
  }
  return batches;
};

async function* chunksOf(batches: readonly string[]): AsyncGenerator<string> {
  yield* batches;
}

const PG = await runPgTests();

describe('staging parts on S3', () => {
  let s3: S3TestServer;

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET], proxy: false });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  const getObject = async (key: string): Promise<Buffer> => {
    const response = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return readAll(response.Body as Readable);
  };

  it('writes gzip parts of about partBytes and a manifest listing exactly them', async () => {
    const batches = eventCsv(40, 25);
    const csv = batches.join('');
    const partBytes = 16 * 1024;
    const manifest = await writeS3Parts(`s3://${BUCKET}/run-1`, STAGING.events, chunksOf(batches), { client: s3.client, partBytes });

    expect(manifest.entries.length).toBeGreaterThan(3);
    const parts: Buffer[] = [];
    for (const [i, entry] of manifest.entries.entries()) {
      const key = `run-1/staging_events/part-${String(i).padStart(5, '0')}.csv.gz`;
      expect(entry.url).toBe(`s3://${BUCKET}/${key}`);
      expect(entry.mandatory).toBe(true);
      const stored = await getObject(key);
      expect(stored.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      expect(entry.meta.content_length).toBe(stored.length);
      const part = gunzipSync(stored);
      // Whole rows: a part ends at a row end, and every part but the last has reached partBytes.
      expect(part.at(-1)).toBe(0x0a);
      if (i < manifest.entries.length - 1) expect(part.length).toBeGreaterThanOrEqual(partBytes);
      parts.push(part);
    }
    expect(Buffer.concat(parts).toString('utf8')).toBe(csv);

    // The manifest object is the one returned, in Redshift's format, next to the table's folder.
    const manifestUrl = s3ManifestUrl(`s3://${BUCKET}/run-1`, STAGING.events);
    expect(manifestUrl).toBe(`s3://${BUCKET}/run-1/staging_events.manifest`);
    expect(JSON.parse((await getObject('run-1/staging_events.manifest')).toString('utf8'))).toEqual(manifest);
    expect(await readS3Manifest(manifestUrl, s3.client)).toEqual(manifest);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'run-1/' }));
    expect(listed.Contents?.map((c) => c.Key).sort()).toEqual(
      ['run-1/staging_events.manifest', ...manifest.entries.map((e) => e.url.slice(`s3://${BUCKET}/`.length))].sort(),
    );
  });

  it('reads the parts back gunzipped, in whole rows, byte for byte', async () => {
    const batches = eventCsv(12, 30);
    await writeS3Parts(`s3://${BUCKET}/run-2/`, STAGING.events, chunksOf(batches), { client: s3.client, partBytes: 8 * 1024 });
    const chunks: Buffer[] = [];
    for await (const chunk of readS3Parts(`s3://${BUCKET}/run-2/staging_events.manifest`, s3.client)) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(batches.join(''));
    for (const chunk of chunks) expect(chunk.at(-1)).toBe(0x0a);
  });

  it('streams a part larger than one upload chunk as a multipart upload', async () => {
    // Random text hardly compresses: 12 MiB stays above the 8 MiB multipart chunk once gzipped.
    const rows = Array.from({ length: 96 }, () => `${randomBytes(96 * 1024).toString('base64')}\n`);
    const manifest = await writeS3Parts(`s3://${BUCKET}/big`, STAGING.songs, chunksOf(rows), { client: s3.client });
    expect(manifest.entries).toHaveLength(1);
    expect(manifest.entries[0]!.meta.content_length).toBeGreaterThan(8 * 1024 * 1024);
    const back = await readAll(readS3Parts(`s3://${BUCKET}/big/staging_songs.manifest`, s3.client));
    expect(back.equals(Buffer.from(rows.join('')))).toBe(true);
  });

  it('writes an empty manifest when there are no rows', async () => {
    const manifest = await writeS3Parts(`s3://${BUCKET}`, STAGING.songs, chunksOf([]), { client: s3.client, partBytes: 1024 });
    expect(manifest).toEqual({ entries: [] });
    expect(JSON.parse((await getObject('staging_songs.manifest')).toString('utf8'))).toEqual({ entries: [] });
    expect(await readAll(readS3Parts(`s3://${BUCKET}/staging_songs.manifest`, s3.client))).toHaveLength(0);
  });

  it('fails with the part named, and writes no manifest, when the bucket is missing', async () => {
    const error = await writeS3Parts('s3://no-such-bucket/run', STAGING.events, chunksOf(eventCsv(1, 5)), { client: s3.client }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EtlError);
    expect((error as Error).message).toMatch(/^Writing staging part s3:\/\/no-such-bucket\/run\/staging_events\/part-00000\.csv\.gz failed: /);
    expect((error as Error).message).not.toContain('\n');
  });

  it('says to run extract when the manifest is missing', async () => {
    const read = readS3Parts(`s3://${BUCKET}/nothing-here/staging_events.manifest`, s3.client);
    await expect(readAll(read)).rejects.toThrow(/^Cannot read staging manifest s3:\/\/sparkify-staging\/nothing-here\/staging_events\.manifest: run `etl extract` first/);
  });

  // The test server of PGHOST/PGPORT (default 127.0.0.1:5432); skipped without one, outside CI.
  describe.runIf(PG)('loaded into PostgreSQL in place of a Redshift COPY', () => {
    let database: string;
    let warehouse: PostgresWarehouse;
    let workDir: string;

    beforeAll(async () => {
      database = await createPgDatabase('sparkify_s3staging');
      const cluster: Config['cluster'] = { host: PG_SERVER.host, port: PG_SERVER.port, database, user: PG_SERVER.user, password: PG_SERVER.password ?? '', ssl: 'disable' };
      warehouse = await PostgresWarehouse.open(cluster);
      await ensureTables(warehouse);
      workDir = await mkdtemp(join(tmpdir(), 'sparkify-s3staging-'));
    });
    afterAll(async () => {
      await warehouse?.close();
      if (database) await dropPgDatabase(database);
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    const stagedRows = async () => (await warehouse.query('SELECT * FROM staging_events ORDER BY source_key, source_line')).rows;

    it('gives the same staging rows as the local staging area', async () => {
      const batches = eventCsv(30, 40);
      const partBytes = 32 * 1024;

      const area = new LocalStagingArea(workDir, partBytes);
      const local = await area.write(STAGING.events, chunksOf(batches));
      expect(await stageTable(warehouse, STAGING.events, () => warehouse.loadArea(STAGING.events, area))).toBe(1200);
      const fromLocal = await stagedRows();

      const remote = await writeS3Parts(`s3://${BUCKET}/pg`, STAGING.events, chunksOf(batches), { client: s3.client, partBytes });
      expect(remote.entries).toHaveLength(local.entries.length);
      expect(await stageTable(warehouse, STAGING.events, () => warehouse.loadStream(STAGING.events, readS3Parts(`s3://${BUCKET}/pg/staging_events.manifest`, s3.client), () => area))).toBe(1200);
      const fromS3 = await stagedRows();

      expect(fromS3).toHaveLength(1200);
      expect(fromS3).toEqual(fromLocal);
      // NULL and '' stay apart, and the awkward texts arrive intact.
      const artists = new Set(fromS3.map((r) => r.artist));
      for (const value of AWKWARD) expect(artists.has(value), JSON.stringify(value)).toBe(true);
      expect(fromS3.filter((r) => r.user_id === '').length).toBe(200);
      expect(fromS3.filter((r) => r.length === null).length).toBe(400);
    });
  });
});

describe('wholeRows', () => {
  it('cuts only at line ends outside quotes, whatever the pieces', async () => {
    const csv = 'a,"x\ny",1\n"q""\n",b,2\nlast,"",3\n';
    for (let size = 1; size <= csv.length; size++) {
      const pieces = Array.from({ length: Math.ceil(csv.length / size) }, (_, i) => Buffer.from(csv.slice(i * size, (i + 1) * size)));
      const rows: string[] = [];
      for await (const chunk of wholeRows(chunksOfBuffers(pieces))) rows.push(chunk.toString());
      expect(rows.join('')).toBe(csv);
      // Every cut falls on a row boundary.
      let at = 0;
      for (const chunk of rows) {
        at += chunk.length;
        expect([10, 21, 31]).toContain(at);
      }
    }
  });
});

async function* chunksOfBuffers(pieces: readonly Buffer[]): AsyncGenerator<Buffer> {
  yield* pieces;
}
