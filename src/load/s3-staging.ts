/**
 * The staging area on S3, for Redshift: staging CSV in gzip parts of about `partBytes` each (uncompressed),
 * uploaded as they are written, with a manifest per table in Redshift's format listing exactly this run's
 * parts. COPY ... MANIFEST then loads the parts in parallel, one per slice at a time, and ignores any stale
 * part left under the same prefix. Nothing touches the local disk.
 */
import { once } from 'node:events';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { EtlError, describeError } from '../errors.js';
import { formatS3Url, parseS3Url } from '../extract/s3-location.js';
import type { Manifest } from '../pipeline/staging-area.js';
import type { CsvTable } from '../transform/schema.js';

/** Uncompressed size of a part: large enough that per-file overhead vanishes, small enough that slices share. */
export const DEFAULT_PART_BYTES = 64 * 1024 * 1024;
/**
 * zlib level 1: about 900 MB/s on staging CSV against 250 MB/s at zlib's default 6, so gzip never holds back
 * the encoder; levels 1 to 3 compress alike here. Redshift decompresses any level alike.
 */
export const DEFAULT_GZIP_LEVEL = 1;
/** Parts uploading at once: the next part is encoded while the last one finishes its upload. */
const PARTS_IN_FLIGHT = 2;
/** Multipart chunk of one part's upload (S3's minimum is 5 MiB); up to 4 go at once. */
const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

export interface S3PartsOptions {
  readonly client: S3Client;
  /** Uncompressed bytes per part (default 64 MiB); a part ends at the first row end past it. */
  readonly partBytes?: number;
  readonly gzipLevel?: number;
}

/** `s3://bucket/prefix` as the key prefix parts go under: '' or ending in '/'. */
const stagingBase = (stagingUrl: string): { bucket: string; base: string } => {
  const { bucket, prefix } = parseS3Url(stagingUrl);
  return { bucket, base: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
};

/** Where `writeS3Parts` puts a table's manifest under `stagingUrl`. */
export const s3ManifestUrl = (stagingUrl: string, table: CsvTable): string => {
  const { bucket, base } = stagingBase(stagingUrl);
  return formatS3Url(bucket, `${base}${table.table}.manifest`);
};

/** One part being gzipped and streamed to S3. */
class PartUpload {
  readonly gzip: Gzip;
  private readonly upload: Upload;
  /** Resolves to the part's compressed size once it is stored. */
  readonly stored: Promise<number>;
  private compressed = 0;

  constructor(client: S3Client, bucket: string, readonly key: string, level: number) {
    this.gzip = createGzip({ level });
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.compressed += chunk.length;
        callback(null, chunk);
      },
    });
    // Errors of either stream destroy both; the upload then fails and reports it.
    pipeline(this.gzip, counter).catch(() => {});
    this.upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: counter, ContentType: 'text/csv' },
      partSize: UPLOAD_CHUNK_BYTES,
      queueSize: 4,
      leavePartsOnError: false,
    });
    this.stored = this.upload.done().then(
      () => this.compressed,
      (error: unknown) => {
        // A writer waiting for 'drain' must not wait forever.
        this.gzip.destroy(error instanceof Error ? error : new Error(String(error)));
        throw new EtlError(`Writing staging part ${formatS3Url(bucket, key)} failed: ${describeError(error)}`, { cause: error });
      },
    );
    // Awaited later; until then a failure must not count as unhandled.
    this.stored.catch(() => {});
  }

  async write(chunk: string | Buffer): Promise<void> {
    if (this.gzip.destroyed) await this.stored; // rejects with the upload's failure
    if (this.gzip.write(chunk)) return;
    try {
      await once(this.gzip, 'drain');
    } catch (error) {
      await this.stored; // the upload's failure, named, rather than the stream's
      throw error;
    }
  }

  end(): void {
    this.gzip.end();
  }

  async abort(): Promise<void> {
    await this.upload.abort().catch(() => {});
    this.gzip.destroy();
  }
}

/**
 * Writes CSV chunks (whole rows each) to `<staging>/<table>/part-NNNNN.csv.gz`, gzipped on the fly, and
 * `<staging>/<table>.manifest` listing exactly these parts with their compressed sizes. No rows, no parts:
 * the manifest then has no entries (skip the COPY). On failure, uploads in progress are aborted and no
 * manifest is written.
 */
