/**
 * ETL.LOAD_MODE = json: Redshift COPYs the raw JSON into the contract columns only, so it cannot say which
 * object or line a row came from. The lineage columns (source_key, source_line) then stay NULL, not '' or 0
 * that would pass for a real key, and the transform still loads every table. Shown on PGlite and PostgreSQL,
 * loading the staging tables the way that COPY does: the contract columns only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTables, transformStaged } from '../../src/load/load-steps.js';
import { STAGING } from '../../src/transform/schema.js';
import { removeTempDirs, runPgTests, testWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

afterAll(removeTempDirs);

describe.each(ENGINES)('rows of a direct JSON load on %s', (engine) => {
  it('keep NULL lineage, and the transform loads them', async () => {
    const warehouse = await testWarehouse(engine, 'lineage');
    try {
      await warehouse.use(async (w) => {
        await createTables(w);
        const songColumns = STAGING.songs.fields.map((f) => f.column).join(', ');
        await w.query(`INSERT INTO staging_songs (${songColumns}) VALUES (1, 'ARLINE1', NULL, NULL, '', 'Line Artist', 'SOLINE1', 'Line Song', 200.0, 2001)`);
        const eventColumns = STAGING.events.fields.map((f) => f.column).join(', ');
        await w.query(
          `INSERT INTO staging_events (${eventColumns}) VALUES ('Line Artist', 'Logged In', 'Ann', 'F', 0, 'Line', 200.0, 'free', 'Here', 'PUT', 'NextSong', 1540919166796.0, 9, 'Line Song', 200, 1541400000000, 'UA', '9')`,
        );
        const { rows } = await w.query('SELECT source_key, source_line FROM staging_songs UNION ALL SELECT source_key, source_line FROM staging_events');
        expect(rows).toEqual([
          { source_key: null, source_line: null },
          { source_key: null, source_line: null },
        ]);
        expect(await transformStaged(w)).toEqual({ songplays: 1, users: 1, songs: 1, artists: 1, time: 1 });
        const plays = await w.query('SELECT song_id, artist_id, source_key FROM songplays');
        expect(plays.rows).toEqual([{ song_id: 'SOLINE1', artist_id: 'ARLINE1', source_key: null }]);
      });
    } finally {
      await warehouse.dispose();
    }
  });
});
