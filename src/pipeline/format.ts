import type { RunReport } from './report.js';

const cell = (value: unknown): string => (value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

/** Rows as an aligned text table (psql style), numbers right-aligned, with a row count. */
export function formatRows(fields: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const cells = rows.map((row) => fields.map((f) => cell(row[f])));
  const numeric = fields.map((f) => rows.length > 0 && rows.every((r) => r[f] === null || typeof r[f] === 'number'));
  const widths = fields.map((f, i) => Math.max(f.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]) =>
    values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ').trimEnd();
  const header = fields.map((f, i) => f.padEnd(widths[i]!)).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  return [header, rule, ...cells.map(line), `(${rows.length} row${rows.length === 1 ? '' : 's'})`, ''].join('\n');
}

const n = (value: number) => value.toLocaleString('en-US');

/** The readable summary of a run's report. */
export function formatReport(report: RunReport): string {
  const lines: string[] = [];
  const status =
    report.status === 'ok'
      ? 'ok'
      : report.status === 'failed'
        ? `FAILED: ${report.error ?? ''}`
        : report.status === 'interrupted' && report.error
          ? `interrupted (${report.error})`
          : report.status;
  lines.push(`Run ${report.runId} (${report.command}${report.dryRun ? ', dry run' : ''}, ${report.engine}): ${status}`);
  for (const [kind, source] of Object.entries(report.sources)) {
    if (!source) continue;
    lines.push(
      `  ${kind}: ${source.source}: ${n(source.objects)} objects, ${n(source.records)} records read, ` +
        `${n(source.loaded)} ${report.dryRun ? 'valid' : 'loaded'}, ${n(source.rejected)} rejected`,
    );
    const skipped = source.skipped ?? { unchanged: 0, outOfRange: 0 };
    if (skipped.unchanged + skipped.outOfRange > 0) {
      lines.push(`    skipped: ${n(skipped.unchanged)} objects loaded before and unchanged, ${n(skipped.outOfRange)} outside the date range`);
    }
    if (source.gone && source.gone.objects > 0) {
      const when = report.dryRun ? ' by a real run' : report.command === 'extract' ? ' when this batch is staged and transformed' : '';
      const what = source.gone.pruned ? `their rows are removed${when}` : 'their rows stay (`--prune` removes them)';
      const objects = source.gone.objects === 1 ? '1 object loaded before is' : `${n(source.gone.objects)} objects loaded before are`;
      lines.push(`    gone: ${objects} no longer in the source; ${what}`);
    }
    for (const [reason, count] of Object.entries(source.reasons).sort((a, b) => b[1] - a[1])) lines.push(`    ${n(count)} x ${reason}`);
    const troubled = source.objectReports.filter((o) => o.error || o.empty);
    for (const o of troubled.slice(0, 10)) lines.push(`    ${o.key}: ${o.error ?? 'empty object (no records)'}`);
    if (troubled.length > 10) lines.push(`    ... and ${troubled.length - 10} more objects with problems (see the JSON report)`);
  }
  const added = Object.entries(report.rowsAdded);
  if (added.length > 0) lines.push(`  rows added: ${added.map(([t, c]) => `${t} ${n(c)}`).join(', ')}`);
  const counts = Object.entries(report.counts);
  if (counts.length > 0) lines.push(`  rows now:   ${counts.map(([t, c]) => `${t} ${n(c)}`).join(', ')}`);
  if (report.checks) {
    const failed = report.checks.filter((c) => !c.passed);
    lines.push(`  checks: ${report.checks.length - failed.length} of ${report.checks.length} passed${failed.length ? `; failed: ${failed.map((c) => c.name).join(', ')}` : ''}`);
  }
  if (report.steps.length > 0) lines.push(`  steps: ${report.steps.map((s) => `${s.name} ${s.seconds.toFixed(1)} s`).join(', ')}`);
  if (report.rejectsFile && Object.values(report.sources).some((s) => (s?.rejected ?? 0) > 0)) lines.push(`  rejected records: ${report.rejectsFile}`);
  return lines.join('\n') + '\n';
}
