/**
 * `etl insights`: the named analytic queries of insight-queries.ts run on the configured warehouse, printed as
 * tables, as JSON, or charted in a self-contained HTML page.
 */
import { describeError, EtlError, isMissingTable } from '../errors.js';
import { insightQueries, type InsightQuery } from '../load/insight-queries.js';
import type { Warehouse } from '../load/warehouse.js';
import { formatRows } from '../pipeline/format.js';
import { renderPage, type ChartSpec, type Section } from './html.js';

export interface InsightResult {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly fields: readonly string[];
  readonly rows: Record<string, unknown>[];
}

/** A BIGINT some driver returns as a bigint as a number (the queries CAST their counts to INTEGER); anything else as is. */
const plain = (value: unknown): unknown => (typeof value === 'bigint' ? Number(value) : value);

/** Runs every insight query, in order; a failing one names itself. */
export async function runInsights(warehouse: Warehouse, queries: readonly InsightQuery[] = insightQueries(warehouse.dialect)): Promise<InsightResult[]> {
  const results: InsightResult[] = [];
  for (const q of queries) {
    const { rows } = await warehouse.query(q.sql).catch((error: unknown) => {
      const missing = isMissingTable(error) ? ' (run `etl create-tables` and `etl run` first)' : '';
      throw new EtlError(`Insight ${q.name} failed on ${warehouse.description}: ${describeError(error)}${missing}`);
    });
    results.push({
      name: q.name,
      title: q.title,
      description: q.description,
      fields: q.fields,
      rows: rows.map((row) => Object.fromEntries(q.fields.map((f) => [f, plain(row[f])]))),
    });
  }
  return results;
}

/** `--json`: {name: rows}. */
export const insightsJson = (results: readonly InsightResult[]): Record<string, Record<string, unknown>[]> =>
  Object.fromEntries(results.map((r) => [r.name, r.rows]));

export function formatInsights(results: readonly InsightResult[]): string {
  return results.map((r) => `${r.title} (${r.name})\n${r.description}\n\n${formatRows(r.fields, r.rows)}`).join('\n');
}

const numberOf = (value: unknown): number => (typeof value === 'number' ? value : Number(value ?? 0) || 0);

function chartOf(query: InsightQuery, rows: readonly Record<string, unknown>[]): ChartSpec {
  const c = query.chart;
  if (c.byColumn) {
    const row = rows[0] ?? {};
    return { type: c.type, labels: c.y.map((y) => y.replaceAll('_', ' ')), datasets: [{ label: query.title, data: c.y.map((y) => numberOf(row[y])) }] };
  }
  return {
    type: c.type,
    labels: rows.map((r) => String(r[c.x] ?? '(none)')),
    datasets: c.y.map((y) => ({ label: y.replaceAll('_', ' '), data: rows.map((r) => numberOf(r[y])) })),
    horizontal: c.horizontal,
    xTitle: c.x.replaceAll('_', ' '),
  };
}

export function renderInsightsHtml(results: readonly InsightResult[], where: string, queries: readonly InsightQuery[]): string {
  const byName = new Map(queries.map((q) => [q.name, q]));
  const sections: Section[] = results.map((r) => {
    const query = byName.get(r.name)!;
    const total = query.chart.byColumn ? numberOf(r.rows[0]?.plays) : r.rows.length;
    return {
      title: r.title,
      text: r.description,
      ...(total > 0 ? { chart: chartOf(query, r.rows) } : {}),
      empty: 'No rows: nothing loaded yet, or no play matched.',
      table: { fields: r.fields, rows: r.rows },
    };
  });
  return renderPage({ title: 'Sparkify insights', subtitle: `What the star schema on ${where} says, ${new Date().toISOString().slice(0, 19).replace('T', ' ')} UTC`, sections });
}
