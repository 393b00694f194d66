/**
 * Contract: "The same input must give the same analytic tables on every engine, row for row."
 * The same generated input (a month of events, a share of them matching generated songs) goes through the real
 * pipeline (`run`) into PGlite and into the PostgreSQL test server; every table must hold the same rows.
 * songplay_id is left out of the songplays comparison: it is a surrogate key whose values need not agree
 * across engines (contract rule 1). The PostgreSQL database is made hostile to engine-dependent shortcuts
 * (ICU en-US collation, session time zone America/Los_Angeles).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { generate, type GenerateSummary } from '../../src/generate/generator.js';
import { createProgress } from '../../src/pipeline/progress.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { run } from '../../src/pipeline/run.js';
import {
  ALL_TABLES,
  ANALYTIC_TABLES,
  closeKeptOpen,
  removeTempDirs,
  runPgTests,
  tempDir,
  testWarehouse,
  type Dump,
  type TestWarehouse,
} from '../helpers/warehouses.js';

// PGlite warehouses stay open between the pipeline's run and the dumps (see openKeptOpen).
vi.mock('../../src/load/connect.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/load/connect.js')>();
  const { openKeptOpen } = await import('../helpers/warehouses.js');
  return { ...actual, openWarehouse: (config: Config) => openKeptOpen(config, actual.openWarehouse) };
});

const progress = createProgress(process.stderr, true);
const PG = await runPgTests();

const SONGS = 300;
const EVENTS = 20_000;

describe.runIf(PG)('PGlite and PostgreSQL on the same generated input', () => {
  let summary: GenerateSummary;
  const warehouses: TestWarehouse[] = [];
  const reports: Record<string, RunReport> = {};
  const dumps: Record<string, Dump> = {};

  beforeAll(async () => {
    const root = await tempDir('sparkify-engines-');
    const settled = await Promise.allSettled([
      generate({ dir: root, songs: SONGS, events: EVENTS, seed: 7, matchShare: 0.3 }).then((s) => void (summary = s)),
      testWarehouse('pglite', 'engines').then((w) => void warehouses.push(w)),
      testWarehouse('postgres', 'engines', { hostile: true }).then((w) => void warehouses.push(w)),
    ]);
    // Every setup step settled first, so that afterAll disposes of whatever was made.
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    warehouses.sort((a, b) => (a.engine < b.engine ? -1 : 1)); // pglite, then postgres
    const sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
    // One after the other: both runs are CPU-bound on the same machine.
    for (const warehouse of warehouses) {
      reports[warehouse.engine] = await run({ config: warehouse.config(sources), progress });
      dumps[warehouse.engine] = await warehouse.dump(ALL_TABLES);
    }
  });

  afterAll(async () => {
    await closeKeptOpen();
    await Promise.all(warehouses.map((w) => w.dispose()));
    await removeTempDirs();
  });

  it('loads every record on both engines, with plays matched to songs and plays that match none', () => {
    for (const report of Object.values(reports)) {
      expect(report.status).toBe('ok');
      expect(report.sources.songs).toMatchObject({ loaded: SONGS, rejected: 0 });
      expect(report.sources.events).toMatchObject({ loaded: EVENTS, rejected: 0 });
    }
    expect(reports.postgres!.counts).toEqual(reports.pglite!.counts);
    const plays = dumps.pglite!.songplays!;
    expect(plays).toHaveLength(summary.songPlays);
    const matched = plays.filter((r) => r.song_id !== null).length;
    expect(matched).toBeGreaterThanOrEqual(summary.matchedPlays);
    expect(matched).toBeGreaterThan(0);
    expect(matched).toBeLessThan(plays.length);
  });

  it('gives identical staging tables', () => {
    for (const table of ['staging_events', 'staging_songs'] as const) {
      expect(dumps.postgres![table]!.length, table).toBeGreaterThan(0);
      expect(dumps.postgres![table], table).toEqual(dumps.pglite![table]);
    }
  });

  it.each(ANALYTIC_TABLES.filter((t) => t !== 'songplays'))('gives identical rows in %s', (table) => {
    expect(dumps.postgres![table]!.length).toBeGreaterThan(0);
    expect(dumps.postgres![table]).toEqual(dumps.pglite![table]);
  });

  it('gives identical rows in songplays, songplay_id aside', () => {
    const withoutId = (dump: Dump) =>
      dump
        .songplays!.map(({ songplay_id: _id, ...rest }) => rest)
        .map((row) => ({ key: JSON.stringify(Object.values(row)), row }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map((r) => r.row);
    const [pglite, postgres] = [withoutId(dumps.pglite!), withoutId(dumps.postgres!)];
    expect(new Set(dumps.postgres!.songplays!.map((r) => r.songplay_id)).size).toBe(postgres.length);
    expect(postgres).toEqual(pglite);
  });
});
