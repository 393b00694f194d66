import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { EtlError } from '../errors.js';
import type { StagingTable } from '../transform/schema.js';

/**
 * The hand-off between `etl extract` and `etl stage`: staging CSV in parts, with a manifest per table in
 * Redshift's manifest format listing exactly this run's parts.
 */
export interface Manifest {
  entries: { url: string; mandatory: boolean; meta: { content_length: number } }[];
}

export const manifestPath = (dir: string, table: StagingTable): string => join(dir, `${table.table}.manifest`);

/** Writes CSV chunks (whole rows each) to parts of about `partBytes`; returns the manifest. */
export async function writeLocalParts(dir: string, table: StagingTable, chunks: AsyncIterable<string | Buffer>, partBytes: number): Promise<Manifest> {
  await mkdir(join(dir, table.table), { recursive: true });
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
      out = createWriteStream(join(dir, name));
      manifest.entries.push({ url: name, mandatory: true, meta: { content_length: 0 } });
      bytes = 0;
    }
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
    if (bytes >= partBytes) await close();
  }
  await close();
  await writeFile(manifestPath(dir, table), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

export async function readManifest(dir: string, table: StagingTable): Promise<Manifest> {
  const path = manifestPath(dir, table);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Manifest;
  } catch (error) {
    throw new EtlError(`Cannot read staging manifest ${path}: run \`etl extract\` first (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}

/** A local staging area's parts, as whole-row chunks (each part is whole rows, read in pieces cut at row ends). */
export async function* readLocalParts(dir: string, manifest: Manifest): AsyncGenerator<Buffer> {
  for (const entry of manifest.entries) {
    let carry = Buffer.alloc(0);
    let quoted = false;
    for await (const piece of createReadStream(join(dir, entry.url), { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      // Cut after the last line end that is outside quotes; carry the rest to the next piece.
      let cut = -1;
      for (let i = 0; i < piece.length; i++) {
        const b = piece[i];
        if (b === 0x22) quoted = !quoted;
        else if (b === 0x0a && !quoted) cut = i;
      }
      if (cut === -1) {
        carry = Buffer.concat([carry, piece]);
        continue;
      }
      yield Buffer.concat([carry, piece.subarray(0, cut + 1)]);
      carry = Buffer.from(piece.subarray(cut + 1));
    }
    if (carry.length > 0) yield carry;
  }
}
