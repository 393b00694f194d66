import { askYesNo } from './ask.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkFailure, formatChecks, runChecks } from './load/quality-checks.js';
import { describeConfig, formatConfig, loadConfig, type Config } from './config/config.js';
import { describeError, EtlError } from './errors.js';
import { generate, prepareOutputFolder } from './generate/generator.js';
import { MAX_SONGS } from './generate/songs.js';
import { openWarehouse } from './load/connect.js';
import { countTables } from './load/load-steps.js';
import { createProgress, type LogFormat, type Progress } from './pipeline/progress.js';
import { runInterruptHooks } from './exit-hooks.js';
import { formatReport, formatRows } from './pipeline/format.js';
import { formatPlan, plannedStatements } from './pipeline/plan.js';
import { formatPreflight, preflight, preflightFailure } from './pipeline/preflight.js';
import { dayProblem, dayRangeProblem } from './pipeline/object-selection.js';
import { cleanRuns, dryRun, extract, findReport, recreateTables, replay, run, stage, transform, type RunOptions } from './pipeline/run.js';
import { formatRuns, listRuns } from './pipeline/history.js';
import type { RunReport } from './pipeline/report.js';
import { registerClusterCommands } from './cluster/cli.js';
import { recentRuns, registerReportCommands, writePage } from './report/commands.js';
import { renderRunReportHtml } from './report/run-report.js';

/** Exit status of a usage error (unknown command or option, missing or bad argument); a command that fails exits 1. */
export const USAGE_ERROR = 2;

/** Ends a usage error's line instead of the whole help, which would bury the one line that matters. */
export const USAGE_HINT = '(run `etl --help` or `etl <command> --help`)';

/** The package's version, read next to this module at run time (from src/ or dist/ alike), so it never goes stale. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

// Option parsers: their messages name the option as typed and the value refused (see usageMessage).
const integer = (name: string, min = 0, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`${name} must be an integer ${range}, got "${value}"`);
  return Number(value);
};

const share = (name: string) => (value: string): number => {
  if (!/^(\d+\.?\d*|\.\d+)$/.test(value) || Number(value) > 1) throw new InvalidArgumentError(`${name} must be a number between 0 and 1, got "${value}"`);
  return Number(value);
};

const day = (name: string) => (value: string): string => {
  const problem = dayProblem(name, value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
};

/** A real month; from 1970, where the generator's timestamps (epoch milliseconds) start. */
const month = (name: string) => (value: string): string => {
  const m = /^(\d{4})-(\d{2})$/.exec(value);
  if (!m || Number(m[1]) < 1970 || Number(m[2]) < 1 || Number(m[2]) > 12) throw new InvalidArgumentError(`${name} must be a month YYYY-MM from 1970-01 on, got "${value}"`);
  return value;
};

/**
 * Commander's message for a usage error as one line: without its "error: " prefix, a suggestion ("Did you
 * mean ...?") on the same line, and a value our parsers refused described by their message alone, which
 * names the option and the value already.
 */
export function usageMessage(text: string): string {
  const line = text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  return / is invalid\. (--.*)$/.exec(line)?.[1] ?? line;
}

interface GlobalOptions {
  config?: string;
  quiet?: boolean;
  logFormat?: LogFormat;
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
    .option('-q, --quiet', 'no progress output (the run folder still gets run.log)')
    .addOption(new Option('--log-format <format>', 'progress as text lines, or one JSON object per line (for schedulers)').choices(['text', 'json']).default('text'))
    .version(VERSION, '-V, --version', 'print the version')
    // Errors and --help come back to main() as exceptions instead of exiting: subcommands inherit this.
    .exitOverride()
    .configureOutput({
      writeOut: out,
      writeErr: (t) => process.stderr.write(t),
      outputError: (text, writeErr) => writeErr(`etl: ${usageMessage(text)}\n${USAGE_HINT}\n`),
    });

