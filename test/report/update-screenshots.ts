/**
 * Refreshes docs/report.png, docs/insights.png and docs/docs.png (shown in the README) from the shipped sample:
 * `npx tsx test/report/update-screenshots.ts` (needs /usr/bin/chromium).
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempDirs, REPO_ROOT, tempDir } from '../helpers/warehouses.js';
import { launch } from './browser.js';
import { buildSamplePages, PAGES } from './sample-pages.js';

const out = await tempDir('sparkify-screenshots-');
try {
  const { files } = await buildSamplePages(out);
  const browser = await launch();
  try {
    for (const page of PAGES) {
      const png = join(out, `${page}.png`);
      const result = await browser.open(files[page], png);
      if (result.errors.length > 0) throw new Error(`${page}: ${result.errors.join('; ')}`);
      await copyFile(png, join(REPO_ROOT, 'docs', `${page}.png`));
      console.log(`docs/${page}.png: ${result.drawn} charts, ${result.tables} tables`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await removeTempDirs();
}
