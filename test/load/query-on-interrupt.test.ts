/**
 * `Warehouse.queryOnInterrupt`, what records an interrupted run in etl_runs: its statement commits whatever
 * the pipeline's connection is doing. On PostgreSQL it goes over a connection of its own while the pipeline's
 * transaction stays open; on PGlite (one connection) the pipeline's statements are refused from then on and
 * its open transaction is rolled back first, so the transform stays all or nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import { PostgresWarehouse } from '../../src/load/postgres/postgres-warehouse.js';
import { freshPgliteDir, pgClient, removeTempDirs, runPgTests, tempDir, testWarehouse } from '../helpers/warehouses.js';

const PG = await runPgTests();

afterAll(removeTempDirs);

/** A transaction that has written a row of `t` and waits until `release` is called. */
function openTransaction(warehouse: PgliteWarehouse | PostgresWarehouse) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const done = warehouse.transaction(async () => {
    await warehouse.query('INSERT INTO t VALUES (1)');
    wrote();
    await gate;
    await warehouse.query('INSERT INTO t VALUES (2)');
  });
  done.catch(() => {});
  return { written, release, done };
}

describe('queryOnInterrupt on PGlite', () => {
  it('rolls back the open transaction, commits its statement, and refuses the pipeline\'s statements from then on', async () => {
    const dir = await freshPgliteDir();
    const warehouse = await PgliteWarehouse.open(dir);
    await warehouse.query('CREATE TABLE t (x INTEGER)');
    await warehouse.query('CREATE TABLE r (x INTEGER)');
    const tx = openTransaction(warehouse);
    await tx.written;
    await warehouse.queryOnInterrupt('INSERT INTO r VALUES ($1)', [7]);
    tx.release();
    await expect(tx.done).rejects.toThrow(`PGlite at ${dir} takes no more statements: the command was interrupted`);
    await expect(warehouse.query('SELECT 1')).rejects.toThrow('takes no more statements');
    await warehouse.close();

    const again = await PgliteWarehouse.open(dir);
    try {
      expect((await again.query('SELECT x FROM t')).rows).toEqual([]);
      expect((await again.query('SELECT x FROM r')).rows).toEqual([{ x: 7 }]);
    } finally {
      await again.close();
    }
  });

  it('with no transaction open, just commits its statements, in order', async () => {
    const dir = await freshPgliteDir();
    const warehouse = await PgliteWarehouse.open(dir);
    await warehouse.query('CREATE TABLE r (x INTEGER)');
    void warehouse.queryOnInterrupt('INSERT INTO r VALUES ($1)', [1]);
    await warehouse.queryOnInterrupt('INSERT INTO r VALUES ($1)', [2]);
    // `close` waits for them.
    await warehouse.close();
    const again = await PgliteWarehouse.open(dir);
    try {
      expect((await again.query('SELECT x FROM r')).rows).toEqual([{ x: 1 }, { x: 2 }]);
    } finally {
      await again.close();
    }
  });
});

describe.runIf(PG)('queryOnInterrupt on PostgreSQL', () => {
  it('commits on a connection of its own while the pipeline\'s transaction is still open', async () => {
    const own = await testWarehouse('postgres', 'interrupt');
    const config = own.config({ songData: await tempDir(), logData: await tempDir() });
    const warehouse = await PostgresWarehouse.open(config.cluster);
    const observer = await pgClient(config.cluster.database);
    try {
      await warehouse.query('CREATE TABLE t (x INTEGER)');
      await warehouse.query('CREATE TABLE r (x INTEGER)');
      const tx = openTransaction(warehouse);
      await tx.written;
      await warehouse.queryOnInterrupt('INSERT INTO r VALUES ($1)', [7]);
      // Seen from outside at once; the pipeline's transaction has not committed.
      expect((await observer.query('SELECT x FROM r')).rows).toEqual([{ x: 7 }]);
      expect((await observer.query('SELECT x FROM t')).rows).toEqual([]);
      tx.release();
      await tx.done;
      expect((await observer.query('SELECT x FROM t ORDER BY x')).rows).toEqual([{ x: 1 }, { x: 2 }]);
    } finally {
      await observer.end();
      await warehouse.close();
      await own.dispose();
    }
  });
});
