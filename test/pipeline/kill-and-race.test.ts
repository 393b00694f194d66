/**
 * The kill-and-race harness (issue 13), on PGlite and PostgreSQL, with the built CLI as child processes, as
 * users and schedulers run it. Every scenario starts from one warehouse loaded with the first half of the
 * month's logs (`etl run --until`), cloned; the next `etl run` loads the second half.
 *
 * - `etl run` killed (SIGKILL) as it reaches a point: extract (events being read and COPYed), stage (the end of
 *   the COPY, the staging bookkeeping), transform (inside its transaction), checks (the transform committed);
 *   then `etl run` again.
 * - Pairs of commands: the first is stopped (SIGSTOP) at a chosen point while it holds the warehouse, so the
 *   second surely runs meanwhile, then continued: run + run (started together, too), run + transform, run +
 *   query, run + create-tables (one run stopped at three points for these), create-tables + run, long query +
 *   run. The second is refused with one line naming the holder's process, or runs (a reader on PostgreSQL),
 *   or waits; the first completes.
 *
 * After each scenario a command reads the warehouse (PGlite: `etl query`, which must open the directory without a
 * notice of damage or of a lock taken over; it reads all seven tables of `etl counts` and the ledger):
 * the analytic tables and the load ledger equal a clean single run's on the same files, by content (surrogate
 * keys and load times aside). The outcomes are listed at the end (and in $ETL_TEST_ARTIFACTS/kill-and-race.md).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generate/generator.js';
import { createProgress } from '../../src/pipeline/progress.js';
import { recreateTables } from '../../src/pipeline/run.js';
import { ensureBuilt, etl, type Outcome, stepStarts } from '../helpers/cli.js';
import {
  cloneWarehouse,
  content,
  dropDatabases,
  etlBackends,
  freshWarehouse,
  holdsWarehouse,
  lastMilestone,
  onDatabase,
  Processes,
  sleep,
  sourceDone,
  waitFor,
  type Child,
  type Content,
  type RaceWarehouse,
  type Sources,
} from '../helpers/race.js';
import { removeTempDirs, runPgTests, tempDir } from '../helpers/warehouses.js';

const ENGINES = (await runPgTests()) ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
type Engine = (typeof ENGINES)[number];

/** The base load: the logs up to this day; a scenario's `etl run` loads the rest. */
const BASE_UNTIL = '2018-11-15';
/** Longer than the 10 s after which the old PGlite lock was taken from a holder that did not refresh it. */
const PAST_STALE_MS = 11_000;
/** The long query's statement: it reads an analytic and a staging table, seconds long. */
const longQuery = (seconds: number) => `SELECT pg_sleep(${seconds}) AS slept, (SELECT COUNT(*) FROM songplays) AS plays, (SELECT COUNT(*) FROM staging_events) AS staged`;

/**
 * A bound against a hang, not a measure: a scenario's few commands take seconds, but tens of seconds each on a
 * machine whose cores are all taken.
 */
const SCENARIO_MS = 300_000;

/** Where `etl run` is stopped or killed, by the line it prints there (`--log-format json`). */
const POINTS = {
  // Songs staged; the events are being read, validated and COPYed into staging_events.
  extract: (line: string) => sourceDone(line, 'song_data'),
  // The events read to their end: their COPY ends, the staging bookkeeping follows.
  stage: (line: string) => sourceDone(line, 'log_data'),
  // Inside the transform's transaction.
  transform: (line: string) => stepStarts(line, 'transform: merge songplays'),
  // The transform committed, the checks begin.
  checks: (line: string) => stepStarts(line, 'quality checks'),
} as const;
type Point = keyof typeof POINTS;

let sources: Sources;
/** What one clean `etl run` of all the files gives. */
let reference: Promise<Content>;

/** A scenario: a test that runs after the one before it in its group (a group may run beside another). */
const scenario = it.sequential;

/** Each scenario's outcome, listed at the end. */
const outcomes: { engine: Engine; scenario: string; outcome: string }[] = [];
const record = (engine: Engine, scenario: string, outcome: string) => outcomes.push({ engine, scenario, outcome });

const ok = (outcome: Outcome) => expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });

/** How a second command ended: refused by the lock (exit 1, one line naming the holder's process), ok, or failed. */
function outcomeOf(outcome: Outcome, holder: Child): string {
  if (outcome.code === 0) return 'ok';
  const message = outcome.stderr.trim();
  const refused = outcome.code === 1 && outcome.stdout === '' && /^etl: .*$/.test(message) && message.includes(String(holder.pid));
  return refused ? 'refused' : `failed (${outcome.signal ?? outcome.code}): ${message.split('\n').at(-1)}`;
}

