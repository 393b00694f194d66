import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import pRetry from 'p-retry';
import { EtlError, describeError } from '../errors.js';
import { PREFETCH_LIMIT } from './ordered-fetch.js';
import { createS3Client, s3ClientAgents, s3ClientAuth, s3ClientEndpoint, type S3Options } from './s3-client.js';
import { captureSentRequest, PlainGet, templateOf, TOO_LARGE, TruncatedBodyError } from './s3-get.js';
import { formatS3Url, parseS3Url } from './s3-location.js';
import { compareKeys, isJsonKey, type Source, type SourceObject } from './source.js';

/** Retry policy for transient failures, on top of the SDK's own attempts. */
export interface S3RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First backoff delay in ms (default 250); doubles each retry, with jitter. */
  minDelayMs?: number;
  /** Longest backoff delay in ms (default 10,000). */
  maxDelayMs?: number;
}

/** Objects listed at up to this size are read whole in one plain GET: fetchOrdered reads them whole anyway. */
const PLAIN_GET_BYTES = PREFETCH_LIMIT;

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'BandwidthLimitExceeded',
]);
const TRANSIENT_NAMES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'TruncatedBodyError',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);
const ACCESS_NAMES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AccountProblem',
]);
const REDIRECT_NAMES = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);

interface ErrorFacts {
  name: string;
  code: string | undefined;
  status: number | undefined;
  message: string;
  bucketRegion: string | undefined;
}

const factsOf = (error: unknown): ErrorFacts => {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    code?: unknown;
    Code?: unknown;
    message?: unknown;
    Region?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $response?: { statusCode?: unknown; headers?: Record<string, unknown> };
    cause?: unknown;
  };
  const status =
    typeof e.$metadata?.httpStatusCode === 'number'
      ? e.$metadata.httpStatusCode
      : typeof e.$response?.statusCode === 'number'
        ? e.$response.statusCode
        : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const header = e.$response?.headers?.['x-amz-bucket-region'];
  const expecting = /expecting '([a-z0-9-]+)'/.exec(message)?.[1];
  let code = typeof e.code === 'string' ? e.code : typeof e.Code === 'string' ? e.Code : undefined;
  // Node network errors may arrive wrapped (AggregateError from happy eyeballs, or as a cause).
  if (code === undefined && e.cause && typeof e.cause === 'object') {
    const inner = (e.cause as { code?: unknown }).code;
    if (typeof inner === 'string') code = inner;
  }
  if (code === undefined && error instanceof AggregateError) {
    const inner = (error.errors[0] as { code?: unknown } | undefined)?.code;
    if (typeof inner === 'string') code = inner;
  }
  return {
    name: typeof e.name === 'string' ? e.name : '',
    code,
    status,
    message,
    bucketRegion: typeof header === 'string' ? header : typeof e.Region === 'string' ? e.Region : expecting,
  };
};

/** Whether a failure may go away by itself: throttling, 5xx, dropped connections, timeouts, cut-off bodies. */
export const isTransientS3Error = (error: unknown): boolean => {
  const f = factsOf(error);
  if (THROTTLING.has(f.name) || TRANSIENT_NAMES.has(f.name)) return true;
  if (f.status !== undefined && (f.status >= 500 || f.status === 429)) return true;
  if (f.code !== undefined && TRANSIENT_CODES.has(f.code)) return true;
  return /socket hang up|^aborted$|premature close|other side closed/i.test(f.message);
};

/**
 * An S3 object source: `s3://bucket/prefix`, listed in key order (the next page asked for while a page is
 * read), read with retries and resumption; small objects in plain GETs (s3-get.ts) once a listing page showed
 * where they go.
 */
export class S3Source implements Source {
  readonly listsCheaply = false;
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly retry: Required<S3RetryOptions>;

