/**
 * A warehouse made by an earlier version has load_errors.raw (RAW is a Redshift reserved word); the first
 * command of this version renames it to raw_line, keeping the rows, so loads of rejections go on working.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTables } from '../../src/load/load-steps.js';
import { removeTempDirs, runPgTests, testWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

afterAll(removeTempDirs);

describe.each(ENGINES)('load_errors of an earlier version, on %s', (engine) => {
  it('gets its raw column renamed raw_line, rows kept', async () => {
    const warehouse = await testWarehouse(engine, 'legacy');
    try {
      await warehouse.use(async (w) => {
        await w.query(`CREATE TABLE load_errors (run_id VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL, source_key VARCHAR(1024) NOT NULL,
  line INTEGER NOT NULL, reason VARCHAR(1024) NOT NULL, raw VARCHAR(65535))`);
        await w.query(`INSERT INTO load_errors VALUES ('r1', 'events', 'log_data/x.json', 3, 'malformed JSON', '{"ts":')`);
        await ensureTables(w);
        const { rows } = await w.query('SELECT run_id, raw_line FROM load_errors');
        expect(rows).toEqual([{ run_id: 'r1', raw_line: '{"ts":' }]);
        // Once renamed, nothing more to do.
        await ensureTables(w);
      });
    } finally {
      await warehouse.dispose();
    }
  });
});
