/** `etl docs`: the data dictionary follows the DDL, gives every column a meaning, and names Redshift's keys. */
import { describe, expect, it } from 'vitest';
import { columnMeaning, dataDictionary, parseColumns } from '../../src/load/data-dictionary.js';
import { ALL_TABLES, createTable, postgresDialect, PRIMARY_KEYS } from '../../src/load/queries.js';
import { redshiftDialect } from '../../src/load/redshift/redshift-dialect.js';
import { formatDataDictionary, renderDocsHtml } from '../../src/report/docs.js';

describe('the data dictionary', () => {
  const tables = dataDictionary();

  it('describes the seven tables, in the order of etl counts', () => {
    expect(tables.map((t) => t.name)).toEqual([...ALL_TABLES]);
  });

  it.each([...ALL_TABLES])('%s: the columns and types of its CREATE TABLE, each with a meaning', (name) => {
    const entry = tables.find((t) => t.name === name)!;
    const ddl = createTable(postgresDialect, name);
    expect(entry.columns.map((c) => c.name)).toEqual(parseColumns(ddl).map((c) => c.name));
    for (const c of entry.columns) {
      expect(ddl).toContain(`${c.name} ${c.type}`);
      expect(c.meaning, `${name}.${c.name}`).not.toBe('');
      expect(columnMeaning(name, c.name)).toBe(c.meaning);
    }
    expect(entry.primaryKey).toEqual(PRIMARY_KEYS[name] ?? []);
    expect(entry.redshift.clauses).toBe(redshiftDialect.tableAttributes(name));
    if (entry.redshift.distKey) expect(entry.columns.map((c) => c.name)).toContain(entry.redshift.distKey);
  });

  it('knows Redshift types and keys where they differ', () => {
    const songplays = tables.find((t) => t.name === 'songplays')!;
    expect(songplays.columns[0]).toMatchObject({ name: 'songplay_id', key: true, nullable: false, redshiftType: 'BIGINT IDENTITY(0,1)' });
    expect(songplays.redshift).toMatchObject({ distStyle: 'KEY', distKey: 'start_time', sortKey: 'start_time' });
    expect(tables.find((t) => t.name === 'users')!.redshift).toMatchObject({ distStyle: 'ALL', sortKey: 'user_id' });
    expect(songplays.references).toMatchObject({ user_id: 'users.user_id', song_id: 'songs.song_id' });
  });

  it('reads as text and as a page', () => {
    const text = formatDataDictionary(tables);
    expect(text).toContain('songplays (fact)');
    expect(text).toContain('DISTKEY(start_time)');
    const html = renderDocsHtml(tables);
    expect(html).toContain('<title>Sparkify data dictionary</title>');
    expect(html.match(/<table>/g)).toHaveLength(7);
    expect(html).not.toMatch(/(src|href)="?https?:/);
  });
});