  const configOf = (): Config => loadConfig(program.opts<GlobalOptions>().config);
  // Every display is stopped when the command ends or is interrupted: a live display left running keeps the
  // process alive and the terminal's cursor hidden.
  const progressOf = () => {
    const { quiet, logFormat } = program.opts<GlobalOptions>();
    const progress = createProgress(process.stderr, quiet ?? false, logFormat);
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
    .description('drop the tables and create them empty (load_errors and load_ledger are kept unless --all); asks first when they hold rows')
    .option('--print-sql', 'print the statements for the configured engine instead of running them')
    .option('--yes', 'drop tables that hold rows without asking (needed when not on a terminal)')
    .option('--all', 'drop load_errors and load_ledger too')
    .action(async (opts: { printSql?: boolean; yes?: boolean; all?: boolean }) => {
      if (opts.printSql) return printSql('create-tables');
      const confirm = process.stdin.isTTY && process.stderr.isTTY ? askYesNo : undefined;
      const { where, kept } = await recreateTables(configOf(), { progress: progressOf(), yes: opts.yes, all: opts.all, confirm });
      const note = kept.length
        ? `; kept ${kept.join(' and ')} (--all drops them too): the next \`etl run\` loads only objects the ledger does not list, \`etl run --full-refresh\` reloads everything`
        : '';
      out(`Created staging_events, staging_songs, songplays, users, songs, artists, time on ${where}${note}\n`);
    });

  interface SelectionFlags {
    fullRefresh?: boolean;
    prune?: boolean;
    since?: string;
    until?: string;
  }
  const selectionOptions = (command: Command) =>
    command
      .option('--full-refresh', 'load every object, also those the load ledger lists as loaded and unchanged, and remove the rows of objects gone from the source: the tables a fresh load gives')
      .option('--prune', 'remove the rows of objects the load ledger lists that the source no longer holds (else they stay, counted in the report)')
      .option('--since <YYYY-MM-DD>', 'only log objects of this day or later (a backfill)', day('--since'))
      .option('--until <YYYY-MM-DD>', 'only log objects of this day or earlier', day('--until'))
      // An empty range is a usage error too, refused before a run folder is made.
      .hook('preAction', (self) => {
        const problem = dayRangeProblem(self.opts<SelectionFlags>().since, self.opts<SelectionFlags>().until);
        if (problem) self.error(problem, { code: 'etl.dayRange' });
      });

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
      const warehouse = await openWarehouse(configOf(), (m) => process.stderr.write(`etl: ${m}\n`));
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
      const warehouse = await openWarehouse(configOf(), (m) => process.stderr.write(`etl: ${m}\n`));
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
      // A damaged PGlite directory still opens here (with a notice): what is left can be read out.
      const warehouse = await openWarehouse(configOf(), (m) => process.stderr.write(`etl: ${m}\n`), { readDamaged: true });
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
    .description('show the settings in effect, keyed as in dwh.cfg, each with its source (the file, a SPARKIFY_* variable or default), secrets masked')
    .option('--json', 'print one JSON object {SECTION: {KEY: {value, source}}}')
    .action((opts: { json?: boolean }) => {
      const settings = describeConfig(configOf());
      out(opts.json ? JSON.stringify(settings, null, 2) + '\n' : formatConfig(settings));
    });

  program
    .command('report')
    .description("show the validation report of a run (default: the latest): its report.json, else (a run of another machine) its etl_runs row")
    .argument('[run-id]', 'run id, as printed by a run')
    .option('--json', 'print the report as JSON')
    .option('--html <file>', 'write the report, charted, with the recent runs of etl_runs, as a self-contained HTML page')
    .action(async (runId: string | undefined, opts: { json?: boolean; html?: string }) => {
      const { report, from, rejected } = await findReport(configOf(), runId, (c) => openWarehouse(c, (m) => process.stderr.write(`etl: ${m}\n`)));
      if (opts.html) return out(await writePage(opts.html, renderRunReportHtml({ report, from, history: await recentRuns(configOf()) })));
      const extra = rejected === undefined ? '' : `  rejected: ${rejected.toLocaleString('en-US')} records (load_errors rows of run_id '${report.runId}')\n`;
      out(opts.json ? JSON.stringify({ ...report, ...(rejected === undefined ? {} : { rejected }), from }, null, 2) + '\n' : `${formatReport(report)}${extra}  from: ${from}\n`);
    });

  program
    .command('runs')
    .description('the run history in the warehouse (etl_runs), newest first: command, status, start, duration, rows added, rejected records, error')
    .option('--json', 'print a JSON array of runs')
    .addOption(new Option('--limit <n>', 'how many runs').argParser(integer('--limit', 1)).default(20))
    .action(async (opts: { json?: boolean; limit: number }) => {
      const warehouse = await openWarehouse(configOf(), (m) => process.stderr.write(`etl: ${m}\n`));
      try {
        const runs = await listRuns(warehouse, opts.limit);
        if (opts.json) out(JSON.stringify(runs ?? [], null, 2) + '\n');
        else out(runs ? formatRuns(runs) : `No run history yet on ${warehouse.description}: etl_runs is created by the first \`etl run\`, \`stage\`, \`transform\` or \`replay\`\n`);
      } finally {
        await warehouse.close();
      }
    });

  program
    .command('clean')
    .description('delete the run folders beyond the newest ETL.KEEP_RUNS, with their local staging parts (never one in progress, nor the latest extract)')
    .addOption(new Option('--keep <n>', 'run folders to keep (default ETL.KEEP_RUNS)').argParser(integer('--keep', 0)))
    .option('--dry-run', 'print what would be removed, remove nothing')
    .action(async (opts: { keep?: number; dryRun?: boolean }) => {
      const { dir, removed, kept } = await cleanRuns(configOf(), { keep: opts.keep, dryRun: opts.dryRun });
      const verb = opts.dryRun ? 'would remove' : 'removed';
      const lines = removed.map((folder) => `${verb} ${folder}\n`).join('');
      out(`${lines}${opts.dryRun ? 'Would remove' : 'Removed'} ${removed.length} run folder${removed.length === 1 ? '' : 's'} from ${dir}; ${kept} kept\n`);
    });

  registerClusterCommands(program, configOf, out);
  registerReportCommands(program, configOf, out);

  program
    .command('generate')
    .description('write synthetic data in the real format and layout (song_data/, log_data/) into <dir>')
    .argument('<dir>', 'output folder')
    .addOption(new Option('--songs <n>', 'song records').argParser(integer('--songs', 1, MAX_SONGS - 1)).default(1000))
    .addOption(new Option('--events <n>', 'event lines').argParser(integer('--events', 1)).default(10000))
    .addOption(new Option('--seed <n>', 'random seed: the same seed gives the same bytes').argParser(integer('--seed')).default(1))
    .addOption(new Option('--match-share <x>', 'share of song plays that match a generated song').argParser(share('--match-share')).default(0.3))
    .addOption(new Option('--month <YYYY-MM>', 'month of the logs').argParser(month('--month')).default('2018-11'))
    .option('--force', 'generate into a folder that is not empty: its song_data/ and log_data/ are removed first')
    .action(async (dir: string, opts: { songs: number; events: number; seed: number; matchShare: number; month: string; force?: boolean }) => {
      await prepareOutputFolder(dir, { force: opts.force });
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
      void runInterruptHooks(undefined, signal).finally(() => {
        // Whatever drew since, the terminal gets its cursor back.
        if (process.stderr.isTTY) process.stderr.write('\x1b[?25h');
        process.exit(code);
      });
    };
    process.once(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => handlers.forEach((off) => off());
}

/** Runs the CLI; resolves to the process exit status. User errors print one line, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  // The AWS SDK's nine-line notice about future Node versions on every S3 use is not this command's news
  // (the SDK's own switch; a user who sets it otherwise keeps theirs).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = buildCli();
  const offSignals = exitOnSignals();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    stopDisplays();
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    // A usage error: its line and hint (or, for a bare `etl`, the help) are printed already.
    if (error instanceof CommanderError) return USAGE_ERROR;
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
