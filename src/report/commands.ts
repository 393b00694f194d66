/** The CLI's HTML outputs: `etl report --html`, `etl insights`, `etl docs`, and report.html of a run folder. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { describeError, EtlError } from '../errors.js';
import { openWarehouse } from '../load/connect.js';
import { dataDictionary } from '../load/data-dictionary.js';
import { insightQueries } from '../load/insight-queries.js';
import { listRuns, type RunRecord } from '../pipeline/history.js';
import { formatDataDictionary, renderDocsHtml } from './docs.js';
import { formatInsights, insightsJson, renderInsightsHtml, runInsights } from './insights.js';

/** How many runs of etl_runs the report page shows. */
export const HISTORY_SHOWN = 20;

const notice = (m: string) => process.stderr.write(`etl: ${m}\n`);

/** Writes a page; resolves to the line that says where it went. */
export async function writePage(file: string, html: string): Promise<string> {
  await writeFile(file, html).catch((error: unknown) => {
    throw new EtlError(`Cannot write ${file}: ${describeError(error)}`);
  });
  return `Wrote ${file} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB)\n`;
}

/** The recent runs of etl_runs, or undefined when the warehouse has none or cannot be reached (the page says so). */
export async function recentRuns(config: Config, open = openWarehouse): Promise<RunRecord[] | undefined> {
  try {
    const warehouse = await open(config, notice);
    try {
      return await listRuns(warehouse, HISTORY_SHOWN);
    } finally {
      await warehouse.close();
    }
  } catch {
    return undefined;
  }
}

export function registerReportCommands(program: Command, configOf: () => Config, out: (text: string) => void): void {
  program
    .command('insights')
    .description('the analytic questions of the star schema: most played songs and artists, plays by hour and weekday, free vs paid, top users, songs matched, sessions per user')
    .option('--json', 'print one JSON object {query name: rows}')
    .option('--html <file>', 'write the answers, charted, as a self-contained HTML page')
    .action(async (opts: { json?: boolean; html?: string }) => {
      const warehouse = await openWarehouse(configOf(), notice);
      try {
        const queries = insightQueries(warehouse.dialect);
        const results = await runInsights(warehouse, queries);
        if (opts.html) out(await writePage(opts.html, renderInsightsHtml(results, warehouse.description, queries)));
        else out(opts.json ? JSON.stringify(insightsJson(results), null, 2) + '\n' : formatInsights(results));
      } finally {
        await warehouse.close();
      }
    });

  program
    .command('docs')
    .description('the data dictionary of the seven tables: columns, types, meaning, keys, and Redshift distribution and sort keys')
    .option('--html <file>', 'write it as a self-contained HTML page')
    .action(async (opts: { html?: string }) => {
      const tables = dataDictionary();
      out(opts.html ? await writePage(opts.html, renderDocsHtml(tables)) : formatDataDictionary(tables));
    });
}
