/**
 * Self-contained HTML pages (`etl report --html`, `etl insights --html`, `etl docs --html`): one file that
 * opens from disk and fetches nothing. Charts are drawn by Chart.js, whose UMD build is read from
 * node_modules and inlined in a <script>; each chart's data sits next to it as JSON.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One chart: a Chart.js type, its labels and datasets. */
export interface ChartSpec {
  readonly type: 'bar' | 'line' | 'doughnut';
  readonly labels: readonly (string | number)[];
  readonly datasets: readonly { readonly label: string; readonly data: readonly number[] }[];
  readonly horizontal?: boolean;
  readonly stacked?: boolean;
  /** Axis titles. */
  readonly xTitle?: string;
  readonly yTitle?: string;
}

/** A block of the page: a heading, text, and any of a chart, a table, raw HTML. */
export interface Section {
  readonly title: string;
  readonly text?: string;
  readonly chart?: ChartSpec;
  readonly table?: { readonly fields: readonly string[]; readonly rows: readonly Record<string, unknown>[] };
  /** Already escaped HTML. */
  readonly html?: string;
  /** Shown instead of a chart with no data. */
  readonly empty?: string;
}

export interface Page {
  readonly title: string;
  readonly subtitle?: string;
  readonly sections: readonly Section[];
}

let chartJs: string | undefined;

/** Chart.js's UMD build, as shipped in node_modules (its package exports only the module builds). */
export function chartJsSource(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartJs = readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
  }
  return chartJs;
}

export const escapeHtml = (value: unknown): string =>
  String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');

/** Text safe inside a <script> element: no `</script`, no `<!--`. */
const scriptSafe = (text: string): string => text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

const cell = (value: unknown): string => (value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

export function htmlTable(fields: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const head = fields.map((f) => `<th>${escapeHtml(f)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${fields.map((f) => `<td${typeof row[f] === 'number' ? ' class="num"' : ''}>${escapeHtml(cell(row[f]))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** A chart's Chart.js configuration (animation off: the page is complete once drawn, also for screenshots). */
export function chartConfig(spec: ChartSpec): unknown {
  const pie = spec.type === 'doughnut';
  const datasets = spec.datasets.map((d, i) => ({
    label: d.label,
    data: d.data,
    backgroundColor: pie ? spec.labels.map((_, j) => PALETTE[j % PALETTE.length]) : PALETTE[i % PALETTE.length],
    borderColor: pie ? '#fff' : PALETTE[i % PALETTE.length],
    ...(spec.type === 'line' ? { fill: false, tension: 0.2, pointRadius: 2 } : {}),
  }));
  const axisTitle = (text?: string) => (text ? { display: true, text } : { display: false });
  return {
    type: spec.type,
    data: { labels: spec.labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      ...(spec.horizontal ? { indexAxis: 'y' } : {}),
      plugins: { legend: { display: pie || spec.datasets.length > 1 } },
      ...(pie
        ? {}
        : {
            scales: {
              x: { stacked: spec.stacked ?? false, title: axisTitle(spec.horizontal ? spec.yTitle : spec.xTitle), ...(spec.horizontal ? { beginAtZero: true } : {}) },
              y: { stacked: spec.stacked ?? false, title: axisTitle(spec.horizontal ? spec.xTitle : spec.yTitle), ...(spec.horizontal ? {} : { beginAtZero: true }) },
            },
          }),
    },
  };
}

const hasData = (spec: ChartSpec): boolean => spec.labels.length > 0 && spec.datasets.some((d) => d.data.length > 0);

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { background: #1f2d3d; color: #fff; padding: 16px 28px; }
header h1 { margin: 0; font-size: 22px; } header p { margin: 4px 0 0; opacity: .8; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; padding: 16px 28px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 16px; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 16px; margin: 0 0 6px; } p.text { margin: 0 0 8px; color: #555; }
.chart { position: relative; height: 280px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 8px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceff2; vertical-align: top; }
th { background: #f0f2f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #cf222e; font-weight: 600; } .empty { color: #777; font-style: italic; }
code { font-size: 12px; background: #f0f2f5; padding: 1px 4px; border-radius: 3px; }
`;

/** Draws every chart of the page; sets body[data-charts-drawn] to their number, or data-chart-error. */
const BOOT = `
(function () {
  var drawn = 0;
  try {
    document.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
      var config = JSON.parse(document.getElementById(canvas.getAttribute('data-chart')).textContent);
      new Chart(canvas, config);
      drawn++;
    });
  } catch (e) {
    document.body.setAttribute('data-chart-error', String(e));
    throw e;
  }
  document.body.setAttribute('data-charts-drawn', String(drawn));
})();
`;

/** The whole page as one HTML text. */
export function renderPage(page: Page): string {
  let charts = 0;
  const sections = page.sections.map((s) => {
    const parts = [`<h2>${escapeHtml(s.title)}</h2>`];
    if (s.text) parts.push(`<p class="text">${escapeHtml(s.text)}</p>`);
    if (s.chart && hasData(s.chart)) {
      const id = `chart-${++charts}`;
      parts.push(
        `<div class="chart"><canvas id="${id}" data-chart="${id}-config" role="img" aria-label="${escapeHtml(s.title)}"></canvas></div>`,
        `<script type="application/json" id="${id}-config">${scriptSafe(JSON.stringify(chartConfig(s.chart)))}</script>`,
      );
    } else if (s.chart || s.empty) {
      parts.push(`<p class="empty">${escapeHtml(s.empty ?? 'No data.')}</p>`);
    }
    if (s.table) parts.push(htmlTable(s.table.fields, s.table.rows));
    if (s.html) parts.push(s.html);
    const wide = !s.chart || (s.table?.fields.length ?? 0) > 5 || s.html !== undefined;
    return `<section${wide ? ' class="wide"' : ''}>\n${parts.join('\n')}\n</section>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(page.title)}</h1>${page.subtitle ? `<p>${escapeHtml(page.subtitle)}</p>` : ''}</header>
<main>
${sections.join('\n')}
</main>
${charts > 0 ? `<script>${scriptSafe(chartJsSource())}</script>\n<script>${BOOT}</script>` : `<script>document.body.setAttribute('data-charts-drawn', '0');</script>`}
</body>
</html>
`;
}