  constructor(url: string, client: S3Client | S3Options = {}, retry: S3RetryOptions = {}) {
    const location = parseS3Url(url);
    this.url = url;
    this.bucket = location.bucket;
    this.prefix = location.prefix;
    this.client = client instanceof S3Client ? client : createS3Client(client);
    this.retry = { retries: retry.retries ?? 5, minDelayMs: retry.minDelayMs ?? 250, maxDelayMs: retry.maxDelayMs ?? 10_000 };
  }

  async *list(): AsyncIterable<SourceObject> {
    let previous: string | undefined;
    // Each page advances the token; a repeated token would loop forever, so it is an error.
    const seenTokens = new Set<string>();
    let pending = this.listPage(undefined);
    for (;;) {
      const page: ListObjectsV2CommandOutput = await pending;
      // The next page is asked for at once: its round trip overlaps the fetching of this page's objects.
      const token = page.NextContinuationToken;
      const advances = token !== undefined && token !== '' && !seenTokens.has(token);
      let next: Promise<ListObjectsV2CommandOutput> | undefined;
      if (page.IsTruncated && advances) {
        seenTokens.add(token);
        next = this.listPage(token);
      }
      for (const item of page.Contents ?? []) {
        const key = item.Key;
        if (key === undefined) continue;
        if (previous !== undefined && compareKeys(previous, key) >= 0) {
          throw new EtlError(
            `Listing ${this.url} returned ${formatS3Url(this.bucket, key)} after ${formatS3Url(this.bucket, previous)}: keys are not in UTF-8 byte order as S3 lists them; check that ${this.endpointName()} is S3-compatible`,
          );
        }
        previous = key;
        if (!key.startsWith(this.prefix) || !isJsonKey(key)) continue;
        yield { key, size: item.Size ?? 0, version: item.ETag ?? '' };
      }
      if (!page.IsTruncated) return;
      if (next === undefined) {
        throw new EtlError(
          `Listing ${this.url} did not advance: a truncated page came without a new continuation token; check that ${this.endpointName()} is S3-compatible`,
        );
      }
      pending = next;
    }
  }

  /** One ListObjectsV2 page, retried; the request it sent shows where (and how signed) plain GETs go. */
  private listPage(token: string | undefined): Promise<ListObjectsV2CommandOutput> {
    const command = new ListObjectsV2Command({
      Bucket: this.bucket,
      ...(this.prefix !== '' ? { Prefix: this.prefix } : {}),
      ...(token !== undefined ? { ContinuationToken: token } : {}),
    });
    command.middlewareStack.use(captureSentRequest((request) => this.usePlainGets(request)));
    const page = this.withRetry(() => this.client.send(command), 'list');
    page.catch(() => {}); // a prefetched page is awaited in its turn, or not at all when the consumer stops
    return page;
  }

  /** Plain GETs for small objects, shaped like the listing's request, on the client's agents (when known). */
  private usePlainGets(request: Parameters<typeof templateOf>[0]): void {
    if (this.plain !== undefined) return;
    const agents = s3ClientAgents(this.client);
    const template = agents ? templateOf(request) : undefined;
    this.plain = template && agents ? new PlainGet(this.client, template, agents) : null;
  }

  private plain: PlainGet | null | undefined;

  async open(object: SourceObject): Promise<Readable> {
    // A small object (as listed) in one plain request once the listing showed the way; larger ones stream.
    const plain = object.size <= PLAIN_GET_BYTES ? this.plain : undefined;
    if (plain) {
      const body = await this.withRetry(() => plain.get(object.key, PLAIN_GET_BYTES), 'read', object.key);
      if (body !== TOO_LARGE) return Readable.from(body.length > 0 ? [body] : [], { objectMode: false });
    }
    const first = await this.get(object.key, 0, undefined);
    return Readable.from(this.bytes(object.key, first), { objectMode: false });
  }

