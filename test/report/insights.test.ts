/**
 * The insight queries (src/load/insight-queries.ts): valid on Redshift by the rules of its docs, and the same
 * answers on PGlite and PostgreSQL for the shipped sample (data/) and the public sample (fixtures/samples).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insightQueries } from '../../src/load/insight-queries.js';
import { postgresDialect } from '../../src/load/queries.js';
import { redshiftDialect } from '../../src/load/redshift/redshift-dialect.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { formatInsights, insightsJson, runInsights, type InsightResult } from '../../src/report/insights.js';
import { violations } from '../load/redshift/conformance/redshift-rules.js';
import { FIXTURES, REPO_ROOT, removeTempDirs, runPgTests, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const progress = createProgress(process.stderr, true);
const PG = await runPgTests();

afterAll(removeTempDirs);

describe('insight queries on Redshift', () => {
  // As the Redshift engine sends them (the PostgreSQL dialect's COLLATE "C" is not for Redshift).
  it('break none of the Redshift rules', async () => {
    const statements = insightQueries(redshiftDialect).map((q) => ({ sql: q.sql, params: [], session: 'main' }));
    expect(statements.length).toBeGreaterThanOrEqual(9);
    expect(await violations(statements)).toEqual([]);
  });

  it('the rules do catch a planted violation in an insight-like query', async () => {
    const planted = [{ sql: 'SELECT start_time::date AS play_date, COUNT(*) FILTER (WHERE level = \'paid\') AS paid FROM songplays GROUP BY 1', params: [], session: 'main' }];
    expect((await violations(planted)).length).toBeGreaterThan(0);
  });

  it('have unique names and say which columns they return', () => {
    const queries = insightQueries(postgresDialect);
    expect(new Set(queries.map((q) => q.name)).size).toBe(queries.length);
    for (const q of queries) {
      for (const column of [q.chart.x, ...q.chart.y].filter((c) => c !== '')) expect(q.fields, `${q.name}: ${column}`).toContain(column);
    }
  });
});

const SAMPLES = {
  'the shipped sample (data/)': { songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data') },
  'the public sample layout (fixtures/samples)': { songData: join(FIXTURES, 'samples/song_data'), logData: join(FIXTURES, 'samples/log_data') },
};

describe.each(Object.entries(SAMPLES))('etl insights on %s', (name, sources) => {
  const answers: Record<string, InsightResult[]> = {};
  const warehouses: TestWarehouse[] = [];

  beforeAll(async () => {
    const engines = PG ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
    for (const engine of engines) {
      const warehouse = await testWarehouse(engine, 'insights', { hostile: true });
      warehouses.push(warehouse);
      const report = await run({ config: warehouse.config(sources), progress });
      expect(report.status).toBe('ok');
      answers[engine] = await warehouse.use((w) => runInsights(w));
    }
  });
  afterAll(async () => {
    for (const w of warehouses) await w.dispose();
  });

  it('answers every question on PGlite, with numbers as numbers', () => {
    const pglite = answers.pglite!;
    expect(pglite.map((r) => r.name)).toEqual(insightQueries(postgresDialect).map((q) => q.name));
    const plays = pglite.find((r) => r.name === 'song_match_share')!.rows[0]!;
    expect(typeof plays.plays).toBe('number');
    expect(plays.plays).toBeGreaterThan(0);
    expect(plays.matched_plays as number + (plays.unmatched_plays as number)).toBe(plays.plays);
    const byHour = pglite.find((r) => r.name === 'plays_by_hour')!.rows;
    expect(byHour.reduce((n, r) => n + (r.plays as number), 0)).toBe(plays.plays);
    expect(formatInsights(pglite)).toContain('Most played songs (top_songs)');
    expect(Object.keys(insightsJson(pglite))).toContain('sessions_per_user');
  });

  it.runIf(PG)('gives the same answers on PGlite and PostgreSQL', () => {
    expect(answers.postgres).toEqual(answers.pglite);
  });

  if (name.startsWith('the shipped')) {
    it('matches what the sample holds', () => {
      const share = answers.pglite!.find((r) => r.name === 'song_match_share')!.rows[0]!;
      expect(share).toEqual({ plays: 2244, matched_plays: 695, unmatched_plays: 1549, matched_pct: 30.97 });
      expect(answers.pglite!.find((r) => r.name === 'plays_by_weekday')!.rows).toHaveLength(7);
    });
  }
});
