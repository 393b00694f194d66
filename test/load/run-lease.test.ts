/**
 * The run lock of the server engines, a lease row in etl_run_lock (src/load/run-lease.ts), on a real
 * PostgreSQL server: the same SQL Redshift gets (the conformance suite checks it there). Two commands
 * cannot both hold it; a lease expires when its holder stops renewing it and is then taken over with a
 * notice; on PostgreSQL a holder whose connection has ended loses it at once; and two real `etl run`
 * processes on one database: the second stops with one line naming the first, and nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtlError } from '../../src/errors.js';
import { PgSession } from '../../src/load/postgres/pg-session.js';
import { postgresDialect } from '../../src/load/queries.js';
import { RunLease, type LeaseOptions } from '../../src/load/run-lease.js';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { generate } from '../../src/generate/generator.js';
import { pgClient, REPO_ROOT, removeTempDirs, runPgTests, tempDir, testWarehouse, type TestWarehouse } from '../helpers/warehouses.js';
import { join } from 'node:path';

const PG = await runPgTests();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SHIPPED = { songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data') };

describe.runIf(PG)('the run lock (lease) on PostgreSQL', () => {
  let warehouse: TestWarehouse;
  const open = () => PgSession.connect('PostgreSQL', warehouse.config(SHIPPED).cluster, false);
  const take = async (holder: string, options: Partial<LeaseOptions> = {}) =>
    RunLease.take(await open(), 'the test database', { command: 'etl run', ttlMs: 60_000, holder, liveSession: postgresDialect.liveSession, ...options });
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected the lease to be refused');
      },
      (error: unknown) => {
        expect(error).toBeInstanceOf(EtlError);
        return (error as EtlError).message;
      },
    );

  beforeAll(async () => {
    await ensureBuilt();
    warehouse = await testWarehouse('postgres', 'lease');
  });
  afterAll(async () => {
    await warehouse?.dispose();
    await removeTempDirs();
  });

  it('is held by one command at a time, and free again once released', async () => {
    const first = await take('host-a:1:first');
    const message = await refusal(take('host-b:2:second'));
    expect(message).toMatch(
      /^Another etl command \(etl run, host-a:1:first\) has held the run lock on the test database since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: wait for it to finish; if that process is gone, its lease expires at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC and the next command takes it over$/,
    );
    await first.release();
    const second = await take('host-b:2:second');
    await second.release();
  });

  it('is renewed while its holder works, past its first expiry', async () => {
    const holder = await take('host-a:1:renewing', { ttlMs: 1_500, renewMs: 300 });
    await sleep(2_500);
    await refusal(take('host-b:2:late'));
    holder.check();
    await holder.release();
  });

  it('expires when its holder stops renewing it, and is taken over with a notice; the old holder learns it lost it', async () => {
    const stalled = await take('host-a:1:stalled', { ttlMs: 1_000, renewMs: 60_000 });
    await sleep(1_300);
    const notices: string[] = [];
    const next = await take('host-b:2:next', { notice: (m) => notices.push(m) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /^Took over the run lock on the test database from host-a:1:stalled \(etl run\): it stopped renewing it; its lease expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
    );
    // Its next renewal finds the lease gone.
    await (stalled as unknown as { renew(): Promise<void> }).renew();
    expect(() => stalled.check()).toThrow('The run lock on the test database expired and was taken over by another etl command while this one worked');
    await stalled.release();
    await next.release();
  });

  it('is free at once on PostgreSQL when its holder\'s connection has ended (a killed process)', async () => {
    const session = await open();
    await RunLease.take(session, 'the test database', { command: 'etl run', ttlMs: 600_000, holder: 'host-a:1:killed' });
    await session.close(); // as a SIGKILL does: no release
    const notices: string[] = [];
    const next = await take('host-b:2:after', { notice: (m) => notices.push(m) });
    expect(notices[0]).toBe('Took over the run lock on the test database from host-a:1:killed (etl run): its connection has ended');
    await next.release();
  });

  it('is given back when `etl run` is interrupted (SIGINT): exit 130, no lease left behind', async () => {
    const config = warehouse.config(SHIPPED);
    let sent = false;
    const outcome = await etl(config, ['run'], (line, child) => {
      // The first progress line comes once the lease is held and extract has begun.
      if (!sent && /song_data|log_data/.test(line)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(outcome.code, outcome.stderr).toBe(130);
    expect(outcome.stderr).toContain('etl: interrupted (SIGINT)');
    const leases = await warehouse.use((w) => w.query('SELECT COUNT(*) AS n FROM etl_run_lock'));
    expect(leases.rows[0]!.n).toBe(0);
  });

  it('lets one of two concurrent `etl run`s through; the other stops with one line and loses nothing', async () => {
    // A batch large enough that the first run is still working when the second starts, on a database of its own.
    const data = join(await tempDir('sparkify-lease-'), 'data');
    await generate({ dir: data, songs: 500, events: 200_000, seed: 11, matchShare: 0.3, month: '2018-11' });
    const own = await testWarehouse('postgres', 'lease_race');
    const config = own.config({ songData: join(data, 'song_data'), logData: join(data, 'log_data') });
    // The second starts once the first holds the lease.
    const first = etl(config, ['run']);
    const client = await pgClient(config.cluster.database);
    try {
      for (let i = 0; i < 200; i++) {
        const held = await client.query(`SELECT COUNT(*) AS n FROM etl_run_lock`).catch(() => ({ rows: [{ n: '0' }] }));
        if (Number(held.rows[0]!.n) > 0) break;
        await sleep(50);
      }
    } finally {
      await client.end();
    }
    const second = await etl(config, ['run']);
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr.trim()).toMatch(/^etl: Another etl command \(etl run, [^)]+\) has held the run lock on PostgreSQL at [^ ]+ since .* UTC and the next command takes it over$/);
    // The first loaded everything; nothing was skipped: a third run finds every object in the ledger.
    const counts = await own.use((w) => w.query('SELECT (SELECT COUNT(*) FROM songplays) AS plays, (SELECT COUNT(*) FROM load_ledger) AS objects, (SELECT COUNT(*) FROM etl_run_lock) AS leases'));
    expect(counts.rows[0]).toMatchObject({ objects: 530, leases: 0 });
    const third = await etl(config, ['run']);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/0 objects/);
    const after = await own.use((w) => w.query('SELECT (SELECT COUNT(*) FROM songplays) AS plays'));
    expect(after.rows[0]!.plays).toBe(counts.rows[0]!.plays);
    await own.dispose();
  });
});
