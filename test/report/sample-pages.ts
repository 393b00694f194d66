/**
 * The three HTML pages for the shipped sample (data/), made as a user makes them: `etl run` into a fresh
 * PGlite (twice, so the run history has more than one run), then `etl report --html`, `etl insights --html`
 * and `etl docs --html` through the built CLI.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureBuilt, etl } from '../helpers/cli.js';
import { etlConfig, freshPgliteDir, REPO_ROOT, tempDir } from '../helpers/warehouses.js';

export const PAGES = ['report', 'insights', 'docs'] as const;
export type PageName = (typeof PAGES)[number];

export interface SamplePages {
  readonly files: Record<PageName, string>;
  /** ETL.WORK_DIR of the runs. */
  readonly workDir: string;
  /** The first run's folder (it holds report.html too). */
  readonly firstRunDir: string;
}

export async function buildSamplePages(outDir: string): Promise<SamplePages> {
  await ensureBuilt();
  const workDir = await tempDir('sparkify-pages-');
  const config = etlConfig({ songData: join(REPO_ROOT, 'data/song_data'), logData: join(REPO_ROOT, 'data/log_data'), workDir, engine: 'pglite', pgliteDir: await freshPgliteDir() });
  const must = async (args: string[]) => {
    const outcome = await etl(config, args);
    if (outcome.code !== 0) throw new Error(`etl ${args.join(' ')} exited ${outcome.code}: ${outcome.stderr}`);
    return outcome;
  };
  await must(['-q', 'run']);
  const [firstRun] = await readdir(join(workDir, 'runs'));
  await must(['-q', 'run']);
  const files = Object.fromEntries(PAGES.map((p) => [p, join(outDir, `${p}.html`)])) as Record<PageName, string>;
  // The first run's report: the one that loaded the sample (the second finds nothing new).
  await must(['report', firstRun!, '--html', files.report]);
  await must(['insights', '--html', files.insights]);
  await must(['docs', '--html', files.docs]);
  return { files, workDir, firstRunDir: join(workDir, 'runs', firstRun!) };
}
