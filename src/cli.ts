import { Command, InvalidArgumentError, Option } from 'commander';
import { checkFailure, formatChecks, runChecks } from './load/quality-checks.js';
import { describeConfig, loadConfig, type Config } from './config/config.js';
import { describeError, EtlError } from './errors.js';
import { generate } from './generate/generator.js';
import { openWarehouse } from './load/connect.js';
import { countTables } from './load/load-steps.js';
import { createProgress, type Progress } from './pipeline/progress.js';
import { runInterruptHooks } from './exit-hooks.js';
import { formatReport, formatRows } from './pipeline/format.js';
import { formatPlan, plannedStatements } from './pipeline/plan.js';
import { formatPreflight, preflight, preflightFailure } from './pipeline/preflight.js';
import { dryRun, extract, readReport, recreateTables, replay, run, stage, transform, type RunOptions } from './pipeline/run.js';
import type { RunReport } from './pipeline/report.js';

const integer = (name: string, min = 0) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}`);
  return Number(value);
};

interface GlobalOptions {
  config?: string;
  quiet?: boolean;
}

/** The progress displays the commands of this process opened. */
const displays: Progress[] = [];
const stopDisplays = () => {
  for (const display of displays.splice(0)) display.stop();
};

/** Builds the `etl` command line; `out` receives results (stdout), progress and messages go to stderr. */
export function buildCli(write: (text: string) => void = (t) => process.stdout.write(t)): Command {
  // Results come after the progress display has been put away, never glued onto a bar.
  const out = (text: string) => {
    stopDisplays();
    write(text);
  };
  const program = new Command('etl')
    .description('Sparkify ETL: song and event JSON from S3 or a folder -> staging -> star schema (PGlite, PostgreSQL, Redshift)')
    .option('-c, --config <path>', 'config file (INI, dwh.cfg format); default ./dwh.cfg if present')
    .option('-q, --quiet', 'no progress output')
    .showHelpAfterError()
    // Errors and --help come back to main() as exceptions instead of exiting: subcommands inherit this.
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (t) => process.stderr.write(t) });

  const configOf = (): Config => loadConfig(program.opts<GlobalOptions>().config);
  // Every display is stopped when the command ends or is interrupted: a live display left running keeps the
  // process alive and the terminal's cursor hidden.
  const progressOf = () => {
    const progress = createProgress(process.stderr, program.opts<GlobalOptions>().quiet ?? false);
    displays.push(progress);
    return progress;
  };
  const runOptions = (extra: Partial<RunOptions> = {}): RunOptions => ({ config: configOf(), progress: progressOf(), ...extra });
  const printReport = (report: RunReport) => out(formatReport(report));

  const printSql = async (command: 'create-tables' | 'run') => {
    const config = configOf();
    out(formatPlan(await plannedStatements(config, command), config));
  };

  program
    .command('create-tables')
    .description('drop every table, then create the staging and analytic tables empty')
    .option('--print-sql', 'print the statements for the configured engine instead of running them')
    .action(async (opts: { printSql?: boolean }) => {
      if (opts.printSql) return printSql('create-tables');
      const where = await recreateTables(configOf(), { progress: progressOf() });
      out(`Created staging_events, staging_songs, songplays, users, songs, artists, time on ${where}\n`);
    });

  const selectionOptions = (command: Command) =>
    command
      .option('--full-refresh', 'load every object, also those the load ledger lists as loaded and unchanged')
      .option('--since <YYYY-MM-DD>', 'only log objects of this day or later (a backfill)')
      .option('--until <YYYY-MM-DD>', 'only log objects of this day or earlier');
  interface SelectionFlags {
    fullRefresh?: boolean;
    since?: string;
    until?: string;
  }

  selectionOptions(
    program
      .command('extract')
      .description('read the new or changed objects, validate every record, write staging CSV parts and a report'),
  ).action(async (opts: SelectionFlags) => printReport(await extract(runOptions(opts))));

  program
    .command('stage')
    .description("load an extract run's staging CSV into staging_events and staging_songs (COPY)")
    .option('--run <id>', 'the extract run to load (default: the latest)')
    .action(async (opts: { run?: string }) => printReport(await stage(runOptions({ fromRun: opts.run }))));

  program
    .command('transform')
    .description('staging tables -> songplays, users, songs, artists, time (one transaction), then the quality checks')
    .option('--no-check', 'skip the data quality checks')
    .action(async (opts: { check: boolean }) => printReport(await transform(runOptions({ checks: opts.check }))));

  selectionOptions(
    program
      .command('run')
      .description('extract (new or changed objects), stage and transform in one streaming pass, then the quality checks')
      .option('--dry-run', 'extract and validate only, touching no warehouse: print what would be loaded')
      .option('--max-errors <n>', 'rejected records tolerated before the run fails (default ETL.MAX_ERRORS)', integer('--max-errors'))
      .option('--no-check', 'skip the data quality checks')
      .option('--print-sql', 'print every statement the run would send to the configured engine, and stop'),
  ).action(async (opts: SelectionFlags & { dryRun?: boolean; maxErrors?: number; check: boolean; printSql?: boolean }) => {
    if (opts.printSql) return printSql('run');
    const options = runOptions({ ...opts, checks: opts.check });
    printReport(await (opts.dryRun ? dryRun(options) : run(options)));
  });

  program
    .command('replay')
    .description('re-submit rejected records (a rejects.jsonl, after fixing their raw text): validate, stage, transform')
    .argument('<rejects-file>', "a run's rejects.jsonl, or a file of the same lines")
    .option('--max-errors <n>', 'rejected records tolerated before the replay fails', integer('--max-errors'))
    .action(async (file: string, opts: { maxErrors?: number }) => printReport(await replay({ ...runOptions({ maxErrors: opts.maxErrors }), file })));

  program
    .command('check')
    .description('data quality checks of the analytic tables: keys unique and present, references resolve, levels valid')
    .option('--json', 'print the results as JSON')
    .action(async (opts: { json?: boolean }) => {
      const warehouse = await openWarehouse(configOf());
      try {
        const results = await runChecks(warehouse);
        out(opts.json ? JSON.stringify(results) + '\n' : formatChecks(results));
        const failure = checkFailure(results);
        if (failure) throw failure;
      } finally {
        await warehouse.close();
      }
    });

  program
    .command('preflight')
    .description('check that the warehouse can take a run, changing no data: connection, privileges, tables, every statement, and on Redshift each COPY (NOLOAD) and bucket region')
    .action(async () => {
      const checks = await preflight(configOf());
      out(formatPreflight(checks));
      const failure = preflightFailure(checks);
      if (failure) throw failure;
    });

  program
    .command('counts')
    .description('row counts of the seven tables')
    .option('--json', 'print one JSON object {table: count}')
    .action(async (opts: { json?: boolean }) => {
      const warehouse = await openWarehouse(configOf());
      try {
        const counts = await countTables(warehouse);
        out(opts.json ? JSON.stringify(counts) + '\n' : formatRows(['table', 'rows'], Object.entries(counts).map(([table, rows]) => ({ table, rows }))));
      } finally {
        await warehouse.close();
      }
    });

  program
    .command('query')
    .description('run one SQL statement on the configured warehouse and print its rows')
    .argument('<sql>', 'the statement, quoted')
    .option('--json', 'print a JSON array of row objects')
    .action(async (sql: string, opts: { json?: boolean }) => {
      const warehouse = await openWarehouse(configOf());
      try {
        const result = await warehouse.query(sql).catch((error: unknown) => {
          throw new EtlError(`Query failed: ${describeError(error)}`);
        });
        out(opts.json ? JSON.stringify(result.rows) + '\n' : formatRows(result.fields, result.rows));
      } finally {
        await warehouse.close();
      }
    });

  program
    .command('config')
    .description('show the settings in effect (file, SPARKIFY_* variables, defaults), secrets masked')
    .action(() => {
      const config = configOf();
      out(`# from ${config.file ?? 'defaults and SPARKIFY_* variables (no config file)'}\n${JSON.stringify(describeConfig(config), null, 2)}\n`);
    });

  program
    .command('report')
    .description('show the validation report of a run (default: the latest)')
    .argument('[run-id]', 'run id, as printed by a run')
    .option('--json', 'print the report as JSON')
    .action(async (runId: string | undefined, opts: { json?: boolean }) => {
      const report = await readReport(configOf(), runId);
      out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    });

  program
    .command('generate')
    .description('write synthetic data in the real format and layout (song_data/, log_data/) into <dir>')
    .argument('<dir>', 'output folder')
    .addOption(new Option('--songs <n>', 'song records').argParser(integer('--songs', 1)).default(1000))
    .addOption(new Option('--events <n>', 'event lines').argParser(integer('--events', 1)).default(10000))
    .addOption(new Option('--seed <n>', 'random seed: the same seed gives the same bytes').argParser(integer('--seed')).default(1))
    .addOption(new Option('--match-share <x>', 'share of song plays that match a generated song').argParser(parseFloat).default(0.3))
    .option('--month <YYYY-MM>', 'month of the logs', '2018-11')
    .action(async (dir: string, opts: { songs: number; events: number; seed: number; matchShare: number; month: string }) => {
      const progress = progressOf();
      const tracker = progress.track('generate');
      const summary = await generate({
        dir,
        songs: opts.songs,
        events: opts.events,
        seed: opts.seed,
        matchShare: opts.matchShare,
        month: opts.month,
        onProgress: (w) => tracker.update({ objects: 0, records: w.songs + w.events, rejected: 0 }),
      });
      tracker.done();
      out(`Wrote ${summary.songs} songs in ${summary.songFiles} files and ${summary.events} events in ${summary.logFiles} log files to ${dir}\n`);
    });

  return program;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** On SIGINT/SIGTERM: stop the displays (the cursor comes back), give back the run lock, say so, exit 130/143. */
function exitOnSignals(): () => void {
  const handlers = Object.entries(SIGNAL_EXIT).map(([signal, code]) => {
    const handler = () => {
      stopDisplays();
      process.stderr.write(`\netl: interrupted (${signal})\n`);
      void runInterruptHooks().finally(() => process.exit(code));
    };
    process.once(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => handlers.forEach((off) => off());
}

/** Runs the CLI; resolves to the process exit status. User errors print one line, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  const offSignals = exitOnSignals();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    stopDisplays();
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return (error as { exitCode?: number }).exitCode ?? 2;
    if (error instanceof EtlError) {
      process.stderr.write(`etl: ${error.message}\n`);
    } else {
      process.stderr.write(`etl: unexpected error: ${describeError(error)}\n`);
      if (process.env.ETL_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return 1;
  } finally {
    stopDisplays();
    offSignals();
  }
}
