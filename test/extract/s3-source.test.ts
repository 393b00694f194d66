import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3ServiceException, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { EtlError } from '../../src/errors.js';
import { fetchOrdered } from '../../src/extract/ordered-fetch.js';
import { DEFAULT_REGION, createS3Client, resolveS3Endpoint, s3ClientAuth } from '../../src/extract/s3-client.js';
import { parseS3Url } from '../../src/extract/s3-location.js';
import { S3Source } from '../../src/extract/s3-source.js';
import { compareKeys, isJsonKey, type SourceObject } from '../../src/extract/source.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

const FAST_RETRY = { retries: 4, minDelayMs: 5, maxDelayMs: 50 };

const readAll = async (body: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

const listAll = async (source: S3Source): Promise<SourceObject[]> => {
  const out: SourceObject[] = [];
  for await (const object of source.list()) out.push(object);
  return out;
};

/** The EtlError `promise` rejects with (fails the test if it resolves or rejects with anything else). */
const etlError = async (promise: Promise<unknown>): Promise<EtlError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EtlError);
  const message = (error as EtlError).message;
  expect(message).not.toContain('\n');
  return error as EtlError;
};

/** A local port with nothing listening on it. */
const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

/** An environment with no AWS credentials or region anywhere (the credential chain finds nothing). */
const stubNoAwsConfig = (): void => {
  for (const name of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
  ]) {
    vi.stubEnv(name, undefined);
  }
  vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/sparkify-aws-config');
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/sparkify-aws-credentials');
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
};

describe('parseS3Url', () => {
  it('splits bucket and prefix', () => {
    expect(parseS3Url('s3://udacity-dend/song_data')).toEqual({ bucket: 'udacity-dend', prefix: 'song_data' });
    expect(parseS3Url('s3://udacity-dend/song_data/A/')).toEqual({ bucket: 'udacity-dend', prefix: 'song_data/A/' });
    expect(parseS3Url('s3://udacity-dend')).toEqual({ bucket: 'udacity-dend', prefix: '' });
    expect(parseS3Url('S3://my.bucket-1/')).toEqual({ bucket: 'my.bucket-1', prefix: '' });
  });

  it.each([
    ['udacity-dend/song_data', 'expected s3://bucket/prefix'],
    ['s3:/udacity-dend', 'expected s3://bucket/prefix'],
    ['https://udacity-dend/x', 'expected s3://bucket/prefix'],
    ['s3:///song_data', 'no bucket name'],
    ['s3://Udacity/x', 'lowercase'],
    ['s3://ab/x', '3 to 63'],
    ['s3://-abc/x', 'starts and ends'],
    ['s3://a..b/x', 'adjacent dots'],
    ['s3://192.168.1.1/x', 'IP address'],
    ['s3://my_bucket/x', 'lowercase'],
  ])('rejects %s', (value, reason) => {
    expect(() => parseS3Url(value)).toThrow(EtlError);
    expect(() => parseS3Url(value)).toThrow(reason);
    expect(() => parseS3Url(value)).toThrow(value);
  });
});

