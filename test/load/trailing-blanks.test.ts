/**
 * Contract rule 7, trailing blanks: Redshift ignores trailing blanks when it compares VARCHARs ("Character
 * types"), so every engine does, and gives the rows Redshift gives. fixtures/trailing-blanks:
 *
 * song_data  SOBLANK...0001 "Blank Title  " by "Blank Artist ", location "   " (blanks only)
 *            SOBLANK...0002 a song_id ending in a blank: rejected (as a key it would be one id on Redshift, two elsewhere)
 *            SOBLANK...0003 "Plain Title" by "Plain Artist", location "Leeds "
 * log_data   user 70 plays "Blank Title" by "Blank Artist" (free), then "Plain Title " by "Plain Artist " on page
 *            "NextSong " (paid "); a logged-out NextSong with userId "".
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run } from '../../src/pipeline/run.js';
import { FIXTURES, removeTempDirs, runPgTests, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const SOURCES = { songData: join(FIXTURES, 'trailing-blanks/song_data'), logData: join(FIXTURES, 'trailing-blanks/log_data') };
const progress = createProgress(process.stderr, true);
const dumps: Partial<Record<(typeof ENGINES)[number], Dump>> = {};

afterAll(removeTempDirs);

describe.each(ENGINES)('trailing blanks on %s', (engine) => {
  let warehouse: TestWarehouse;
  let report: RunReport;
  let dump: Dump;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'blanks');
    report = await run({ config: warehouse.config(SOURCES), progress });
    dump = await warehouse.dump(['songplays', 'users', 'songs', 'artists'], { songplays: ['songplay_id'] });
    dumps[engine] = dump;
  });
  afterAll(async () => warehouse?.dispose());

  it('rejects a key that ends in a blank, naming the field', () => {
    expect(report.sources.songs?.rejected).toBe(1);
    expect(Object.keys(report.sources.songs?.reasons ?? {})).toEqual(['song_id: ends in a blank, which Redshift ignores when comparing keys']);
  });

  it('matches a play to its song whatever trailing blanks title and artist carry', () => {
    const plays = dump.songplays!.map((p) => [p.item_in_session, p.song_id, p.artist_id]);
    expect(plays).toEqual([
      [0, 'SOBLANK12A8C130001', 'ARBLANK1187B9A0001'],
      [1, 'SOBLANK12A8C130003', 'ARBLANK1187B9A0003'],
    ]);
  });

  it('counts page "NextSong " as a play, and not a play without a user', () => {
    expect(dump.songplays!.map((p) => p.user_id)).toEqual([70, 70]);
  });

  it('takes a location of blanks only as empty (NULL), and keeps other values as they are', () => {
    expect(dump.artists!.map((a) => [a.artist_id, a.location])).toEqual([
      ['ARBLANK1187B9A0001', null],
      ['ARBLANK1187B9A0003', 'Leeds '],
    ]);
    expect(dump.songs!.find((s) => s.song_id === 'SOBLANK12A8C130001')?.title).toBe('Blank Title  ');
  });

  it('passes the level check with "paid " (Redshift compares it equal to paid)', () => {
    expect(dump.users!.map((u) => [u.user_id, u.level])).toEqual([[70, 'paid ']]);
    expect(report.status).toBe('ok');
    expect(report.checks?.every((c) => c.passed)).toBe(true);
  });
});

describe.runIf(ENGINES.length > 1)('trailing blanks on every engine', () => {
  it('give the same rows on PGlite and PostgreSQL', () => {
    expect(dumps.postgres).toEqual(dumps.pglite);
  });
});
