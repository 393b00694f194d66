/**
 * bench/explain-transform.ts on real warehouses: the public sample loaded by `etl run`, then every transform
 * step and check explained in one transaction that is rolled back. Structure only: which statements were
 * measured and with what, and that the warehouse is left as it was; no timing assertions.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainAll, markdown, type Measured } from '../../bench/explain-transform.js';
import { CHECK_QUERIES } from '../../src/load/check-queries.js';
import { ALL_TABLES, transformSteps } from '../../src/load/queries.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { run } from '../../src/pipeline/run.js';
import { FIXTURES, removeTempDirs, runPgTests, testWarehouse, type Dump, type TestWarehouse } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const SAMPLES = join(FIXTURES, 'samples');

afterAll(removeTempDirs);

describe.each(ENGINES)('explaining the transform and the checks on %s', (engine) => {
  let warehouse: TestWarehouse;
  let before: Dump;
  let fresh: Measured[];
  let rerun: Measured[];

  beforeAll(async () => {
    warehouse = await testWarehouse(engine, 'explain');
    const config = warehouse.config({ songData: join(SAMPLES, 'song_data'), logData: join(SAMPLES, 'log_data') });
    await run({ config, progress: createProgress(process.stderr, true) });
    before = await warehouse.dump(ALL_TABLES);
    fresh = await warehouse.use((w) => explainAll(w, { fresh: true }));
    rerun = await warehouse.use((w) => explainAll(w, { timing: false }));
  });
  afterAll(async () => warehouse?.dispose());

  const of = (measured: readonly Measured[], section: Measured['section']) => measured.filter((m) => m.section === section);

  it('runs every transform step, in order, with a plan for each that has one', async () => {
    const steps = await warehouse.use(async (w) => transformSteps(w.dialect));
    expect(of(fresh, 'transform').map((m) => m.name)).toEqual(steps.map((s) => s.name));
    for (const m of of(fresh, 'transform')) {
      const planned = /^\s*(SELECT|INSERT|UPDATE|DELETE|MERGE|CREATE TEMP TABLE)/i.test(m.sql);
      expect(m.plan !== undefined, m.name).toBe(planned);
      if (m.plan) expect(m.plan, m.name).toMatch(/actual (time|rows)=/);
    }
  });

  it('sends the checks as runChecks does: enforced keys from the catalog, every other check explained', () => {
    const checks = of(fresh, 'checks');
    const explained = checks.filter((m) => m.plan).map((m) => m.name);
    // The primary keys' checks; (session_id, item_in_session) has no unique index and is scanned.
    const fromCatalog = CHECK_QUERIES.filter((q) => q.uniqueKey !== undefined && q.uniqueKey.length === 1).map((q) => q.name);
    expect(fromCatalog).toHaveLength(5);
    expect(explained).toEqual(CHECK_QUERIES.map((q) => q.name).filter((n) => !fromCatalog.includes(n)));
    expect(checks.filter((m) => !m.plan).map((m) => m.name)).toEqual(['songplays', 'users', 'songs', 'artists', 'time'].map((t) => `catalog: unique indexes of ${t}`));
  });

  it('empties what the transform fills first when fresh, and merges into it otherwise', () => {
    expect(fresh[0]!.sql).toMatch(/^TRUNCATE songplays, users, songs, artists, time, load_ledger/);
    expect(rerun.some((m) => m.sql.startsWith('TRUNCATE'))).toBe(false);
    // Per-node timing off: rows and buffers, no times.
    const plan = of(rerun, 'transform').find((m) => m.name === 'pick staged plays')!.plan!;
    expect(plan).toMatch(/actual rows=/);
    expect(plan).not.toMatch(/actual time=/);
  });

  it('leaves every table as it was', async () => {
    expect(await warehouse.dump(ALL_TABLES)).toEqual(before);
  });

  it('writes a markdown report: totals per section, a row per statement, then the plans', () => {
    const text = markdown(fresh, 'Plans: test', ['engine: test']);
    expect(text).toMatch(/^# Plans: test\n\n- engine: test\n/);
    expect(text).toContain('| transform | ');
    expect(text.match(/^\| \d+ \| /gm)?.length).toBe(fresh.length);
    expect(text.match(/^### \d+\. /gm)?.length).toBe(fresh.filter((m) => m.plan).length);
  });
});