describe('createS3Client configuration', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('takes the endpoint from the option, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL', () => {
    const env = { AWS_ENDPOINT_URL: 'http://all:1', AWS_ENDPOINT_URL_S3: 'http://s3:2' };
    expect(resolveS3Endpoint({ endpoint: 'http://opt:3' }, env)).toBe('http://opt:3');
    expect(resolveS3Endpoint({}, env)).toBe('http://s3:2');
    expect(resolveS3Endpoint({}, { AWS_ENDPOINT_URL: 'http://all:1' })).toBe('http://all:1');
    expect(resolveS3Endpoint({}, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
    expect(() => resolveS3Endpoint({ endpoint: 'localhost:9000' })).toThrow(EtlError);
  });

  it('defaults the region to us-west-2 when none is configured, and uses a configured one', async () => {
    stubNoAwsConfig();
    expect(await createS3Client({}).config.region()).toBe(DEFAULT_REGION);
    vi.stubEnv('AWS_REGION', 'eu-central-1');
    expect(await createS3Client({}).config.region()).toBe('eu-central-1');
    expect(await createS3Client({ region: 'ap-south-1' }).config.region()).toBe('ap-south-1');
  });

  it('uses path-style addressing with a custom endpoint only', async () => {
    expect(await createS3Client({ endpoint: 'http://127.0.0.1:1' }).config.forcePathStyle).toBe(true);
    expect(await createS3Client({ endpoint: 'http://127.0.0.1:1', forcePathStyle: false }).config.forcePathStyle).toBe(false);
    stubNoAwsConfig();
    expect(await createS3Client({}).config.forcePathStyle).toBe(false);
  });

  it('rejects half-given credentials', () => {
    expect(() => createS3Client({ accessKeyId: 'AKIA' })).toThrow(/secret access key/);
  });
});

describe('S3Source against s3rver', () => {
  let server: S3TestServer;
  const songKeys: string[] = [];
  const gzBody = gzipSync(Buffer.from('{"song_id":"SOGZ","title":"zipped"}\n'));
  const bigBody = randomBytes(300_000);
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    server = await startS3Server({ buckets: ['sparkify', 'faulty'] });
    const objects: Array<[string, Buffer]> = [];
    // 1,050 song files over 3 levels, so listing needs two pages.
    for (let i = 0; i < 1050; i++) {
      const key = `song_data/${'ABC'[i % 3]}/${'XYZ'[(i >> 2) % 3]}/TR${String(i).padStart(5, '0')}.json`;
      const body = Buffer.from(JSON.stringify({ song_id: `SO${i}`, title: `t${i}` }));
      objects.push([key, body]);
      songKeys.push(key);
    }
    // Where UTF-8 byte order differs from UTF-16 code-unit order (U+FF01 < U+1F600 in UTF-8 only).
    for (const name of ['\uFF01', '\u{1F600}', 'é', 'z']) {
      const key = `song_data/U/${name}.json`;
      objects.push([key, Buffer.from('{}')]);
      songKeys.push(key);
    }
    // Not listed: outside the prefix, or not JSON.
    objects.push(['song_data_old/A/TRX.json', Buffer.from('{}')]);
    objects.push(['log_data/2018/11/2018-11-01-events.json', Buffer.from('{}')]);
    objects.push(['song_data/README.txt', Buffer.from('read me')]);
    objects.push(['song_data/A/TRX.json.bak', Buffer.from('{}')]);
    objects.push(['song_data/A/TRX.jsonl', Buffer.from('{}')]);
    objects.push(['song_data/Z/zipped.json.gz', gzBody]);
    songKeys.push('song_data/Z/zipped.json.gz');
    for (const [key, body] of objects) bodies.set(key, body);
    await server.putAll('sparkify', objects);
    // Stored with Content-Encoding: gzip: still read back as the raw gzip bytes.
    await server.put('sparkify', 'song_data/Z/encoded.json.gz', gzBody, { contentEncoding: 'gzip' });
    songKeys.push('song_data/Z/encoded.json.gz');
    songKeys.sort(compareKeys);
    await server.put('faulty', 'big.json', bigBody);
    for (let i = 0; i < 5; i++) await server.put('faulty', `small/${i}.json`, `{"n":${i}}`);
  });

  afterAll(async () => {
    await server?.stop();
  });

  afterEach(() => {
    server.faults.clear();
    vi.unstubAllEnvs();
  });

  it('lists more than 1,000 objects under the prefix completely, in key order, JSON only', async () => {
    const source = new S3Source('s3://sparkify/song_data/', server.proxyOptions, FAST_RETRY);
    const listed = await listAll(source);
    expect(listed.map((o) => o.key)).toEqual(songKeys);
    expect(listed.filter((o) => o.key.startsWith('song_data/U/')).map((o) => o.key)).toEqual(
      ['z', 'é', '\uFF01', '\u{1F600}'].map((name) => `song_data/U/${name}.json`),
    );
    const first = listed[0] as SourceObject;
    expect(first.size).toBe(bodies.get(first.key)?.length);
    expect(first.version).toMatch(/^"[0-9a-f]{32}"$/);
    const pages = server.faults.requests.filter((r) => r.bucket === 'sparkify' && r.key === '' && r.method === 'GET');
    expect(pages.length).toBeGreaterThanOrEqual(2);
  });

  it('matches the prefix as a plain string prefix, like Redshift COPY', async () => {
    const keys = (await listAll(new S3Source('s3://sparkify/song_data', server.options))).map((o) => o.key);
    expect(keys).toContain('song_data_old/A/TRX.json');
    expect(keys).toHaveLength(songKeys.length + 1);
    const whole = (await listAll(new S3Source('s3://sparkify', server.options))).map((o) => o.key);
    expect(whole).toContain('log_data/2018/11/2018-11-01-events.json');
  });

  it('returns gzipped objects as their raw gzip bytes', async () => {
    const source = new S3Source('s3://sparkify/song_data/Z/', server.options);
    const listed = await listAll(source);
    expect(listed.map((o) => o.key)).toEqual(['song_data/Z/encoded.json.gz', 'song_data/Z/zipped.json.gz']);
    for (const object of listed) {
      const bytes = await readAll(await source.open(object));
      expect(bytes.equals(gzBody)).toBe(true);
      expect(gunzipSync(bytes).toString()).toContain('zipped');
    }
  });

  it('serves a local folder uploaded with putDir, plain and gzipped', async () => {
    const dir = fileURLToPath(new URL('../../fixtures/samples', import.meta.url));
    const plain = await server.putDir('sparkify', 'samples/plain', dir);
    const zipped = await server.putDir('sparkify', 'samples/gz/', dir, { gzip: true });
    expect(plain.length).toBeGreaterThan(0);
    expect(zipped).toEqual(plain.map((key) => `${key.replace('samples/plain/', 'samples/gz/')}.gz`));
    const source = new S3Source('s3://sparkify/samples/', server.options);
    const listed = await listAll(source);
    expect(listed.map((o) => o.key)).toEqual([...zipped, ...plain].filter(isJsonKey));
    for (const object of listed) {
      const local = await readFile(join(dir, object.key.replace(/^samples\/(plain|gz)\//, '').replace(/\.gz$/, '')));
      const bytes = await readAll(await source.open(object));
      expect(object.key.endsWith('.gz') ? gunzipSync(bytes).equals(local) : bytes.equals(local)).toBe(true);
    }
  });

  it('reads song files through fetchOrdered in key order', async () => {
    const source = new S3Source('s3://sparkify/song_data/A/', server.options);
    const seen: string[] = [];
    for await (const { object, body } of fetchOrdered(source, source.list(), 32)) {
      expect((await readAll(body)).equals(bodies.get(object.key) as Buffer)).toBe(true);
      seen.push(object.key);
    }
    expect(seen).toEqual(songKeys.filter((k) => k.startsWith('song_data/A/')));
  });

  describe('transient faults are retried and deliver exactly the object bytes', () => {
    const big = { key: 'big.json', size: 300_000, version: '' };

    it.each([
      ['503 SlowDown', [{ kind: 'status' as const }]],
      ['500 InternalError', [{ kind: 'status' as const, status: 500 }]],
      ['connection reset', [{ kind: 'reset' as const }]],
      ['503 twice', [{ kind: 'status' as const }, { kind: 'status' as const }]],
    ])('%s on the request', async (_name, faults) => {
      for (const fault of faults) server.faults.inject('faulty', 'big.json', fault);
      const source = new S3Source('s3://faulty/', server.proxyOptions, FAST_RETRY);
      const bytes = await readAll(await source.open(big));
      expect(bytes.equals(bigBody)).toBe(true);
      expect(server.faults.pending()).toBe(0);
      expect(server.faults.requests.filter((r) => r.key === 'big.json')).toHaveLength(faults.length + 1);
    });

    it('503 and reset with the SDK retries on (the production client settings)', async () => {
      server.faults.inject('faulty', 'big.json', { kind: 'status', status: 503, code: 'ServiceUnavailable' });
      server.faults.inject('faulty', 'big.json', { kind: 'reset' });
      const source = new S3Source('s3://faulty/', { ...server.proxyOptions, maxAttempts: undefined }, FAST_RETRY);
      const bytes = await readAll(await source.open(big));
      expect(bytes.equals(bigBody)).toBe(true);
      expect(server.faults.pending()).toBe(0);
    });

    it('body cut mid-stream: resumes with Range and If-Match', async () => {
      server.faults.inject('faulty', 'big.json', { kind: 'cut', afterBytes: 100_000 });
      const source = new S3Source('s3://faulty/', server.proxyOptions, FAST_RETRY);
      const bytes = await readAll(await source.open(big));
      expect(bytes.length).toBe(bigBody.length);
      expect(bytes.equals(bigBody)).toBe(true);
      const gets = server.faults.requests.filter((r) => r.key === 'big.json');
      expect(gets).toHaveLength(2);
      const resumed = gets[1];
      const delivered = Number(/^bytes=(\d+)-$/.exec(resumed?.range ?? '')?.[1]);
      expect(delivered).toBeGreaterThan(0);
      expect(delivered).toBeLessThanOrEqual(100_000);
      expect(resumed?.ifMatch).toMatch(/^"[0-9a-f]{32}"$/);
    });

    it('body cut several times, and a failed resume request', async () => {
      server.faults.inject('faulty', 'big.json', { kind: 'cut', afterBytes: 1 });
      server.faults.inject('faulty', 'big.json', { kind: 'cut', afterBytes: 50_000 });
      server.faults.inject('faulty', 'big.json', { kind: 'reset' });
      server.faults.inject('faulty', 'big.json', { kind: 'cut', afterBytes: 70_000 });
      server.faults.inject('faulty', 'big.json', { kind: 'status' });
      const source = new S3Source('s3://faulty/', server.proxyOptions, FAST_RETRY);
      const bytes = await readAll(await source.open(big));
      expect(bytes.equals(bigBody)).toBe(true);
      expect(server.faults.pending()).toBe(0);
    });

    it('faults on listing pages and small objects read through fetchOrdered', async () => {
      server.faults.inject('faulty', '', { kind: 'status' });
      server.faults.inject('faulty', '', { kind: 'reset' });
      server.faults.inject('faulty', 'small/1.json', { kind: 'cut', afterBytes: 3 });
      server.faults.inject('faulty', 'small/3.json', { kind: 'reset' });
      const source = new S3Source('s3://faulty/small/', server.proxyOptions, FAST_RETRY);
      const texts: string[] = [];
      for await (const { body } of fetchOrdered(source, source.list(), 4)) texts.push((await readAll(body)).toString());
      expect(texts).toEqual([0, 1, 2, 3, 4].map((n) => `{"n":${n}}`));
      expect(server.faults.pending()).toBe(0);
    });

    it('gives up with an EtlError when a fault persists', async () => {
      for (let i = 0; i < 30; i++) server.faults.inject('faulty', 'big.json', { kind: 'status' });
      const source = new S3Source('s3://faulty/', server.proxyOptions, { retries: 2, minDelayMs: 1, maxDelayMs: 5 });
      const error = await etlError(source.open(big));
      expect(error.message).toBe(
        'S3 kept failing reading s3://faulty/big.json after 3 attempts: Injected fault (SlowDown); try again later or lower the concurrency',
      );
      expect(server.faults.pending()).toBe(27);
    });
  });

  describe('permanent failures end with a one-line EtlError', () => {
    it('missing bucket', async () => {
      const source = new S3Source('s3://no-such-bucket/song_data', server.options, FAST_RETRY);
      const error = await etlError(listAll(source));
      expect(error.message).toContain('"no-such-bucket" does not exist');
      expect(error.message).toContain(server.endpoint);
    });

    it('missing key', async () => {
      const source = new S3Source('s3://sparkify/song_data', server.options, FAST_RETRY);
      const error = await etlError(source.open({ key: 'song_data/gone.json', size: 1, version: '' }));
      expect(error.message).toContain('s3://sparkify/song_data/gone.json does not exist');
    });

    it('unknown access key (403)', async () => {
      const source = new S3Source('s3://sparkify/song_data', { ...server.options, accessKeyId: 'WRONG', secretAccessKey: 'x' });
      const error = await etlError(listAll(source));
      expect(error.message).toMatch(/^Access denied listing s3:\/\/sparkify\/song_data \(InvalidAccessKeyId\): check the AWS access key id$/);
    });

    it('unreachable endpoint', async () => {
      const endpoint = `http://127.0.0.1:${await closedPort()}`;
      const source = new S3Source('s3://sparkify/song_data', { ...server.options, endpoint }, FAST_RETRY);
      const listError = await etlError(listAll(source));
      expect(listError.message).toContain(`Cannot reach the S3 endpoint ${endpoint} (ECONNREFUSED)`);
      const openError = await etlError(source.open({ key: 'song_data/x.json', size: 1, version: '' }));
      expect(openError.message).toContain(endpoint);
      expect(openError.message).toContain('s3://sparkify/song_data/x.json');
    });
  });

  describe('unsigned requests', () => {
    it('anonymous: true sends no signature and works against s3rver', async () => {
      const source = new S3Source('s3://faulty/small/', { endpoint: server.proxyEndpoint, anonymous: true }, FAST_RETRY);
      const listed = await listAll(source);
      expect(listed).toHaveLength(5);
      expect((await readAll(await source.open(listed[0] as SourceObject))).toString()).toBe('{"n":0}');
      expect(s3ClientAuth(source.client)).toBe('anonymous');
      expect(server.faults.requests.length).toBeGreaterThan(0);
      expect(server.faults.requests.every((r) => !r.signed)).toBe(true);
    });

    it('falls back to unsigned requests when the credential chain finds nothing', async () => {
      stubNoAwsConfig();
      vi.stubEnv('AWS_ENDPOINT_URL_S3', server.proxyEndpoint);
      const source = new S3Source('s3://faulty/small/', {}, FAST_RETRY);
      expect(s3ClientAuth(source.client)).toBe('chain');
      const listed = await listAll(source);
      expect(listed).toHaveLength(5);
      expect(s3ClientAuth(source.client)).toBe('no-credentials');
      expect(server.faults.requests.every((r) => !r.signed)).toBe(true);
    });

    it('signs with credentials from the chain when there are some', async () => {
      stubNoAwsConfig();
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
      const source = new S3Source('s3://faulty/small/', { endpoint: server.proxyEndpoint }, FAST_RETRY);
      expect(await listAll(source)).toHaveLength(5);
      expect(s3ClientAuth(source.client)).toBe('chain');
      expect(server.faults.requests.every((r) => r.signed)).toBe(true);
    });
  });
});

describe('S3Source with a stubbed client', () => {
  const page = (keys: string[], next?: string): ListObjectsV2CommandOutput => ({
    $metadata: {},
    Contents: keys.map((Key) => ({ Key, Size: 2, ETag: '"e"' })),
    IsTruncated: next !== undefined,
    ...(next !== undefined ? { NextContinuationToken: next } : {}),
  });

  const stubbed = (responses: Array<() => unknown>): S3Source => {
    const client = createS3Client({ region: 'us-east-1', anonymous: true });
    let call = 0;
    vi.spyOn(client, 'send').mockImplementation((async () => {
      const respond = responses[Math.min(call++, responses.length - 1)] as () => unknown;
      return respond();
    }) as never);
    return new S3Source('s3://udacity-dend/song_data', client, FAST_RETRY);
  };

  const serviceError = (name: string, status: number, headers: Record<string, string> = {}): S3ServiceException => {
    const error = new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: `${name} happened` });
    Object.defineProperty(error, '$response', { value: { statusCode: status, headers } });
    return error;
  };

  it('rejects a listing whose keys go backwards, at the page that breaks the order', async () => {
    const source = stubbed([() => page(['song_data/b.json', 'song_data/c.json'], 't1'), () => page(['song_data/a.json'])]);
    const seen: string[] = [];
    const error = await etlError(
      (async () => {
        for await (const object of source.list()) seen.push(object.key);
      })(),
    );
    expect(seen).toEqual(['song_data/b.json', 'song_data/c.json']);
    expect(error.message).toContain('s3://udacity-dend/song_data/a.json after s3://udacity-dend/song_data/c.json');
  });

  it('rejects a listing that repeats its continuation token instead of looping', async () => {
    const source = stubbed([() => page(['song_data/a.json'], 't1'), () => page([], 't1')]);
    const error = await etlError(listAll(source));
    expect(error.message).toContain('did not advance');
  });

  it('names the region to use on PermanentRedirect', async () => {
    const source = stubbed([
      () => {
        throw serviceError('PermanentRedirect', 301, { 'x-amz-bucket-region': 'us-west-2' });
      },
    ]);
    const error = await etlError(listAll(source));
    expect(error.message).toBe(
      'S3 bucket "udacity-dend" is in region us-west-2, not us-east-1 (listing s3://udacity-dend/song_data): set the S3 region to us-west-2 (e.g. AWS_REGION=us-west-2)',
    );
  });

  it('explains AccessDenied on requests made anonymous on purpose', async () => {
    const source = stubbed([
      () => {
        throw serviceError('AccessDenied', 403);
      },
    ]);
    const error = await etlError(source.open({ key: 'song_data/a.json', size: 2, version: '"e"' }));
    expect(error.message).toMatch(/^Access denied reading s3:\/\/udacity-dend\/song_data\/a\.json \(AccessDenied\): requests were unsigned as anonymous access was asked for/);
  });

  it('retries throttling, then succeeds', async () => {
    let calls = 0;
    const source = stubbed([
      () => {
        calls += 1;
        throw serviceError('SlowDown', 503);
      },
      () => {
        calls += 1;
        return page(['song_data/a.json']);
      },
    ]);
    expect((await listAll(source)).map((o) => o.key)).toEqual(['song_data/a.json']);
    expect(calls).toBe(2);
  });
});
