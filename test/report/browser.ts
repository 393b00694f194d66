/**
 * Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the HTML pages: load a page
 * from disk, record console errors and every request, and take a screenshot.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export interface Browser {
  /** Opens `file`, waits for its charts, screenshots it to `png` (full page). */
  open(file: string, png?: string): Promise<PageResult>;
  close(): Promise<void>;
}

export interface PageResult {
  readonly errors: string[];
  /** URLs requested (the page itself included). */
  readonly requests: string[];
  /** canvas[data-chart] elements, and how many of them Chart.js drew a chart on. */
  readonly canvases: number;
  readonly drawn: number;
  /** body[data-charts-drawn]: the page's own count, or null when its script did not finish. */
  readonly drawnAttribute: string | null;
  readonly chartError: string | null;
  readonly tables: number;
  readonly title: string;
}

export async function launch(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'sparkify-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    async open(file, png) {
      const page = await context.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (e) => void errors.push(String(e)));
      page.on('request', (r) => void requests.push(r.url()));
      try {
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        // Strings, not functions: they run in the page, and this project compiles without the DOM's types.
        await page.waitForFunction(`document.body.hasAttribute('data-charts-drawn') || document.body.hasAttribute('data-chart-error')`, undefined, { timeout: 15_000 }).catch(() => {});
        const result = (await page.evaluate(`(() => {
          const canvases = [...document.querySelectorAll('canvas[data-chart]')];
          return {
            canvases: canvases.length,
            drawn: canvases.filter((c) => window.Chart && window.Chart.getChart(c) !== undefined && c.width > 0 && c.height > 0).length,
            drawnAttribute: document.body.getAttribute('data-charts-drawn'),
            chartError: document.body.getAttribute('data-chart-error'),
            tables: document.querySelectorAll('table').length,
            title: document.title,
          };
        })()`)) as Omit<PageResult, 'errors' | 'requests'>;
        if (png) await page.screenshot({ path: png, fullPage: true });
        return { ...result, errors, requests };
      } finally {
        await page.close();
      }
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
