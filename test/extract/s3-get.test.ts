/**
 * Plain GETs of small objects (src/extract/s3-get.ts) against s3rver, through the fault-injecting proxy: they go
 * where the SDK sent the listing, carry a SigV4 signature that an independent implementation of the AWS
 * algorithm accepts (s3rver does not check V4 signatures, so the test does), and fail like the SDK's requests.
 */
import { createHash, createHmac } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtlError } from '../../src/errors.js';
import { S3Source } from '../../src/extract/s3-source.js';
import type { SourceObject } from '../../src/extract/source.js';
import { startS3Server, type ProxiedRequest, type S3TestServer } from '../helpers/s3-server.js';

const FAST_RETRY = { retries: 2, minDelayMs: 1, maxDelayMs: 5 };
const BUCKET = 'plain-get';
const KEYS = ['sig/a b+c(1)!*~.json', 'sig/x=y&z;w.json', 'sig/é/ü\u{1F600}.json', 'sig/plain.json'];

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

const rejection = async (promise: Promise<unknown>): Promise<EtlError> => {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(EtlError);
  return error as EtlError;
};

/** RFC 3986 escaping, as SigV4 canonical query strings use it. */
const escape = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Whether `request` carries a valid SigV4 signature for `secret`, computed from the request as received, per
 * the AWS Signature Version 4 documentation (S3: the path as sent is the canonical URI, no double escaping).
 */
