/**
 * The plans of the transform and the quality checks: `tsx bench/explain-transform.ts -c CONFIG [--label L]
 * [--fresh] [--no-timing] [--serial] [--only transform|checks] [--out FILE]`.
 *
 * Against a warehouse whose staging tables hold a batch (`etl stage`, or after `etl run`), runs every
 * transform step (src/load/queries.ts transformSteps), the post-transform row counts and every quality check
 * (src/load/check-queries.ts) in one transaction, each statement that has a plan under EXPLAIN (ANALYZE,
 * BUFFERS), the others (SET, DROP, ANALYZE) as they are, then ROLLS BACK: the warehouse is left as it was.
 * `--fresh` first empties every table the transform fills (analytic, ledger, ...) inside that transaction (a
 * first load); without it the batch is merged into what the tables hold (on a warehouse that loaded it
 * already: a re-run). Tables of this version that the warehouse lacks are created first, as a run does.
 *
 * Writes a markdown file (default bench/plans/<engine>-<label>.md): a table of each statement's time, then
 * each plan. Times are wall times seen by the client, the executor's own `Execution Time`, and CPU time
 * (PostgreSQL on this machine: the backend's, from /proc; PGlite: this process's), which other load on the
 * machine disturbs less; `--serial` keeps parallel workers (whose CPU is not seen) out. EXPLAIN ANALYZE's
 * per-node timing adds overhead (`--no-timing` turns it off, keeping row counts and buffers).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { loadConfig } from '../src/config/config.js';
import { CHECK_QUERIES } from '../src/load/check-queries.js';
import { openWarehouse } from '../src/load/connect.js';
import { ensureTables } from '../src/load/load-steps.js';
import { ANALYTIC_TABLES, countRows, TABLES, transformSteps } from '../src/load/queries.js';
import { runChecks } from '../src/load/quality-checks.js';
import type { Warehouse } from '../src/load/warehouse.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Statements EXPLAIN takes: the rest (SET, DROP, ANALYZE, TRUNCATE) run as they are. */
const EXPLAINABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|MERGE|CREATE\s+TEMP\s+TABLE\s+\w+\s+AS)\b/i;

export interface Measured {
  readonly section: 'setup' | 'transform' | 'counts' | 'checks';
  readonly name: string;
  readonly sql: string;
  /** Wall time seen by the client, ms. */
  readonly ms: number;
  /**
   * CPU time of the process running the statement, ms: the server backend's (PostgreSQL on this machine, read
   * from /proc; parallel workers not included) or this process's (PGlite). Undefined where it cannot be seen.
   */
  readonly cpuMs?: number;
  /** The executor's `Execution Time` (+ `Planning Time`), ms, when explained. */
  readonly executionMs?: number;
  readonly planningMs?: number;
  readonly plan?: string;
}

export interface ExplainOptions {
  readonly fresh?: boolean;
  readonly timing?: boolean;
  /** No parallel workers (max_parallel_workers_per_gather = 0): then the backend's CPU time is all the work. */
  readonly serial?: boolean;
  readonly only?: 'transform' | 'checks';
  readonly log?: (line: string) => void;
}

/** What a first load starts from empty: every table but the batch's inputs (staging_*) and load_errors. */
const FILLED_BY_TRANSFORM = TABLES.filter((t) => !t.startsWith('staging_') && t !== 'load_errors');

/** Ends the transaction by rolling it back: thrown out of the work, caught around it. */
class Rollback extends Error {
  constructor(readonly measured: Measured[]) {
    super('rollback');
  }
}

const planText = (rows: readonly Record<string, unknown>[]): string => rows.map((r) => String(Object.values(r)[0])).join('\n');
const timeOf = (plan: string, what: 'Execution' | 'Planning'): number | undefined => {
  const m = new RegExp(`${what} Time: ([\\d.]+) ms`).exec(plan);
  return m ? Number(m[1]) : undefined;
};

/** CPU ms so far of whatever runs the statements, or undefined when it cannot be read. */
type CpuClock = () => Promise<number | undefined>;