/** A second command's outcome; `waited`: it waited for a lock of the stopped first, which was continued for it. */
type Second = Outcome & { readonly waited?: boolean };

/**
 * What went wrong in a scenario that goes on: a second command not refused is noted, and the scenario goes on
 * to show what the overlap did to the warehouse; `expectClean` asserts both at once.
 */
type Problems = string[];

/** The second command must have been refused; resolves to its outcome. */
function expectRefused(problems: Problems, second: Second, holder: Child): string {
  const result = `${second.waited ? 'waited for the first, then ' : ''}${outcomeOf(second, holder)}`;
  if (result !== 'refused') problems.push(`not refused while process ${holder.pid} held the warehouse: ${result}\n${second.stderr}${second.stdout}`);
  return result;
}

/** Each engine's warehouse for the base load, made before the engines' scenarios begin. */
const fresh = {} as Record<Engine, RaceWarehouse>;

beforeAll(async () => {
  const root = await tempDir('sparkify-race-');
  // 150 songs in 150 files, 4,000 events in 30 daily log files.
  await Promise.all([ensureBuilt(), generate({ dir: root, songs: 150, events: 4000, seed: 13, matchShare: 0.3 })]);
  sources = { songData: join(root, 'song_data'), logData: join(root, 'log_data') };
  for (const engine of ENGINES) fresh[engine] = await freshWarehouse(engine, sources, 'sparkify_race_base');
  reference = (async () => {
    const clean = await freshWarehouse(ENGINES.at(-1)!, sources, 'sparkify_race_reference');
    ok(await etl(clean.config, ['-q', 'run']));
    return content(clean);
  })();
  reference.catch(() => {});
}, SCENARIO_MS);

afterAll(async () => {
  if (outcomes.length > 0) {
    const rows = ENGINES.flatMap((engine) => outcomes.filter((o) => o.engine === engine));
    const table = ['| engine | scenario | outcome |', '|---|---|---|', ...rows.map((o) => `| ${o.engine} | ${o.scenario} | ${o.outcome} |`)].join('\n');
    const dir = process.env.ETL_TEST_ARTIFACTS ?? join(tmpdir(), 'sparkify-etl-artifacts');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'kill-and-race.md'), table + '\n');
    console.log(`kill-and-race outcomes:\n${table}`);
  }
  await dropDatabases();
  await removeTempDirs();
});

/**
 * The engines side by side, and each engine's kills beside its pairs (every scenario has a warehouse of its
 * own; no engine runs in this process to hold up its event loop); within each, one scenario after another.
 */
