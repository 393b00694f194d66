/**
 * A PGlite warehouse opened apart, in a thread of its own (what `etl extract` and dry runs read the ledger
 * through): real PGlite on a real data directory, statements and errors across the thread, the directory
 * lock held from open to close, no WebAssembly instance in the calling thread, and a directory not created
 * yet left so.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMissingTable } from '../../src/errors.js';
import { PgliteThreadWarehouse } from '../../src/load/pglite/pglite-thread.js';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import { STAGING } from '../../src/transform/schema.js';
import { freshPgliteDir, removeTempDirs, tempDir } from '../helpers/warehouses.js';

afterAll(removeTempDirs);

const noChunks = async function* (): AsyncGenerator<string> {};
const noArea = (): never => {
  throw new Error('no staging area');
};

/** Counts the WebAssembly memories this thread makes while `work` runs. */
async function memoriesMadeBy(work: () => Promise<void>): Promise<number> {
  type MemoryClass = new (descriptor: object) => object;
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: MemoryClass } }).WebAssembly;
  const original = wasm.Memory;
  let made = 0;
  wasm.Memory = new Proxy(original, {
    construct(target, args: [object]) {
      made++;
      return new target(...args);
    },
  });
  try {
    await work();
  } finally {
    wasm.Memory = original;
  }
  return made;
}

describe('PgliteThreadWarehouse', () => {
  it('runs statements in its thread, keeps their errors SQLSTATE, and gives the directory back at close', async () => {
    const dir = await freshPgliteDir();
    const made = await memoriesMadeBy(async () => {
      const apart = await PgliteThreadWarehouse.open(dir);
      expect(apart.description).toBe(`PGlite at ${dir}`);
      await apart.query('CREATE TABLE t (k TEXT, n BIGINT)');
      await apart.query('INSERT INTO t VALUES ($1, $2), ($3, $4)', ['a', 1, 'b', 2]);
      expect((await apart.query('SELECT k, n FROM t ORDER BY k')).rows).toEqual([
        { k: 'a', n: 1 },
        { k: 'b', n: 2 },
      ]);
      const missing = await apart.query('SELECT * FROM no_such_table').catch((error: unknown) => error);
      expect(isMissingTable(missing)).toBe(true);
      // While it is open the directory is locked: this process cannot open it a second time.
      await expect(PgliteWarehouse.open(dir)).rejects.toThrow(/is in use by another etl command/);
      await apart.close();
      await expect(apart.query('SELECT 1')).rejects.toThrow(`PGlite at ${dir} is closed`);
    });
    // PGlite ran in the other thread only (the refused second open never got as far as PGlite).
    expect(made).toBe(0);

    const again = await PgliteWarehouse.open(dir);
    expect((await again.query('SELECT COUNT(*) AS n FROM t')).rows).toEqual([{ n: 2 }]);
    // And the other way round: a directory open in this thread cannot be opened apart.
    await expect(PgliteThreadWarehouse.open(dir)).rejects.toThrow(/is in use by another etl command/);
    await again.close();
  }, 120_000);

  it('takes statements but no COPY or transaction', async () => {
    const apart = await PgliteThreadWarehouse.open(await freshPgliteDir());
    try {
      await expect(apart.loadStream(STAGING.events, noChunks(), noArea)).rejects.toThrow('opened apart for a command that reads it, takes statements but no COPY');
      await expect(apart.transaction(async () => 1)).rejects.toThrow('takes statements but no transaction');
    } finally {
      await apart.close();
    }
  }, 120_000);

  it('leaves a directory not created yet so, reading as a warehouse whose tables are empty', async () => {
    const parent = await tempDir('sparkify-apart-');
    for (const dir of [join(parent, 'missing'), join(parent, 'empty')]) {
      if (dir.endsWith('empty')) await mkdir(dir);
      const made = await memoriesMadeBy(async () => {
        const apart = await PgliteThreadWarehouse.open(dir);
        expect(apart.description).toBe(`PGlite at ${dir}`);
        expect(await apart.query('SELECT source_key, size, version FROM load_ledger WHERE kind = $1', ['events'])).toEqual({ fields: [], rows: [] });
        await expect(apart.loadStream(STAGING.events, noChunks(), noArea)).rejects.toThrow(`PGlite at ${dir} does not exist yet: a command that only reads it takes no COPY`);
        await apart.close();
      });
      expect(made).toBe(0);
    }
    expect(await readdir(parent)).toEqual(['empty']);
    expect(await readdir(join(parent, 'empty'))).toEqual([]);
  });
});