  /**
   * The bytes of `key` from the response `first`. When the body fails with a transient error, the rest is asked
   * for from the first byte not yet delivered (`Range` plus `If-Match` on the first response's ETag), so the
   * consumer sees one continuous stream with no byte repeated or lost.
   */
  private async *bytes(key: string, first: GetObjectCommandOutput): AsyncGenerator<Buffer> {
    const etag = first.ETag;
    const total = first.ContentLength;
    let response = first;
    let delivered = 0;
    let failures = 0;
    for (;;) {
      try {
        // A server that ignored the Range header sends the object from its start: skip what was delivered.
        let skip = delivered - rangeStart(response);
        for await (const chunk of bodyOf(response, this.url, key)) {
          let buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
          if (skip > 0) {
            const dropped = Math.min(skip, buffer.length);
            skip -= dropped;
            buffer = buffer.subarray(dropped);
            if (buffer.length === 0) continue;
          }
          delivered += buffer.length;
          if (total !== undefined && delivered > total) {
            throw new EtlError(
              `${formatS3Url(this.bucket, key)} sent more than its ${total} bytes: the object changed while it was being read; run the load again`,
            );
          }
          yield buffer;
        }
        if (total === undefined || delivered === total) return;
        throw new TruncatedBodyError(`the body ended after ${delivered} of ${total} bytes`);
      } catch (error) {
        if (error instanceof EtlError) throw error;
        failures += 1;
        if (!isTransientS3Error(error) || failures > this.retry.retries) {
          throw await this.toEtlError(error, 'read', key, failures);
        }
        await sleep(backoff(this.retry, failures));
        response = await this.get(key, delivered, etag);
        if (etag !== undefined && response.ETag !== undefined && response.ETag !== etag) {
          discard(response);
          throw new EtlError(
            `${formatS3Url(this.bucket, key)} changed while it was being read (ETag ${etag} became ${response.ETag}); run the load again`,
          );
        }
      }
    }
  }