describe.each(ENGINES)('on %s', { concurrent: true }, (engine) => {
  let base: RaceWarehouse;
  let baseContent: Content;

  beforeAll(async () => {
    await reference;
    base = fresh[engine];
    ok(await etl(base.config, ['-q', 'run', '--until', BASE_UNTIL]));
    baseContent = await content(base);
    expect(baseContent.songplays.length).toBeGreaterThan(500);
  }, SCENARIO_MS);

  /** A new copy of the base load for one scenario; one copy at a time (a template database is copied alone). */
  let cloning: Promise<unknown> = Promise.resolve();
  const scenarioWarehouse = (): Promise<RaceWarehouse> => {
    const copy = cloning.catch(() => {}).then(() => cloneWarehouse(base, sources));
    cloning = copy;
    return copy;
  };

  /** PostgreSQL: the killed client's server process ends (rolling back) once it finds the connection gone. */
  const settled = async (warehouse: RaceWarehouse) => {
    if (engine === 'postgres') await waitFor('the killed run’s server process to end', async () => (await etlBackends(warehouse)) === 0);
  };

  /**
   * `etl ...args` while `holder` is stopped. Should it wait for a lock the holder has (a PostgreSQL table lock),
   * the holder is continued, so that both can end; the outcome says so.
   */
  async function meanwhile(processes: Processes, warehouse: RaceWarehouse, holder: Child, args: readonly string[]): Promise<Second> {
    const second = processes.start(warehouse.config, args);
    let waited = false;
    while (second.running && !waited) {
      await Promise.race([second.done, sleep(100)]);
      if (second.running && engine === 'postgres' && (await etlBackends(warehouse, true)) > 0) {
        waited = true;
        holder.signal('SIGCONT');
      }
    }
    return { ...(await second.done), waited };
  }

  /**
   * After a scenario: the warehouse opens; its tables are those of one clean run (`of`: default all the files);
   * and nothing went wrong on the way.
   */
  const expectClean = async (warehouse: RaceWarehouse, problems: Problems = [], of: Promise<Content> | Content = reference) =>
    expect({ problems, content: await content(warehouse) }).toEqual({ problems: [], content: await of });

  describe('`etl run` killed (SIGKILL), then `etl run` again', { concurrent: true }, () => {
    const processes = new Processes();
    afterEach(() => processes.stopAll());

    scenario.each(Object.keys(POINTS) as Point[])('at %s: the tables of one clean run', async (point) => {
      // A kill sent as the line comes can arrive after the run has ended (the checks take a tenth of a second,
      // and the machine may be busy): then the scenario is tried again, on a new copy.
      for (let attempt = 1; ; attempt++) {
        const warehouse = await scenarioWarehouse();
        const killed = await processes.start(warehouse.config, ['--log-format', 'json', 'run'], (line, self) => {
          if (POINTS[point](line)) self.signal('SIGKILL');
        }).done;
        if (killed.code === 0 && attempt < 3 && killed.stderr.split('\n').some(POINTS[point])) continue;
        expect(killed, `the run ended before the kill reached it:\n${killed.stderr}`).toMatchObject({ code: null, signal: 'SIGKILL', stdout: '' });
        await settled(warehouse);
        ok(await etl(warehouse.config, ['-q', 'run']));
        await expectClean(warehouse);
        const tries = attempt > 1 ? ` (attempt ${attempt}: the kill came too late before)` : '';
        record(engine, `run killed at ${point}`, `killed after ${lastMilestone(killed.stderr.split('\n'))}${tries}; run again: ok`);
        return;
      }
    }, SCENARIO_MS);
  });

  describe('two commands at once', { concurrent: true }, () => {
    const processes = new Processes();
    afterEach(() => processes.stopAll());

    scenario('run + run, started together: one runs, the other is refused (or both run, one after the other)', async () => {
      const warehouse = await scenarioWarehouse();
      const problems: Problems = [];
      const runs = [processes.start(warehouse.config, ['run']), processes.start(warehouse.config, ['run'])];
      const ends = await Promise.all(runs.map((r) => r.done));
      expect(ends.filter((o) => o.code === 0).length, ends.map((o) => o.stderr).join('\n')).toBeGreaterThanOrEqual(1);
      const results = ends.map((o, i) => (o.code === 0 ? 'ok' : expectRefused(problems, o, runs[1 - i]!)));
      await expectClean(warehouse, problems);
      record(engine, 'run + run, started together', results.join(' / '));
    }, SCENARIO_MS);

    scenario('run + run, + transform, + query, + create-tables, each while the run holds the warehouse: refused (a query on PostgreSQL reads the last commit)', async () => {
      const warehouse = await scenarioWarehouse();
      const problems: Problems = [];
      // The run is stopped at each of these points in turn; what is tried meanwhile.
      const pairs: { at: Point; scenario: string; second: (run: Child) => Promise<string> }[] = [
        {
          at: 'extract',
          scenario: `run + run (the first stopped in its extract${engine === 'pglite' ? ' for 11 s: its lock not refreshed' : ''})`,
          second: async (run) => {
            // A holder that does not refresh its lock (PGlite runs a long statement on its only thread) is alive all the same.
            if (engine === 'pglite') await sleep(PAST_STALE_MS);
            return expectRefused(problems, await meanwhile(processes, warehouse, run, ['run']), run);
          },
        },
        { at: 'stage', scenario: 'run + transform (the run stopped at the end of its staging)', second: async (run) => expectRefused(problems, await meanwhile(processes, warehouse, run, ['transform']), run) },
        {
          at: 'transform',
          scenario: 'run + query (the run stopped in its transform)',
          second: async (run) => {
            const query = await meanwhile(processes, warehouse, run, ['query', '--json', 'SELECT COUNT(*) AS n FROM songplays']);
            if (engine === 'pglite') return expectRefused(problems, query, run);
            ok(query);
            expect(query.waited).toBe(false);
            // The transform's uncommitted rows are not seen.
            expect(JSON.parse(query.stdout)).toEqual([{ n: baseContent.songplays.length }]);
            return 'ok (reads the last commit)';
          },
        },
        {
          at: 'transform',
          scenario: 'run + create-tables --yes (the run stopped in its transform)',
          second: async (run) => expectRefused(problems, await meanwhile(processes, warehouse, run, ['create-tables', '--yes']), run),
        },
      ];
      const stops = [...new Set(pairs.map((p) => p.at))];
      let next = 0;
      const run = processes.start(warehouse.config, ['--log-format', 'json', 'run'], (line, self) => {
        if (next < stops.length && POINTS[stops[next]!](line)) {
          next++;
          self.signal('SIGSTOP');
        }
      });
      const seconds: string[] = [];
      for (const at of stops) {
        // A run that ends before (it failed: its outcome says why) is stopped no more.
        if (!(await run.line(POINTS[at]).then(() => true, () => false))) break;
        try {
          for (const pair of pairs.filter((p) => p.at === at)) seconds.push(await pair.second(run));
        } finally {
          run.signal('SIGCONT');
        }
      }
      const first = await run.done;
      if (first.code !== 0) problems.push(`the run failed: ${first.stderr}`);
      pairs.forEach((pair, i) => record(engine, pair.scenario, `first ${first.code === 0 ? 'ok' : 'failed'} / second ${seconds[i] ?? 'not tried: the first had ended'}`));
      await expectClean(warehouse, problems);
    }, SCENARIO_MS);

    scenario('create-tables + run: the run is refused; the next run loads everything again', async () => {
      const warehouse = await scenarioWarehouse();
      const problems: Problems = [];
      const creating = processes.start(warehouse.config, ['create-tables', '--yes', '--all']);
      let second: string;
      try {
        await waitFor('create-tables to hold the warehouse', () => holdsWarehouse(warehouse, creating.pid));
        creating.signal('SIGSTOP');
        second = expectRefused(problems, await meanwhile(processes, warehouse, creating, ['run']), creating);
      } finally {
        creating.signal('SIGCONT');
      }
      const created = await creating.done;
      ok(created);
      expect(created.stdout).toMatch(/^Created staging_events, .* on /);
      ok(await etl(warehouse.config, ['-q', 'run']));
      await expectClean(warehouse, problems);
      record(engine, 'create-tables --yes --all + run (create-tables stopped holding the warehouse)', `first ok / second ${second}; run again: ok`);
    }, SCENARIO_MS);

    // A lease with an expiry: PostgreSQL (and Redshift); a PGlite directory is held for its holder's life.
    (engine === 'postgres' ? scenario : scenario.skip)('create-tables whose lease was taken over while it asked (the process stalled at the prompt) drops nothing', async () => {
      const warehouse = await scenarioWarehouse();
      // Renewed every 1.25 s.
      const config = { ...warehouse.config, etl: { ...warehouse.config.etl, runLockTtlSeconds: 5 } };
      const confirm = async () => {
        // Another command's now, as once the lease has expired; the holder's next renewal finds it gone.
        await onDatabase(warehouse, (c) => c.query(`UPDATE etl_run_lock SET holder = 'other-host:4242:abc', command = 'etl run'`));
        await sleep(2_000);
        return true;
      };
      await expect(recreateTables(config, { progress: createProgress(process.stderr, true), confirm })).rejects.toThrow(/^The run lock on .* expired and was taken over by another etl command/);
      expect(await content(warehouse)).toEqual(baseContent);
      record(engine, 'create-tables, its lease taken over while it asked', 'refused to drop: nothing dropped');
    }, SCENARIO_MS);

    scenario('long query + run: the run waits for the query (PostgreSQL) or is refused (PGlite), also after 11 s without a lock refresh', async () => {
      const warehouse = await scenarioWarehouse();
      const problems: Problems = [];
      const query = processes.start(warehouse.config, ['query', '--json', longQuery(engine === 'pglite' ? 2 : 4)]);
      let second: string;
      if (engine === 'pglite') {
        await waitFor('the query to hold the warehouse', () => holdsWarehouse(warehouse, query.pid));
        // Stopped, it refreshes no lock, as during a long statement (PGlite runs it on the process's only thread);
        // and the run surely comes while the query holds the directory, however busy the machine.
        query.signal('SIGSTOP');
        try {
          await sleep(PAST_STALE_MS);
          second = expectRefused(problems, await meanwhile(processes, warehouse, query, ['run']), query);
        } finally {
          query.signal('SIGCONT');
        }
      } else {
        const sleeping = `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep(%'`;
        await waitFor('the query to run', () => onDatabase(warehouse, async (c) => Number((await c.query<{ n: string }>(sleeping)).rows[0]!.n) > 0));
        const run = processes.start(warehouse.config, ['run']);
        let waited = false;
        while (query.running) {
          // The run's TRUNCATE of staging_events waits for the query reading it.
          if ((await etlBackends(warehouse, true)) > 0) waited = true;
          await sleep(100);
        }
        ok(await run.done);
        second = waited ? 'waited for the query, then ok' : 'ok';
      }
      const read = await query.done;
      ok(read);
      // The query read the base load, whatever came after it.
      expect(JSON.parse(read.stdout)).toMatchObject([{ plays: baseContent.songplays.length }]);
      // PGlite: the refused run changed nothing; PostgreSQL: the run loaded the rest.
      await expectClean(warehouse, problems, engine === 'pglite' ? baseContent : reference);
      record(engine, `long query (pg_sleep, reading songplays and staging_events${engine === 'pglite' ? '; stopped for 11 s holding the directory' : ''}) + run`, `query ok / run ${second}`);
    }, SCENARIO_MS);
  });
});
