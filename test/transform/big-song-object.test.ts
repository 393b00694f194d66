/**
 * A song object far bigger than a block streams through the parser threads in blocks cut between values
 * (issue 14 item 10: a 45 MB file of 160k JSON-lines songs was handed to one thread whole, which ran out of its
 * 64 MB heap, ERR_WORKER_OUT_OF_MEMORY, naming no file). 200,000 short songs, 15 MB (the old code's thread
 * died on this file; 150,000 still passed), are extracted and staged on PGlite and PostgreSQL: every valid
 * record is a staging row on its own line, the two bad ones are rejected on theirs.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/pipeline/progress.js';
import { extract, stage } from '../../src/pipeline/run.js';
import { removeTempDirs, runPgTests, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const progress = createProgress(process.stderr, true);

const COUNT = 200_000;
const KEY = 'A/B/C/TRABCBIG128F4290001.json';
/** Lines (1-based) holding a bad record: no song_id, and a title too long for VARCHAR(512). */
const MISSING_ID = 77_777;
const LONG_TITLE = 150_001;

const song = (i: number): string => {
  if (i === MISSING_ID) return `{"artist_id":"AR${i % 97}","title":"t${i}","artist_name":"n"}`;
  const title = i === LONG_TITLE ? 'x'.repeat(513) : `t${i}`;
  return `{"song_id":"SO${i}","artist_id":"AR${i % 97}","title":"${title}","artist_name":"n","year":${1950 + (i % 70)}}`;
};

let sources: { songData: string; logData: string };
let bytes = 0;

beforeAll(async () => {
  const root = await tempDir('sparkify-big-song-');
  sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
  await mkdir(join(sources.songData, 'A/B/C'), { recursive: true });
  await mkdir(join(sources.logData, '2018/11'), { recursive: true });
  const text = Array.from({ length: COUNT }, (_, i) => song(i + 1)).join('\n') + '\n';
  bytes = Buffer.byteLength(text);
  await writeFile(join(sources.songData, KEY), text);
  await writeFile(
    join(sources.logData, '2018/11/2018-11-01-events.json'),
    '{"ts":1541106106796,"sessionId":1,"itemInSession":0,"page":"Home","userId":""}\n',
  );
});
afterAll(removeTempDirs);

describe.each(ENGINES)('a %s load of one song object of 200,000 songs', (engine) => {
  let warehouse: TestWarehouse;

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'big_song');
  });
  afterAll(async () => warehouse?.dispose());

  it('stages every valid song with its line; the two bad ones are rejected on their lines', async () => {
    expect(bytes).toBeGreaterThan(15_000_000);
    const config = warehouse.config(sources);
    const extracted = await extract({ config, progress });
    expect(extracted.status).toBe('ok');
    expect(extracted.sources.songs).toMatchObject({ objects: 1, records: COUNT, loaded: COUNT - 2, rejected: 2 });
    const rejects = (await readFile(extracted.rejectsFile!, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rejects).toEqual([
      { kind: 'songs', source: KEY, line: MISSING_ID, reason: 'missing required field song_id', raw: song(MISSING_ID) },
      { kind: 'songs', source: KEY, line: LONG_TITLE, reason: 'title: field too long for Redshift VARCHAR(512) (513 bytes)', raw: song(LONG_TITLE) },
    ]);

    const staged = await stage({ config, progress });
    expect(staged.status).toBe('ok');
    const summary = await warehouse.use((w) =>
      w.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT source_line) AS lines, MIN(source_line) AS first, MAX(source_line) AS last,
        SUM(CASE WHEN song_id = 'SO' || CAST(source_line AS VARCHAR(16)) THEN 1 ELSE 0 END) AS on_their_line FROM staging_songs`),
    );
    expect(summary.rows[0]).toEqual({ n: COUNT - 2, lines: COUNT - 2, first: 1, last: COUNT, on_their_line: COUNT - 2 });
    const sample = await warehouse.use((w) =>
      w.query(`SELECT song_id, artist_id, title, artist_name, year, source_key, source_line FROM staging_songs WHERE source_line IN (1, 77776, 77778, 200000) ORDER BY source_line`),
    );
    expect(sample.rows).toEqual(
      [1, 77_776, 77_778, COUNT].map((i) => ({ song_id: `SO${i}`, artist_id: `AR${i % 97}`, title: `t${i}`, artist_name: 'n', year: 1950 + (i % 70), source_key: KEY, source_line: i })),
    );
  });
});