  /** GetObject from byte `start` (with `If-Match` when resuming), retried while failures are transient. */
  private get(key: string, start: number, etag: string | undefined): Promise<GetObjectCommandOutput> {
    return this.withRetry(
      () =>
        this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
            ...(start > 0 && etag !== undefined ? { IfMatch: etag } : {}),
          }),
        ),
      'read',
      key,
    );
  }

  private async withRetry<T>(attempt: () => Promise<T>, operation: 'list' | 'read', key?: string): Promise<T> {
    let attempts = 0;
    try {
      return await pRetry(
        () => {
          attempts += 1;
          return attempt();
        },
        {
          retries: this.retry.retries,
          factor: 2,
          minTimeout: this.retry.minDelayMs,
          maxTimeout: this.retry.maxDelayMs,
          randomize: true,
          shouldRetry: (error) => isTransientS3Error(error),
        },
      );
    } catch (error) {
      throw await this.toEtlError(error, operation, key, attempts);
    }
  }

  private endpointName(): string {
    return s3ClientEndpoint(this.client) ?? 'the S3 endpoint';
  }

  /** A one-line, actionable error for a failed S3 request. */
  private async toEtlError(error: unknown, operation: 'list' | 'read', key: string | undefined, attempts: number): Promise<EtlError> {
    if (error instanceof EtlError) return error;
    const f = factsOf(error);
    const what = operation === 'list' ? `listing ${this.url}` : `reading ${formatS3Url(this.bucket, key)}`;
    const described = describeError(error);
    const reason = f.name !== '' && f.name !== 'Error' && !described.includes(f.name) ? `${described} (${f.name})` : described;
    const endpoint = await this.describeEndpoint();
    const bucket = `S3 bucket "${this.bucket}"`;
    let message: string;
    if (f.name === 'NoSuchBucket') {
      message = `${bucket} does not exist (${what} at ${endpoint}): check the bucket name in ${this.url} and the endpoint`;
    } else if (f.name === 'NoSuchKey' || (operation === 'read' && f.status === 404)) {
      message = `${formatS3Url(this.bucket, key)} does not exist (NoSuchKey): it may have been deleted since it was listed; run the load again`;
    } else if (ACCESS_NAMES.has(f.name) || f.status === 403) {
      const auth = s3ClientAuth(this.client);
      const hint =
        auth === 'no-credentials'
          ? 'requests were unsigned because no AWS credentials were found: configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or make the bucket publicly readable'
          : auth === 'anonymous'
            ? 'requests were unsigned as anonymous access was asked for: use AWS credentials instead, or make the bucket publicly readable'
          : f.name === 'InvalidAccessKeyId'
            ? 'check the AWS access key id'
            : f.name === 'SignatureDoesNotMatch'
              ? 'check the AWS secret access key'
              : f.name === 'ExpiredToken' || f.name === 'InvalidToken'
                ? 'the AWS session token expired or is invalid: refresh the credentials'
                : 'check the AWS credentials and the bucket policy (s3:ListBucket and s3:GetObject)';
      message = `Access denied ${what} (${f.name || f.status}): ${hint}`;
    } else if (REDIRECT_NAMES.has(f.name) || f.status === 301) {
      const current = await this.currentRegion();
      message =
        f.bucketRegion !== undefined
          ? `${bucket} is in region ${f.bucketRegion}${current ? `, not ${current}` : ''} (${what}): set the S3 region to ${f.bucketRegion} (e.g. AWS_REGION=${f.bucketRegion})`
          : `${bucket} is in another region than ${current ?? 'the configured one'} (${what}: ${reason}): set the S3 region to the bucket's region`;
    } else if (f.code !== undefined && UNREACHABLE_CODES.has(f.code)) {
      message = `Cannot reach the S3 endpoint ${endpoint} (${f.code}) ${what}: check the endpoint URL and that the server is running and reachable`;
    } else if (f.name === 'PreconditionFailed' || f.status === 412) {
      message = `${formatS3Url(this.bucket, key)} changed while it was being read; run the load again`;
    } else if (isTransientS3Error(error)) {
      message = `S3 kept failing ${what} after ${attempts} attempts: ${reason}; try again later or lower the concurrency`;
    } else {
      message = `S3 request failed ${what}: ${reason}`;
    }
    return new EtlError(message.replace(/\s*\n\s*/g, ' '), { cause: error });
  }

  private async describeEndpoint(): Promise<string> {
    const custom = s3ClientEndpoint(this.client);
    if (custom !== undefined) return custom;
    try {
      const endpoint = await this.client.config.endpoint?.();
      if (endpoint) {
        const port = endpoint.port !== undefined ? `:${endpoint.port}` : '';
        return `${endpoint.protocol}//${endpoint.hostname}${port}${endpoint.path === '/' ? '' : endpoint.path}`;
      }
    } catch {
      // fall through to the AWS default
    }
    const region = await this.currentRegion();
    return `https://s3.${region ?? 'us-east-1'}.amazonaws.com`;
  }

  private async currentRegion(): Promise<string | undefined> {
    try {
      return await this.client.config.region();
    } catch {
      return undefined;
    }
  }
}

const backoff = (retry: Required<S3RetryOptions>, failures: number): number =>
  Math.min(retry.maxDelayMs, retry.minDelayMs * 2 ** (failures - 1)) * (1 + Math.random());

/** Where a (possibly ranged) response starts: `Content-Range: bytes <start>-<end>/<total>`, else 0. */
const rangeStart = (response: GetObjectCommandOutput): number => {
  const match = /^bytes (\d+)-/.exec(response.ContentRange ?? '');
  return match?.[1] !== undefined ? Number(match[1]) : 0;
};

const discard = (response: GetObjectCommandOutput): void => {
  const body = response.Body as unknown;
  if (body instanceof Readable) body.destroy();
};

const bodyOf = (response: GetObjectCommandOutput, url: string, key: string): AsyncIterable<unknown> => {
  const body = response.Body as unknown;
  if (body instanceof Readable) return body;
  if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) return body as AsyncIterable<unknown>;
  throw new EtlError(`Reading ${key} from ${url}: S3 returned no body`);
};