/** PGlite runs in this process; a PostgreSQL backend on this machine has its /proc entry (utime + stime, in ticks). */
async function cpuClock(warehouse: Warehouse): Promise<CpuClock> {
  if (warehouse.engine === 'pglite') {
    return async () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };
  }
  const pid = Number((await warehouse.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
  const TICK_MS = 10; // USER_HZ = 100 on Linux
  // A server elsewhere: the local process of that number, if any, is not its backend.
  const local = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).startsWith('postgres');
  if (!local) return async () => undefined;
  return async () => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields ? (Number(fields[11]) + Number(fields[12])) * TICK_MS : undefined;
  };
}

async function measure(
  warehouse: Warehouse,
  clock: CpuClock,
  section: Measured['section'],
  name: string,
  sql: string,
  timing: boolean,
  explainable = EXPLAINABLE.test(sql),
): Promise<Measured & { rows: Record<string, unknown>[] }> {
  const cpu0 = await clock();
  const started = performance.now();
  const { rows } = await warehouse.query(explainable ? `EXPLAIN (ANALYZE, BUFFERS${timing ? '' : ', TIMING OFF'}) ${sql}` : sql);
  const ms = performance.now() - started;
  const cpu1 = await clock();
  const cpu = cpu0 !== undefined && cpu1 !== undefined ? { cpuMs: cpu1 - cpu0 } : {};
  if (!explainable) return { section, name, sql, ms, ...cpu, rows };
  const plan = planText(rows);
  const executionMs = timeOf(plan, 'Execution');
  const planningMs = timeOf(plan, 'Planning');
  return { section, name, sql, ms, ...cpu, rows: [], plan, ...(executionMs !== undefined ? { executionMs } : {}), ...(planningMs !== undefined ? { planningMs } : {}) };
}

