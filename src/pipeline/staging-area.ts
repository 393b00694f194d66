import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { EtlError } from '../errors.js';
import { readS3Manifest, readS3Parts, s3ManifestUrl, wholeRows, writeS3Parts } from '../load/s3-staging.js';
import type { CsvTable } from '../transform/schema.js';

/**
 * The hand-off between extract and load: staging CSV in parts, with a manifest per table in Redshift's
 * manifest format listing exactly one run's parts. A local folder, or an S3 prefix that Redshift COPYs from.
 */
export interface Manifest {
  entries: { url: string; mandatory: boolean; meta: { content_length: number } }[];
}

export interface StagingArea {
  /** Where it is: a folder, or `s3://bucket/prefix/<run-id>/`. */
  readonly url: string;
  /** Writes a table's CSV chunks (whole rows each) as parts; resolves to the manifest written. */
  write(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<Manifest>;
  /** The table's manifest location (an s3:// URL for S3 areas). */
  manifestUrl(table: CsvTable): string;
  /** The table's manifest, as written. */
  manifest(table: CsvTable): Promise<Manifest>;
  /** The table's staged CSV, as chunks of whole rows. */
  read(table: CsvTable): AsyncIterable<Buffer>;
}

/** A folder: parts `<table>/part-00000.csv`, manifest `<table>.manifest` with paths relative to the folder. */
export class LocalStagingArea implements StagingArea {
  readonly url: string;

  constructor(
    dir: string,
    private readonly partBytes: number,
  ) {
    this.url = resolve(dir);
  }

  manifestUrl(table: CsvTable): string {
    return join(this.url, `${table.table}.manifest`);
  }

  async write(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<Manifest> {
    await mkdir(join(this.url, table.table), { recursive: true });
    const manifest: Manifest = { entries: [] };
    let out: ReturnType<typeof createWriteStream> | undefined;
    let bytes = 0;
    const close = async () => {
      if (!out) return;
      out.end();
      await once(out, 'close');
      manifest.entries.at(-1)!.meta = { content_length: bytes };
      out = undefined;
    };
    for await (const chunk of chunks) {
      if (!out) {
        const name = `${table.table}/part-${String(manifest.entries.length).padStart(5, '0')}.csv`;
        out = createWriteStream(join(this.url, name));
        manifest.entries.push({ url: name, mandatory: true, meta: { content_length: 0 } });
        bytes = 0;
      }
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      if (bytes >= this.partBytes) await close();
    }
    await close();
    await writeFile(this.manifestUrl(table), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }

  async manifest(table: CsvTable): Promise<Manifest> {
    try {
      return JSON.parse(await readFile(this.manifestUrl(table), 'utf8')) as Manifest;
    } catch (error) {
      throw new EtlError(`Cannot read staging manifest ${this.manifestUrl(table)}: run \`etl extract\` first (${(error as NodeJS.ErrnoException).code ?? error})`);
    }
  }

  async *read(table: CsvTable): AsyncGenerator<Buffer> {
    const manifest = await this.manifest(table);
    for (const entry of manifest.entries) {
      yield* wholeRows(createReadStream(join(this.url, entry.url), { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>);
    }
  }
}

/** An S3 prefix: gzipped parts uploaded as they are produced (multipart, nothing on local disk). */
export class S3StagingArea implements StagingArea {
  constructor(
    readonly url: string,
    private readonly client: S3Client,
    private readonly partBytes: number,
  ) {}

  manifestUrl(table: CsvTable): string {
    return s3ManifestUrl(this.url, table);
  }

  write(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<Manifest> {
    return writeS3Parts(this.url, table, chunks as AsyncIterable<string>, { client: this.client, partBytes: this.partBytes });
  }

  manifest(table: CsvTable): Promise<Manifest> {
    return readS3Manifest(this.manifestUrl(table), this.client);
  }

  read(table: CsvTable): AsyncIterable<Buffer> {
    return readS3Parts(this.manifestUrl(table), this.client);
  }
}

/**
 * Where `--print-sql` stages: nothing is written; the manifest of each table a batch `fills` lists one
 * placeholder part under the run's staging URL, so the COPY a real run sends for it is what gets recorded.
 */
export class PlannedStagingArea implements StagingArea {
  constructor(
    readonly url: string,
    private readonly fills: (table: string) => boolean,
  ) {}

  manifestUrl(table: CsvTable): string {
    return this.url.startsWith('s3://') ? s3ManifestUrl(this.url, table) : join(this.url, `${table.table}.manifest`);
  }

  async manifest(table: CsvTable): Promise<Manifest> {
    if (!this.fills(table.table)) return { entries: [] };
    const part = `${this.url.replace(/\/*$/, '/')}${table.table}/part-00000.csv.gz`;
    return { entries: [{ url: part, mandatory: true, meta: { content_length: 0 } }] };
  }

  async write(table: CsvTable, chunks: AsyncIterable<string | Buffer>): Promise<Manifest> {
    for await (const chunk of chunks) void chunk;
    return this.manifest(table);
  }

  /** A planned run stages no rows. */
  async *read(): AsyncGenerator<Buffer> {}
}
