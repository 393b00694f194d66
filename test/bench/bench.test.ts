/**
 * A tiny benchmark run: every case on 3,000 events, two rounds, to prove the bench works end to end (medians,
 * spreads, per-round ratios, targets). Structure only, no timing assertions. The PostgreSQL cases are skipped
 * when the server does not answer, except in CI.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildChecks, buildRows, CASE_IDS, PG_CASES, postgresVersion, psqlCopyLine, runBench, type BenchResult, type CaseResult } from '../../bench/bench.js';
import { formatTable, markdownSection } from '../../bench/format.js';
import { median } from '../../bench/stats.js';

const skipPg = !process.env.CI && (await postgresVersion()) === undefined;
const out = await mkdtemp(join(tmpdir(), 'sparkify-bench-test-'));
const ROUNDS = 2;

afterAll(() => rm(out, { recursive: true, force: true }));

describe('npm run bench', () => {
  let result: BenchResult;
  const ran = CASE_IDS.filter((id) => !(skipPg && PG_CASES.includes(id)));

  it('runs every case on 3,000 events, in rounds, and saves the result', async () => {
    result = await runBench({
      events: 3000,
      repeat: ROUNDS,
      smallObjects: 60,
      latencyMs: 5,
      outDir: out,
      append: false,
      build: 'if-missing',
      skip: skipPg ? PG_CASES : [],
      log: () => {},
    });
    expect(result.markdownFile).toBeNull();
    expect(existsSync(join(out, 'BENCHMARKS.md'))).toBe(false);
    expect(JSON.parse(await readFile(result.jsonFile, 'utf8'))).toEqual(JSON.parse(JSON.stringify(result)));
    expect(result.data).toMatchObject({ events: 3000, songs: 1000, seed: 1, cached: false });
    expect(result.data.logFiles).toBeGreaterThan(0);
    expect(result.commit).toMatch(/^([0-9a-f]{4,}(-dirty)?|unknown)$/);
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result).toMatchObject({ repeat: ROUNDS, naiveSampleEvery: 100, unavailable: {} });
    // Scratch is removed without --keep: only the result file is left.
    expect(existsSync(result.data.dir)).toBe(false);
  }, 900_000);

  it('keeps every repetition of every case, and reports their medians', () => {
    expect(Object.keys(result.cases).sort()).toEqual([...ran].sort());
    expect(result.skipped).toEqual(skipPg ? PG_CASES : []);
    for (const id of ran) {
      const c = result.cases[id]!;
      expect(c.samples, id).toHaveLength(ROUNDS);
      for (const s of c.samples) {
        expect(s.seconds, id).toBeGreaterThan(0);
        expect(s.wallSeconds, id).toBeGreaterThan(0);
        expect(s.peakRssKb, id).toBeGreaterThan(0);
      }
      expect(c.seconds, id).toBeCloseTo(median(c.samples.map((s) => s.seconds)), 5);
      expect(c.peakRssKb, id).toBeCloseTo(median(c.samples.map((s) => s.peakRssKb)), 5);
      if (id !== 'pglite-init') expect(c.events, id).toBeGreaterThan(0);
    }
    // The naive baselines: a 1% sample, with and without the songs to look up.
    for (const id of ['naive', 'naive-empty'] as const) {
      if (!result.cases[id]) continue;
      expect(result.cases[id].events).toBe(30);
      expect(result.cases[id].label).toContain('1/100 sample');
    }
    if (result.cases.naive) expect(result.cases.naive.detail.songsLoaded).toBe(1000);
    if (result.cases['naive-empty']) expect(result.cases['naive-empty'].detail).toMatchObject({ songsLoaded: 0, matched: 0 });
    expect(result.cases['small-objects']!.events).toBe(60);
    expect(result.cases['small-objects']!.detail).toMatchObject({ latencyMs: 5 });
    for (const id of ['extract-1', 'extract-all', 'pg-run', 'pglite-run'] as const) {
      if (result.cases[id]) expect(result.cases[id].steps!.length, id).toBeGreaterThanOrEqual(2);
    }
  });

  it('computes every row, its spread and its per-round ratio', () => {
    const ids = result.rows.map((r) => r.id);
    const run = (engine: string) => [`${engine}:events`, `${engine}:songs`, `${engine}:transform`, `${engine}:check`, `${engine}:total`];
    expect(ids).toEqual([
      'readline',
      'stream-json',
      'songs-floor',
      'floors:events+songs',
      'pglite-init',
      'extract-1:events',
      'extract-1:songs',
      'extract-all:events',
      'extract-all:songs',
      'extract-all:process',
      ...(skipPg ? [] : ['psql-copy']),
      'pglite-copy',
      ...(skipPg ? [] : ['naive', 'naive-empty', ...run('pg-run')]),
      ...run('pglite-run'),
      'small-objects',
    ]);
    for (const row of result.rows) {
      expect(row.seconds, row.id).toBeGreaterThan(0);
      expect(row.secondsSpread.min, row.id).toBeLessThanOrEqual(row.seconds);
      expect(row.secondsSpread.max, row.id).toBeGreaterThanOrEqual(row.seconds);
      expect(row.peakRssKb, row.id).toBeGreaterThan(0);
      const rateless = row.id.endsWith(':songs') || row.id === 'songs-floor' || row.id === 'pglite-init';
      if (rateless) expect(row.eventsPerSecond, row.id).toBeNull();
      else expect(row.eventsPerSecond, row.id).toBeGreaterThan(0);
      if (row.floor) {
        expect(row.ratio, row.id).toBeGreaterThan(0);
        expect(row.ratioSpread!.min, row.id).toBeLessThanOrEqual(row.ratio!);
      } else expect(row.ratio, row.id).toBeNull();
    }
    const floors = Object.fromEntries(result.rows.map((r) => [r.id, r.floor]));
    expect(floors).toMatchObject({
      'stream-json': 'readline',
      'extract-1:events': 'readline',
      'extract-all:events': 'readline',
      'extract-all:songs': 'songs-floor',
      'extract-all:process': 'floors:events+songs',
      'pglite-run:events': 'pglite-copy',
    });
    if (!skipPg) expect(floors).toMatchObject({ 'pg-run:events': 'psql-copy', 'pg-run:total': 'naive-empty', 'pglite-run:total': 'pg-run:total' });
    // The floors' sum is taken round by round.
    const sum = result.rows.find((r) => r.id === 'floors:events+songs')!;
    const perRound = result.cases.readline!.samples.map((s, i) => s.seconds + result.cases['songs-floor']!.samples[i]!.seconds);
    expect(sum.seconds).toBeCloseTo(median(perRound), 5);
  });

  it('reads every target of issue 12 from the rows', () => {
    const names = result.checks.map((c) => c.name);
    expect(names).toHaveLength(10);
    const check = (start: string) => result.checks.find((c) => c.name.startsWith(start))!;
    const row = (id: string) => result.rows.find((r) => r.id === id)!;
    expect(check('etl extract events step, all workers').figure).toBe(row('extract-all:events').ratio);
    expect(check('etl extract events step, 1 worker').figure).toBe(row('extract-1:events').ratio);
    expect(check('whole etl extract process').figure).toBe(row('extract-all:process').ratio);
    expect(check('etl run on PGlite, peak RSS').figure).toBeCloseTo(row('pglite-run:total').peakRssKb / 1024, 3);
    expect(check('many small objects').figure).toBeCloseTo(row('small-objects').eventsPerSecond!, 5);
    for (const c of result.checks) {
      if (skipPg && /PostgreSQL/.test(c.name)) {
        expect(c, c.name).toMatchObject({ figure: null, status: 'SKIP' });
        continue;
      }
      expect(['MET', 'MISSED'], c.name).toContain(c.status);
      expect(c.margin, c.name).toMatch(c.status === 'MET' ? /^met with / : /^missed by /);
    }
    // At 3,000 events the targets set at 1M say so.
    expect(check('etl run on PGlite, peak RSS').note).toContain('the target is set at 1,000,000 events; this run has 3,000');
  });

  it('prints a table and a markdown section with every row, check and note', () => {
    const table = formatTable(result);
    const markdown = markdownSection(result);
    for (const row of result.rows) {
      expect(table).toContain(row.label);
      expect(markdown).toContain(row.label.replaceAll('|', '\\|'));
    }
    for (const check of result.checks) expect(markdown).toContain(check.name);
    for (const text of [table, markdown]) {
      expect(text).toContain(`${ROUNDS} rounds: each runs every case once`);
      expect(text).toContain('The naive baselines run on a 1/100 sample of the events');
    }
    expect(markdown).toContain(result.commit);
    expect(markdown).toContain('--events 3000');
    expect(markdown).toContain('--repeat 2');
  });
});

describe('rows and targets from given samples', () => {
  const sample = (seconds: number, extra: Partial<CaseResult['samples'][number]> = {}) => ({ wallSeconds: seconds, peakRssKb: 1024 * 100, seconds, detail: {}, ...extra });
  const caseOf = (id: CaseResult['id'], events: number, samples: CaseResult['samples']): CaseResult => ({
    id,
    label: id,
    command: id,
    rssMethod: 'test',
    events,
    wallSeconds: median(samples.map((s) => s.wallSeconds)),
    peakRssKb: median(samples.map((s) => s.peakRssKb)),
    seconds: median(samples.map((s) => s.seconds)),
    detail: {},
    samples,
  });

  it('takes each ratio round by round, and the median of those', () => {
    // Round 2's floor is slow: its ratio is low; the median of the three rounds is round 1's.
    const readline = caseOf('readline', 1000, [sample(2), sample(4), sample(2)]);
    const steps = (events: number) => [{ name: 'extract events', seconds: events }, { name: 'extract songs', seconds: 1 }];
    const extract = caseOf('extract-all', 1000, [sample(3, { steps: steps(3) }), sample(3, { steps: steps(3) }), sample(5, { steps: steps(5) })]);
    const rows = buildRows({ readline, 'extract-all': extract });
    const events = rows.find((r) => r.id === 'extract-all:events')!;
    expect(events.ratioSpread).toEqual({ median: 1.5, min: 0.75, max: 2.5 });
    expect(events.secondsSpread).toEqual({ median: 3, min: 3, max: 5 });
    const [all] = buildChecks(rows, 1000);
    expect(all).toMatchObject({ figure: 1.5, status: 'MISSED', margin: 'missed by 0.50 (50% over)' });
  });

  it('reads an events/s target as met with what it has to spare', () => {
    const pg = caseOf('pg-run', 1_000_000, [sample(10), sample(12), sample(11)]);
    const checks = buildChecks(buildRows({ 'pg-run': pg }), 1_000_000);
    const eps = checks.find((c) => c.name.startsWith('etl run on PostgreSQL, events/s'))!;
    expect(eps).toMatchObject({ op: '>=', target: 66_000, status: 'MET', margin: 'met with 24909 events/s (38% to spare)' });
    expect(eps.figure).toBeCloseTo(1_000_000 / 11, 3);
    expect(eps.note).toBeUndefined();
    expect(checks.find((c) => c.name.startsWith('etl run on PostgreSQL, peak RSS'))).toMatchObject({ figure: 100, status: 'MET' });
  });
});

describe('psqlCopyLine', () => {
  it("is the pipeline's COPY as a psql \\copy from a file, options included", () => {
    const line = psqlCopyLine("/tmp/it's/part-00000.csv");
    expect(line).toMatch(/^\\copy staging_events \(artist, .*, source_key, source_line\) FROM '\/tmp\/it''s\/part-00000\.csv' WITH \(FORMAT csv.*\)$/);
    expect(line).not.toContain('\n');
  });
});
