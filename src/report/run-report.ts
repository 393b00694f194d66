/**
 * A run's report as a self-contained HTML page (`etl report --html FILE`, and report.html in each run folder):
 * rows per table, records per source, rejection reasons, step durations, recent runs from etl_runs, and the
 * quality checks with their offending keys.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunRecord } from '../pipeline/history.js';
import type { RunReport } from '../pipeline/report.js';
import { escapeHtml, renderPage, type Section } from './html.js';

export interface RunReportPage {
  readonly report: RunReport;
  /** Where the report was read (a report.json, or etl_runs). */
  readonly from?: string;
  /** Recent runs from the warehouse's etl_runs, newest first; undefined when there is no history to show. */
  readonly history?: readonly RunRecord[];
}

const n = (value: number) => value.toLocaleString('en-US');
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

function statusLine(report: RunReport): string {
  const seconds = report.finishedAt ? (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000 : undefined;
  return [
    `${report.command}${report.dryRun ? ' (dry run)' : ''} on ${report.engine}`,
    `status ${report.status}${report.error ? `: ${report.error}` : ''}`,
    `started ${report.startedAt}`,
    ...(seconds !== undefined && Number.isFinite(seconds) ? [`${seconds.toFixed(1)} s`] : []),
  ].join(' · ');
}

function tablesSection(report: RunReport): Section {
  const tables = [...new Set([...Object.keys(report.counts), ...Object.keys(report.rowsAdded)])];
  return {
    title: 'Rows per table',
    text: 'Rows in each table after the run, and rows the run added (staging tables: rows loaded).',
    chart: {
      type: 'bar',
      labels: tables,
      datasets: [
        { label: 'rows now', data: tables.map((t) => report.counts[t] ?? 0) },
        { label: 'added by this run', data: tables.map((t) => report.rowsAdded[t] ?? 0) },
      ],
      yTitle: 'rows',
    },
    empty: 'The run counted no tables.',
  };
}

function sourcesSections(report: RunReport): Section[] {
  const sources = Object.entries(report.sources).filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== undefined);
  const reasons = sources.flatMap(([kind, s]) => Object.entries(s.reasons).map(([reason, count]) => ({ kind, reason, count })));
  reasons.sort((a, b) => b.count - a.count);
  const troubled = sources.flatMap(([kind, s]) => s.objectReports.filter((o) => o.error || o.empty).map((o) => ({ kind, key: o.key, problem: o.error ?? 'empty object (no records)' })));
  return [
    {
      title: 'Records per source',
      text: sources.map(([kind, s]) => `${kind}: ${s.source}, ${n(s.objects)} objects (${n(s.skipped?.unchanged ?? 0)} unchanged and ${n(s.skipped?.outOfRange ?? 0)} out of range skipped)`).join('; '),
      chart: {
        type: 'bar',
        labels: sources.map(([kind]) => kind),
        datasets: [
          { label: 'read', data: sources.map(([, s]) => s.records) },
          { label: report.dryRun ? 'valid' : 'loaded', data: sources.map(([, s]) => s.loaded) },
          { label: 'rejected', data: sources.map(([, s]) => s.rejected) },
        ],
        yTitle: 'records',
      },
      empty: 'This run read no source (a transform, or a report from etl_runs).',
    },
    {
      title: 'Rejection reasons',
      text: reasons.length ? `${n(sum(reasons.map((r) => r.count)))} records rejected${report.rejectsFile ? `; each one is in ${report.rejectsFile}` : ''}.` : undefined,
      chart: { type: 'bar', horizontal: true, labels: reasons.map((r) => `${r.kind}: ${r.reason}`), datasets: [{ label: 'records', data: reasons.map((r) => r.count) }] },
      empty: 'No record was rejected.',
      ...(troubled.length ? { table: { fields: ['kind', 'key', 'problem'], rows: troubled.slice(0, 50) } } : {}),
    },
  ];
}

function stepsSection(report: RunReport): Section {
  return {
    title: 'Step durations',
    text: report.steps.length ? `${report.steps.length} steps, ${sum(report.steps.map((s) => s.seconds)).toFixed(1)} s in all.` : undefined,
    chart: { type: 'bar', horizontal: true, labels: report.steps.map((s) => s.name), datasets: [{ label: 'seconds', data: report.steps.map((s) => s.seconds) }], xTitle: 'seconds' },
    empty: 'No steps recorded.',
  };
}

function historySection(history: readonly RunRecord[] | undefined): Section {
  if (!history || history.length === 0) {
    return { title: 'Recent runs', empty: 'No run history in the warehouse (etl_runs), or the warehouse could not be reached.' };
  }
  const oldestFirst = [...history].reverse();
  return {
    title: 'Recent runs',
    text: `The last ${history.length} runs in the warehouse's etl_runs, oldest first in the chart, newest first in the table.`,
    chart: {
      type: 'bar',
      labels: oldestFirst.map((r) => r.runId),
      datasets: [
        { label: 'rows added (all tables)', data: oldestFirst.map((r) => sum(Object.values(r.rowsAdded))) },
        { label: 'records rejected', data: oldestFirst.map((r) => r.rejected ?? 0) },
      ],
    },
    table: {
      fields: ['run_id', 'command', 'status', 'started (UTC)', 'seconds', 'rows added', 'rejected', 'error'],
      rows: history.map((r) => ({
        run_id: r.runId,
        command: r.command,
        status: r.status,
        'started (UTC)': r.startedAt.slice(0, 19).replace('T', ' '),
        seconds: r.durationSeconds === undefined ? null : Math.round(r.durationSeconds * 10) / 10,
        'rows added': sum(Object.values(r.rowsAdded)),
        rejected: r.rejected ?? null,
        error: r.error ?? '',
      })),
    },
  };
}

function checksSection(report: RunReport): Section {
  const checks = report.checks;
  if (!checks) return { title: 'Quality checks', empty: 'No quality checks ran in this run.' };
  const failed = checks.filter((c) => !c.passed);
  const rows = checks.map(
    (c) =>
      `<tr><td>${escapeHtml(c.name)}</td><td class="${c.passed ? 'ok">passed' : 'bad">FAILED'}</td><td class="num">${c.passed ? '' : n(c.count)}</td><td>${c.offending.map((k) => `<code>${escapeHtml(k)}</code>`).join(' ')}</td></tr>`,
  );
  return {
    title: 'Quality checks',
    text: `${checks.length - failed.length} of ${checks.length} passed.`,
    chart: { type: 'doughnut', labels: ['passed', 'failed'], datasets: [{ label: 'checks', data: [checks.length - failed.length, failed.length] }] },
    html: `<table><thead><tr><th>check</th><th>result</th><th>offending rows</th><th>offending keys (a few)</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`,
  };
}

export function renderRunReportHtml(page: RunReportPage): string {
  const { report } = page;
  return renderPage({
    title: `Run ${report.runId}`,
    subtitle: `${statusLine(report)}${page.from ? ` · from ${page.from}` : ''}`,
    sections: [tablesSection(report), ...sourcesSections(report), stepsSection(report), historySection(page.history), checksSection(report)],
  });
}

/** report.html next to a run's report.json: the run's own figures (the page says when there is no history). */
export async function saveRunReportHtml(runDir: string, report: RunReport, history?: readonly RunRecord[]): Promise<void> {
  await writeFile(join(runDir, 'report.html'), renderRunReportHtml({ report, from: join(runDir, 'report.json'), history }));
}