export async function writeS3Parts(
  stagingUrl: string,
  table: CsvTable,
  chunks: AsyncIterable<string | Buffer>,
  options: S3PartsOptions,
): Promise<Manifest> {
  const { bucket, base } = stagingBase(stagingUrl);
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  const level = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  const manifest: Manifest = { entries: [] };
  const uploads: PartUpload[] = [];
  const inFlight: Promise<void>[] = [];
  let part: PartUpload | undefined;
  let bytes = 0;

  const closePart = async (): Promise<void> => {
    if (!part) return;
    const entry = manifest.entries.at(-1)!;
    part.end();
    const stored = part.stored.then((size) => void (entry.meta = { content_length: size }));
    stored.catch(() => {}); // awaited below, or abandoned after an earlier failure
    inFlight.push(stored);
    part = undefined;
    if (inFlight.length >= PARTS_IN_FLIGHT) await inFlight.shift();
  };

  try {
    for await (const chunk of chunks) {
      if (!part) {
        const key = `${base}${table.table}/part-${String(manifest.entries.length).padStart(5, '0')}.csv.gz`;
        part = new PartUpload(options.client, bucket, key, level);
        uploads.push(part);
        manifest.entries.push({ url: formatS3Url(bucket, key), mandatory: true, meta: { content_length: 0 } });
        bytes = 0;
      }
      bytes += Buffer.byteLength(chunk);
      await part.write(chunk);
      if (bytes >= partBytes) await closePart();
    }
    await closePart();
    await Promise.all(inFlight);
  } catch (error) {
    await Promise.all(uploads.map((u) => u.abort()));
    throw error;
  }

  const manifestKey = `${base}${table.table}.manifest`;
  try {
    await options.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest, null, 2) + '\n', ContentType: 'application/json' }),
    );
  } catch (error) {
    throw new EtlError(`Writing staging manifest ${formatS3Url(bucket, manifestKey)} failed: ${describeError(error)}`, { cause: error });
  }
  return manifest;
}

const isManifest = (value: unknown): value is Manifest =>
  typeof value === 'object' &&
  value !== null &&
  Array.isArray((value as Manifest).entries) &&
  (value as Manifest).entries.every((e) => typeof e === 'object' && e !== null && typeof e.url === 'string');

const getBody = async (client: S3Client, url: string): Promise<Readable> => {
  const { bucket, prefix: key } = parseS3Url(url);
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body as Readable;
};

/** Reads a manifest written by `writeS3Parts`. */
export async function readS3Manifest(manifestUrl: string, client: S3Client): Promise<Manifest> {
  let parsed: unknown;
  try {
    const body = await getBody(client, manifestUrl);
    const pieces: Buffer[] = [];
    for await (const piece of body) pieces.push(piece as Buffer);
    parsed = JSON.parse(Buffer.concat(pieces).toString('utf8'));
  } catch (error) {
    throw new EtlError(`Cannot read staging manifest ${manifestUrl}: run \`etl extract\` first (${describeError(error)})`, { cause: error });
  }
  if (!isManifest(parsed)) throw new EtlError(`Staging manifest ${manifestUrl} is not a Redshift manifest: expected {"entries": [{"url": ...}]}`);
  return parsed;
}

/**
 * Re-cuts CSV bytes into chunks of whole rows: each chunk ends after a line end outside quotes (a quoted
 * field may hold line ends; `""` inside quotes toggles twice and so changes nothing).
 */
export async function* wholeRows(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  let quoted = false;
  for await (const piece of pieces) {
    // Jump between quotes and line ends with indexOf (native) rather than visiting every byte in JS.
    let cut = -1;
    let quote = piece.indexOf(0x22);
    let newline = piece.indexOf(0x0a);
    while (newline !== -1) {
      if (quote !== -1 && quote < newline) {
        quoted = !quoted;
        quote = piece.indexOf(0x22, quote + 1);
        continue;
      }
      if (!quoted) cut = newline;
      newline = piece.indexOf(0x0a, newline + 1);
    }
    // Quotes after the last line end still change the state the next piece starts in.
    for (; quote !== -1; quote = piece.indexOf(0x22, quote + 1)) quoted = !quoted;
    if (cut === -1) {
      carry = Buffer.concat([carry, piece]);
      continue;
    }
    yield Buffer.concat([carry, piece.subarray(0, cut + 1)]);
    carry = Buffer.from(piece.subarray(cut + 1));
  }
  if (carry.length > 0) yield carry;
}

/**
 * The parts listed in the manifest at `manifestUrl`, gunzipped, as chunks of whole rows: what Redshift's COPY
 * reads, so a PostgreSQL engine can load the very same staging data (tests, or checking a staging area).
 */
export async function* readS3Parts(manifestUrl: string, client: S3Client): AsyncGenerator<Buffer> {
  const manifest = await readS3Manifest(manifestUrl, client);
  for (const entry of manifest.entries) {
    let body: Readable;
    try {
      body = await getBody(client, entry.url);
    } catch (error) {
      if (entry.mandatory === false) continue;
      throw new EtlError(`Cannot read staging part ${entry.url} listed in ${manifestUrl}: ${describeError(error)}`, { cause: error });
    }
    const unpacked = entry.url.endsWith('.gz') ? createGunzip() : new PassThrough();
    const piping = pipeline(body, unpacked);
    piping.catch(() => {});
    try {
      yield* wholeRows(unpacked as AsyncIterable<Buffer>);
      await piping;
    } catch (error) {
      throw new EtlError(`Cannot read staging part ${entry.url}: ${describeError(error)}`, { cause: error });
    } finally {
      body.destroy();
      unpacked.destroy();
    }
  }
}
