/**
 * The HTML pages in a real browser: headless Chromium (Debian's package, /usr/bin/chromium) through
 * playwright-core opens each page of the shipped sample from disk and must draw every chart, log no error and
 * request nothing but file: and data: URLs. A screenshot of each page is kept as a test artifact (in
 * $ETL_TEST_ARTIFACTS, default <tmp>/sparkify-etl-artifacts). Without Chromium the tests are skipped, except
 * in CI (CI set), where .ci/run installs it and its absence is a failure.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers/warehouses.js';
import { CHROMIUM, hasChromium, launch, type Browser } from './browser.js';
import { buildSamplePages, PAGES, type SamplePages } from './sample-pages.js';

const ARTIFACTS = process.env.ETL_TEST_ARTIFACTS ?? join(tmpdir(), 'sparkify-etl-artifacts');
const RUN = hasChromium() || Boolean(process.env.CI);

/** Charts each page must draw, at least. */
const MIN_CHARTS = { report: 5, insights: 9, docs: 0 } as const;

it.runIf(Boolean(process.env.CI))(`CI has Chromium at ${CHROMIUM}`, () => {
  expect(hasChromium()).toBe(true);
});

describe.runIf(RUN)('the HTML pages in headless Chromium', () => {
  let pages: SamplePages;
  let browser: Browser;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const [built, launched] = await Promise.all([tempDir('sparkify-html-').then(buildSamplePages), launch()]);
    pages = built;
    browser = launched;
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await removeTempDirs();
  });

  const allowed = (url: string) => url.startsWith('file:') || url.startsWith('data:');

  it.each([...PAGES])('%s.html renders its charts, with no error and no request off disk', async (name) => {
    const png = join(ARTIFACTS, `${name}.png`);
    const result = await browser.open(pages.files[name], png);
    expect(result.errors).toEqual([]);
    expect(result.chartError).toBeNull();
    expect(result.requests.filter((u) => !allowed(u))).toEqual([]);
    expect(result.canvases).toBeGreaterThanOrEqual(MIN_CHARTS[name]);
    expect(result.drawn).toBe(result.canvases);
    expect(result.drawnAttribute).toBe(String(result.canvases));
    expect(result.tables).toBeGreaterThan(0);
    expect((await stat(png)).size).toBeGreaterThan(10_000);
  });

  it("the run folder's own report.html renders too", async () => {
    const png = join(ARTIFACTS, 'run-folder-report.png');
    const result = await browser.open(join(pages.firstRunDir, 'report.html'), png);
    expect(result.errors).toEqual([]);
    expect(result.requests.filter((u) => !allowed(u))).toEqual([]);
    expect(result.drawn).toBeGreaterThanOrEqual(4);
    expect(result.drawn).toBe(result.canvases);
  });

  it('would notice a page that fetches from the network', async () => {
    const dir = await tempDir('sparkify-html-bad-');
    const file = join(dir, 'bad.html');
    await writeFile(file, '<!DOCTYPE html><html><body data-charts-drawn="0"><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script></body></html>');
    const result = await browser.open(file);
    expect(result.requests.filter((u) => !allowed(u))).toEqual(['http://127.0.0.1:9/x.png']);
    expect(result.errors.length).toBeGreaterThan(0);
  });

  it('pages are of a reasonable size (Chart.js inlined once)', async () => {
    for (const name of PAGES) expect((await stat(pages.files[name])).size, name).toBeLessThan(600_000);
  });
});
