/**
 * Floor (d): PGlite `COPY staging_events FROM '/dev/blob'` of the staging CSV parts that `etl extract` wrote,
 * in blobs of about `chunkBytes` cut at row ends, as the PGlite warehouse loads them, into a data directory
 * that exists (no initdb), started with the warehouse's settings. Opening it is not timed.
 */
import { createReadStream } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { PgliteCopyArgs } from './args.js';
import { floorArgs, printResult } from './common.js';

const { dataDir, startParams, ddl, copySql, files, chunkBytes } = floorArgs<PgliteCopyArgs>();
const db = await PGlite.create(dataDir, { startParams: [...startParams] });
await db.exec(ddl);

const started = performance.now();
let rows = 0;
let parts: Buffer[] = [];
let size = 0;
const flush = async (): Promise<void> => {
  if (size === 0) return;
  const result = await db.query(copySql, [], { blob: new Blob(parts) });
  rows += result.affectedRows ?? 0;
  parts = [];
  size = 0;
};
for (const file of files) {
  let quoted = false;
  let carry: Buffer | undefined;
  for await (const piece of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    // Cut after the last line end outside quotes; the rest goes with the next piece.
    let cut = -1;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i];
      if (b === 0x22) quoted = !quoted;
      else if (b === 0x0a && !quoted) cut = i;
    }
    const whole = carry ? Buffer.concat([carry, piece]) : piece;
    const end = cut === -1 ? -1 : (carry?.length ?? 0) + cut + 1;
    if (end === -1) {
      carry = whole;
      continue;
    }
    parts.push(whole.subarray(0, end));
    size += end;
    carry = end < whole.length ? Buffer.from(whole.subarray(end)) : undefined;
    if (size >= chunkBytes) await flush();
  }
  if (carry) {
    parts.push(carry);
    size += carry.length;
  }
}
await flush();
const seconds = (performance.now() - started) / 1000;
await db.close();
printResult({ seconds, events: rows, rows });