function validSignature(request: ProxiedRequest, secret: string): boolean {
  const header = (name: string): string => {
    const value = request.headers[name];
    return (Array.isArray(value) ? value.join(',') : (value ?? '')).trim().replace(/\s+/g, ' ');
  };
  const auth = /^AWS4-HMAC-SHA256 Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(header('authorization'));
  if (!auth) return false;
  const [, day, region, service, signedHeaders, signature] = auth as unknown as string[];
  const [path, query = ''] = request.url.split('?') as [string, string?];
  const canonicalQuery = query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const [name = '', value = ''] = pair.split('=');
      return [escape(decodeURIComponent(name)), escape(decodeURIComponent(value))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const names = signedHeaders!.split(';');
  const canonical = [
    request.method,
    path,
    canonicalQuery,
    names.map((name) => `${name}:${header(name)}\n`).join(''),
    signedHeaders,
    header('x-amz-content-sha256'),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', header('x-amz-date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secret}`);
  for (const part of [day!, region!, service!, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(toSign).digest('hex') === signature;
}

/** The SDK's requests carry an invocation id; plain GETs do not. */
const bySdk = (request: ProxiedRequest): boolean => request.headers['amz-sdk-invocation-id'] !== undefined;

describe('plain GETs of small objects', () => {
  let server: S3TestServer;
  const bodies = new Map(KEYS.map((key, i) => [key, Buffer.from(`{"n":${i},"key":${JSON.stringify(key)}}`)]));

  beforeAll(async () => {
    server = await startS3Server({ buckets: [BUCKET] });
    await server.putAll(BUCKET, [...bodies]);
  });
  afterAll(async () => server?.stop());
  afterEach(() => server.faults.clear());

  it('go where the listing went, escaped as the SDK escapes keys, with a valid SigV4 signature', async () => {
    const source = new S3Source(`s3://${BUCKET}/sig/`, server.proxyOptions, FAST_RETRY);
    const listed = await listAll(source);
    expect(listed.map((o) => o.key).sort()).toEqual([...KEYS].sort());
    for (const object of listed) expect((await readAll(await source.open(object))).equals(bodies.get(object.key)!)).toBe(true);
    // The same objects through the SDK (a source that has not listed has no plain GETs yet).
    const sdkSource = new S3Source(`s3://${BUCKET}/sig/`, server.proxyOptions, FAST_RETRY);
    for (const object of listed) expect((await readAll(await sdkSource.open(object))).equals(bodies.get(object.key)!)).toBe(true);

    const gets = server.faults.requests.filter((r) => r.key !== '');
    const plain = gets.filter((r) => !bySdk(r));
    const sdk = gets.filter(bySdk);
    expect(plain.map((r) => r.key)).toEqual(listed.map((o) => o.key));
    expect(sdk.map((r) => r.key)).toEqual(listed.map((o) => o.key));
    // Same path as the SDK's GetObject for every key (which adds only its x-id query).
    expect(plain.map((r) => r.url)).toEqual(sdk.map((r) => r.url.replace(/\?x-id=GetObject$/, '')));
    for (const request of server.faults.requests) expect(validSignature(request, 'S3RVER'), `${request.method} ${request.url}`).toBe(true);
    // The check can fail: another secret, or a path other than the signed one.
    expect(validSignature(plain[0]!, 'S3RVER2')).toBe(false);
    expect(validSignature({ ...plain[0]!, url: plain[0]!.url.replace('sig', 'sog') }, 'S3RVER')).toBe(false);
  });

  it('are unsigned when the listing was (anonymous access)', async () => {
    const source = new S3Source(`s3://${BUCKET}/sig/`, { endpoint: server.proxyEndpoint, anonymous: true }, FAST_RETRY);
    const [object] = await listAll(source);
    expect((await readAll(await source.open(object!))).equals(bodies.get(object!.key)!)).toBe(true);
    const plain = server.faults.requests.filter((r) => r.key !== '' && !bySdk(r));
    expect(plain).toHaveLength(1);
    expect(plain[0]!.signed).toBe(false);
  });

  it('retry transient failures and give up on a lasting one with the SDK path\'s message', async () => {
    const source = new S3Source(`s3://${BUCKET}/sig/`, server.proxyOptions, FAST_RETRY);
    const listed = await listAll(source);
    const object = listed.find((o) => o.key === 'sig/plain.json')!;
    server.faults.inject(BUCKET, object.key, { kind: 'status' });
    server.faults.inject(BUCKET, object.key, { kind: 'cut', afterBytes: 3 });
    expect((await readAll(await source.open(object))).equals(bodies.get(object.key)!)).toBe(true);
    expect(server.faults.requests.filter((r) => r.key === object.key && !bySdk(r))).toHaveLength(3);
    expect(server.faults.pending()).toBe(0);

    for (let i = 0; i < 5; i++) server.faults.inject(BUCKET, object.key, { kind: 'status' });
    expect((await rejection(source.open(object))).message).toBe(
      `S3 kept failing reading s3://${BUCKET}/sig/plain.json after 3 attempts: Injected fault (SlowDown); try again later or lower the concurrency`,
    );
    server.faults.clear();
    server.faults.inject(BUCKET, object.key, { kind: 'status', status: 403, code: 'AccessDenied' });
    expect((await rejection(source.open(object))).message).toBe(
      `Access denied reading s3://${BUCKET}/sig/plain.json (AccessDenied): check the AWS credentials and the bucket policy (s3:ListBucket and s3:GetObject)`,
    );
  });

  it('name an object deleted since the listing', async () => {
    await server.put(BUCKET, 'gone/x.json', '{}');
    const source = new S3Source(`s3://${BUCKET}/gone/`, server.proxyOptions, FAST_RETRY);
    const [object] = await listAll(source);
    await server.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'gone/x.json' }));
    expect((await rejection(source.open(object!))).message).toBe(
      `s3://${BUCKET}/gone/x.json does not exist (NoSuchKey): it may have been deleted since it was listed; run the load again`,
    );
  });

  it('hand an object that grew past the limit since the listing over to the streamed SDK read', async () => {
    await server.put(BUCKET, 'grown/x.json', '{}');
    const source = new S3Source(`s3://${BUCKET}/grown/`, server.proxyOptions, FAST_RETRY);
    const [object] = await listAll(source);
    const grown = randomBytes(1024 * 1024 + 10_000);
    await server.put(BUCKET, 'grown/x.json', grown);
    expect((await readAll(await source.open(object!))).equals(grown)).toBe(true);
    const gets = server.faults.requests.filter((r) => r.key === 'grown/x.json');
    expect(gets.map(bySdk)).toEqual([false, true]);
  });
});
