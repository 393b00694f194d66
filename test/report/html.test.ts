/** The HTML pages: self-contained (Chart.js inlined, nothing fetched), escaped, and report.html in each run folder. */
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/pipeline/report.js';
import { chartJsSource, renderPage } from '../../src/report/html.js';
import { renderRunReportHtml } from '../../src/report/run-report.js';

const report: RunReport = {
  runId: '20181101T000000000Z-ab12',
  command: 'run',
  engine: 'pglite',
  dryRun: false,
  startedAt: '2018-11-01T00:00:00.000Z',
  finishedAt: '2018-11-01T00:00:05.000Z',
  status: 'ok',
  steps: [{ name: 'transform', seconds: 1.5 }],
  sources: {
    events: { source: 'data/log_data', objects: 1, bytes: 10, records: 3, loaded: 2, rejected: 1, skipped: { unchanged: 0, outOfRange: 0 }, reasons: { 'malformed JSON': 1 }, objectReports: [] },
  },
  rowsAdded: { songplays: 2 },
  counts: { songplays: 2 },
  checks: [{ name: 'users.level is \'free\' or \'paid\'', passed: false, count: 1, offending: ['user_id=7 level=<b>gold</b>'] }],
};

describe('HTML pages', () => {
  it('inline Chart.js and fetch nothing', () => {
    const html = renderRunReportHtml({ report });
    expect(chartJsSource().length).toBeGreaterThan(100_000);
    expect(html).toContain(chartJsSource().slice(0, 2000));
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).toContain("default-src 'none'");
    expect(html.match(/<canvas /g)!.length).toBeGreaterThanOrEqual(4);
  });

  it('escape what the data holds', () => {
    const html = renderRunReportHtml({ report });
    expect(html).toContain('level=&lt;b&gt;gold&lt;/b&gt;');
    expect(html).not.toContain('<b>gold</b>');
    const page = renderPage({ title: 't', sections: [{ title: 's', chart: { type: 'bar', labels: ['</script><script>alert(1)</script>'], datasets: [{ label: 'x', data: [1] }] } }] });
    expect(page).not.toContain('</script><script>alert(1)');
  });

  it('say when a section has no data instead of drawing an empty chart', () => {
    const html = renderRunReportHtml({ report: { ...report, sources: {}, steps: [], checks: undefined } });
    expect(html).toContain('This run read no source');
    expect(html).toContain('No run history in the warehouse');
  });
});
