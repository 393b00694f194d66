/**
 * `etl extract` and `etl run --dry-run` on the embedded warehouse read the load ledger through PGlite opened
 * in a thread of its own (its memory is given back before the sources are read): with the built CLI as a
 * child process, the ledger is applied as before, a directory not created yet is not created, and one that
 * cannot be opened still stops the command with one line and no run left behind.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { PgliteWarehouse } from '../../src/load/pglite/pglite-warehouse.js';
import type { RunReport } from '../../src/pipeline/report.js';
import { ensureBuilt, etl, type Outcome } from '../helpers/cli.js';
import { FIXTURES, removeTempDirs, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';

const SAMPLES = { songData: join(FIXTURES, 'samples/song_data'), logData: join(FIXTURES, 'samples/log_data') };
const ok = (outcome: Outcome) => expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });

let warehouse: TestWarehouse;
let config: Config;

/** The run folders of the work dir, oldest first. */
const runs = async () => (await readdir(join(config.etl.workDir, 'runs')).catch(() => [] as string[])).filter((n) => /^\d{8}T/.test(n)).sort();
const report = async (id: string) => JSON.parse(await readFile(join(config.etl.workDir, 'runs', id, 'report.json'), 'utf8')) as RunReport;

beforeAll(async () => {
  await ensureBuilt();
  warehouse = await testWarehouse('pglite', 'ledger_apart');
  config = warehouse.config(SAMPLES);
  ok(await etl(config, ['-q', 'run']));
}, 300_000);

afterAll(async () => {
  await warehouse?.dispose();
  await removeTempDirs();
});

describe('the ledger read apart, on PGlite', () => {
  it('etl extract skips every object etl run loaded, as the ledger says', async () => {
    ok(await etl(config, ['-q', 'extract']));
    const extracted = await report((await runs()).at(-1)!);
    expect(extracted.command).toBe('extract');
    for (const kind of ['songs', 'events'] as const) {
      const source = extracted.sources[kind]!;
      expect(source.objects, kind).toBe(0);
      expect(source.skipped.unchanged, kind).toBeGreaterThan(0);
    }
  }, 300_000);

  it('a dry run applies the ledger the same way', async () => {
    const dry = await etl(config, ['run', '--dry-run']);
    ok(dry);
    expect(dry.stdout).toMatch(/dry run/);
    expect(dry.stdout).not.toMatch(/[1-9][\d,]* records read/);
  }, 300_000);

  it('etl extract on a PGlite directory not created yet leaves it so, and extracts every object', async () => {
    const dir = join(await tempDir('sparkify-apart-'), 'pglite');
    const elsewhere: Config = { ...config, warehouse: { ...config.warehouse, pgliteDir: dir } };
    ok(await etl(elsewhere, ['-q', 'extract']));
    expect(existsSync(dir)).toBe(false);
    const extracted = await report((await runs()).at(-1)!);
    for (const kind of ['songs', 'events'] as const) expect(extracted.sources[kind]!.objects, kind).toBeGreaterThan(0);
  }, 300_000);

  it('a directory in use elsewhere stops etl extract with one line, and leaves no run', async () => {
    const before = await runs();
    const holder = await PgliteWarehouse.open(config.warehouse.pgliteDir);
    try {
      const refused = await etl(config, ['-q', 'extract']);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/^etl: The embedded warehouse at .* is in use by another etl command/);
    } finally {
      await holder.close();
    }
    expect(await runs()).toEqual(before);
  }, 300_000);
});
