/** `etl docs`: the data dictionary (load/data-dictionary.ts) as text on the terminal, or as an HTML page. */
import type { TableEntry } from '../load/data-dictionary.js';
import { formatRows } from '../pipeline/format.js';
import { escapeHtml, renderPage, type Section } from './html.js';

const keyLine = (t: TableEntry): string[] => [
  `primary key: ${t.primaryKey.length ? t.primaryKey.join(', ') : 'none'}${t.primaryKey.length ? ' (declared on PostgreSQL and PGlite; on Redshift checked by `etl check`, not declared)' : ''}`,
  ...Object.entries(t.references).map(([column, target]) => `${column} -> ${target}`),
  `Redshift: ${t.redshift.clauses || 'no distribution or sort key'}`,
];

const columnRows = (t: TableEntry) =>
  t.columns.map((c) => ({
    column: c.name,
    type: c.type + (c.redshiftType ? ` (Redshift: ${c.redshiftType})` : ''),
    null: c.nullable ? 'yes' : 'no',
    key: [c.key ? 'PK' : '', t.references[c.name] ? `-> ${t.references[c.name]}` : '', t.redshift.distKey === c.name ? 'DISTKEY' : '', t.redshift.sortKey?.split(/,\s*/).includes(c.name) ? 'SORTKEY' : '']
      .filter(Boolean)
      .join(' '),
    meaning: c.meaning,
  }));

const FIELDS = ['column', 'type', 'null', 'key', 'meaning'];

export function formatDataDictionary(tables: readonly TableEntry[]): string {
  return tables
    .map((t) => [`${t.name} (${t.role}): ${t.meaning}`, ...keyLine(t).map((l) => `  ${l}`), '', formatRows(FIELDS, columnRows(t))].join('\n'))
    .join('\n');
}

export function renderDocsHtml(tables: readonly TableEntry[]): string {
  const sections: Section[] = tables.map((t) => ({
    title: `${t.name} (${t.role})`,
    text: t.meaning,
    html: `<p>${keyLine(t).map((l) => escapeHtml(l)).join('<br>')}</p>`,
    table: { fields: FIELDS, rows: columnRows(t) },
  }));
  return renderPage({
    title: 'Sparkify data dictionary',
    subtitle: 'The seven tables: staging_events and staging_songs, the songplays fact and the users, songs, artists and time dimensions',
    sections,
  });
}