/** Every statement of the transform and the checks, measured in one transaction that is rolled back. */
export async function explainAll(warehouse: Warehouse, options: ExplainOptions = {}): Promise<Measured[]> {
  const timing = options.timing !== false;
  const log = options.log ?? (() => {});
  const measured: Measured[] = [];
  const clock = await cpuClock(warehouse);
  const run = async (section: Measured['section'], name: string, sql: string) => {
    const { rows, ...m } = await measure(warehouse, clock, section, name, sql, timing);
    measured.push(m);
    log(`${section}: ${name}: ${(m.ms / 1000).toFixed(2)} s${m.cpuMs === undefined ? '' : ` (cpu ${(m.cpuMs / 1000).toFixed(2)} s)`}`);
    return rows;
  };
  // The checks as runChecks sends them: each check's statement explained, anything else (the catalog
  // queries that stand in for the scans of enforced keys) run as it is.
  const checkNames = new Map(CHECK_QUERIES.map((q) => [q.sql, q.name]));
  const checking = new Proxy(warehouse, {
    get(target, property) {
      if (property === 'query') {
        return async (sql: string, params?: readonly unknown[]) => {
          const name = checkNames.get(sql);
          if (name) return { fields: [], rows: await run('checks', name, sql) };
          const started = performance.now();
          const result = await target.query(sql, params);
          measured.push({ section: 'checks', name: `catalog: unique indexes of ${String(params?.[0])}`, sql, ms: performance.now() - started });
          return result;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  try {
    await warehouse.transaction(async () => {
      if (options.serial) await run('setup', 'no parallel workers', 'SET LOCAL max_parallel_workers_per_gather = 0');
      if (options.fresh) await run('setup', 'empty the tables the transform fills', `TRUNCATE ${FILLED_BY_TRANSFORM.join(', ')}`);
      if (options.only !== 'checks') {
        // What transformCounted does around the steps: count before, steps, count after (the run's report
        // takes those, and the staging tables' rows as loaded).
        for (const table of ANALYTIC_TABLES) await run('counts', `count ${table} (before)`, countRows(table));
        for (const step of transformSteps(warehouse.dialect)) await run('transform', step.name, step.sql);
        for (const table of ANALYTIC_TABLES) await run('counts', `count ${table} (after)`, countRows(table));
      }
      if (options.only !== 'transform') {
        // The checks run with the transform's settings (transformAndCheck: inTransaction tuned).
        if (options.only === 'checks') for (const sql of warehouse.dialect.transformSettings) await run('setup', 'settings', sql);
        await runChecks(checking);
      }
      throw new Rollback(measured);
    });
  } catch (error) {
    if (error instanceof Rollback) return error.measured;
    throw error;
  }
  return measured;
}

const seconds = (ms: number | undefined): string => (ms === undefined ? '' : (ms / 1000).toFixed(3));
const sum = (ms: readonly Measured[], of: (m: Measured) => number | undefined = (m) => m.ms): number => ms.reduce((a, m) => a + (of(m) ?? 0), 0);

/** The markdown report: totals per section, a table of statements, then each plan. */
export function markdown(measured: readonly Measured[], heading: string, context: readonly string[]): string {
  const sections = ['setup', 'counts', 'transform', 'checks'] as const;
  const lines = [`# ${heading}`, '', ...context.map((c) => `- ${c}`), ''];
  lines.push('| section | statements | wall s | cpu s |', '|---|---:|---:|---:|');
  for (const s of sections) {
    const of = measured.filter((m) => m.section === s);
    if (of.length > 0) lines.push(`| ${s} | ${of.length} | ${seconds(sum(of))} | ${seconds(sum(of, (m) => m.cpuMs))} |`);
  }
  lines.push('', '| # | section | statement | wall s | cpu s | execution s |', '|---:|---|---|---:|---:|---:|');
  measured.forEach((m, i) => lines.push(`| ${i + 1} | ${m.section} | ${m.name.replace(/\|/g, '\\|')} | ${seconds(m.ms)} | ${seconds(m.cpuMs)} | ${seconds(m.executionMs)} |`));
  lines.push('', '## Plans', '');
  measured.forEach((m, i) => {
    if (!m.plan) return;
    lines.push(`### ${i + 1}. ${m.section}: ${m.name}`, '', '```', m.plan, '```', '');
  });
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('explain-transform')
    .requiredOption('-c, --config <path>', 'config file of the warehouse (staging loaded)')
    .option('--label <name>', 'names the output file and heading', 'plans')
    .option('--fresh', 'empty the tables the transform fills first (inside the rolled-back transaction): a first load')
    .option('--no-timing', 'EXPLAIN without per-node timing (less overhead; rows and buffers stay)')
    .option('--serial', 'no parallel workers: the CPU column is then all of the work')
    .option('--only <part>', 'transform or checks')
    .option('--out <file>', 'markdown file (default bench/plans/<engine>-<label>.md)')
    .parse(argv);
  const opts = program.opts<{ config: string; label: string; fresh?: boolean; timing: boolean; serial?: boolean; only?: 'transform' | 'checks'; out?: string }>();
  const config = loadConfig(opts.config);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const warehouse = await openWarehouse(config, log);
  try {
    // As a run does first: tables this version has and the warehouse lacks are created (empty).
    await ensureTables(warehouse);
    const [{ rows: version }, { rows: staged }] = [await warehouse.query('SELECT version() AS v'), await warehouse.query(countRows('staging_events'))];
    const measured = await explainAll(warehouse, { fresh: opts.fresh ?? false, timing: opts.timing, serial: opts.serial ?? false, ...(opts.only ? { only: opts.only } : {}), log });
    const out = opts.out ?? join(REPO_ROOT, 'bench', 'plans', `${warehouse.engine}-${opts.label}.md`);
    const context = [
      `engine: ${warehouse.engine} (${String(version[0]?.v).split(' on ')[0]})`,
      `staging_events: ${Number(staged[0]?.n).toLocaleString('en-US')} rows; ${opts.fresh ? 'the tables the transform fills emptied first (first load)' : 'merged into the tables as they are'}`,
      `EXPLAIN (ANALYZE, BUFFERS${opts.timing ? '' : ', TIMING OFF'})${opts.serial ? ', no parallel workers' : ''}; cpu: the ${warehouse.engine === 'pglite' ? 'process' : 'server backend'}'s, workers not included; everything rolled back. Produced by \`tsx bench/explain-transform.ts\` at ${new Date().toISOString()}`,
    ];
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, markdown(measured, `Plans: ${warehouse.engine}, ${opts.label}`, context));
    log(`wrote ${out}`);
  } finally {
    await warehouse.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv);
}
