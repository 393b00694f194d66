/**
 * A tiny benchmark run: every case on 3,000 events, to prove the bench works end to end. Structure only, no
 * timing assertions. The PostgreSQL cases are skipped when the server does not answer, except in CI.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CASE_IDS, PG_CASES, postgresVersion, psqlCopyLine, runBench, type BenchResult } from '../../bench/bench.js';
import { formatTable, markdownSection } from '../../bench/format.js';

const skipPg = !process.env.CI && (await postgresVersion()) === undefined;
const out = await mkdtemp(join(tmpdir(), 'sparkify-bench-test-'));

afterAll(() => rm(out, { recursive: true, force: true }));

describe('npm run bench', () => {
  let result: BenchResult;
  const ran = CASE_IDS.filter((id) => !(skipPg && PG_CASES.includes(id)));

  it('runs every case on 3,000 events and saves the result', async () => {
    result = await runBench({ events: 3000, outDir: out, append: false, build: 'if-missing', skip: skipPg ? PG_CASES : [], log: () => {} });
    expect(result.markdownFile).toBeNull();
    expect(existsSync(join(out, 'BENCHMARKS.md'))).toBe(false);
    expect(JSON.parse(await readFile(result.jsonFile, 'utf8'))).toEqual(JSON.parse(JSON.stringify(result)));
    expect(result.data).toMatchObject({ events: 3000, songs: 1000, seed: 1, cached: false });
    expect(result.data.logFiles).toBeGreaterThan(0);
    expect(result.commit).toMatch(/^([0-9a-f]{4,}(-dirty)?|unknown)$/);
    expect(result.machine.cores).toBeGreaterThan(0);
    // Scratch is removed without --keep: only the result file is left.
    expect(existsSync(result.data.dir)).toBe(false);
  }, 600_000);

  it('measures a positive time and peak RSS for every case', () => {
    expect(Object.keys(result.cases).sort()).toEqual([...ran].sort());
    expect(result.skipped).toEqual(skipPg ? PG_CASES : []);
    for (const id of ran) {
      const c = result.cases[id]!;
      expect(c.seconds, id).toBeGreaterThan(0);
      expect(c.wallSeconds, id).toBeGreaterThan(0);
      expect(c.peakRssKb, id).toBeGreaterThan(0);
      expect(c.events, id).toBeGreaterThan(0);
    }
    expect(result.cases.naive?.events ?? 30).toBe(30); // the 1% sample
    for (const id of ['extract-1', 'extract-all', 'pg-run', 'pglite-run'] as const) {
      if (result.cases[id]) expect(result.cases[id]!.steps!.length, id).toBeGreaterThanOrEqual(2);
    }
  });

  it('computes every row, ratio and check', () => {
    const ids = result.rows.map((r) => r.id);
    const expected = [
      'readline',
      'stream-json',
      'extract-1:events',
      'extract-1:songs',
      'extract-all:events',
      'extract-all:songs',
      ...(skipPg ? [] : ['psql-copy', 'pg-run:events', 'pg-run:songs', 'pg-run:transform', 'pg-run:total']),
      'pglite-copy',
      'pglite-run:events',
      'pglite-run:songs',
      'pglite-run:transform',
      'pglite-run:total',
      ...(skipPg ? [] : ['naive']),
    ];
    expect(ids).toEqual(expected);
    for (const row of result.rows) {
      expect(row.seconds, row.id).toBeGreaterThan(0);
      expect(row.peakRssKb, row.id).toBeGreaterThan(0);
      if (row.id.endsWith(':songs')) expect(row.eventsPerSecond).toBeNull();
      else expect(row.eventsPerSecond, row.id).toBeGreaterThan(0);
      if (row.floor) expect(row.ratio, row.id).toBeGreaterThan(0);
      else expect(row.ratio, row.id).toBeNull();
    }
    const floors = Object.fromEntries(result.rows.map((r) => [r.id, r.floor]));
    expect(floors).toMatchObject({ 'stream-json': 'readline', 'extract-1:events': 'readline', 'extract-all:events': 'readline', 'pglite-run:events': 'pglite-copy' });
    if (!skipPg) expect(floors).toMatchObject({ 'pg-run:events': 'psql-copy', 'pg-run:total': 'naive', 'pglite-run:total': 'naive' });

    expect(result.checks).toHaveLength(4);
    const [extractAll, extractOne, pgStage, pgNaive] = result.checks;
    expect(extractAll!.figure).toBe(result.rows.find((r) => r.id === 'extract-all:events')!.ratio);
    expect(extractOne!.figure).toBe(result.rows.find((r) => r.id === 'extract-1:events')!.ratio);
    for (const check of [extractAll!, extractOne!]) expect(['PASS', 'MISS']).toContain(check.status);
    for (const check of [pgStage!, pgNaive!]) {
      if (skipPg) expect(check).toMatchObject({ figure: null, status: 'SKIP' });
      else {
        expect(check.figure).toBeGreaterThan(0);
        expect(['PASS', 'MISS']).toContain(check.status);
      }
    }
  });

  it('prints a table and a markdown section with every row and check', () => {
    const table = formatTable(result);
    const markdown = markdownSection(result);
    for (const row of result.rows) {
      expect(table).toContain(row.label);
      expect(markdown).toContain(row.label.replaceAll('|', '\\|'));
    }
    for (const check of result.checks) expect(markdown).toContain(check.name);
    expect(markdown).toContain(result.commit);
    expect(markdown).toContain('--events 3000');
  });
});

describe('psqlCopyLine', () => {
  it("is the pipeline's COPY as a psql \\copy from a file, options included", () => {
    const line = psqlCopyLine("/tmp/it's/part-00000.csv");
    expect(line).toMatch(/^\\copy staging_events \(artist, .*, source_key, source_line\) FROM '\/tmp\/it''s\/part-00000\.csv' WITH \(FORMAT csv.*\)$/);
    expect(line).not.toContain('\n');
  });
});
