import { describe, expect, it } from 'vitest';
import { createTables, postgresDialect, transformSteps, type Dialect } from '../../../src/load/queries.js';
import { redshiftDialect } from '../../../src/load/redshift/redshift-dialect.js';

/** PostgreSQL's bytewise fragment `<expr> COLLATE "C"` rewritten as Redshift's `COLLATE(<expr>, 'case_sensitive')`. */
const postgresToRedshift = (sql: string): string => sql.replace(/([\w.]+) COLLATE "C"/g, "COLLATE($1, 'case_sensitive')");

describe('the transform Redshift runs is the text tested on PostgreSQL', () => {
  const postgres = transformSteps(postgresDialect);
  const redshift = transformSteps(redshiftDialect);

  it('opens every transaction by locking the ledger on Redshift, and not on PostgreSQL', () => {
    expect(redshiftDialect.lockTable('load_ledger')).toBe('LOCK load_ledger');
    expect(postgresDialect.lockTable('load_ledger')).toBeUndefined();
  });

  // PostgreSQL tunes memory and refreshes statistics within the transform; the statements themselves are shared.
  const shared = postgres.filter((s) => s.name !== 'settings' && !s.name.startsWith('analyze '));

  it('has the same steps, in the same order', () => {
    expect(redshift.map((s) => s.name)).toEqual(shared.map((s) => s.name));
  });

  it('adds only memory and planner settings and statistics refreshes on PostgreSQL', () => {
    expect(postgres.filter((s) => !shared.includes(s)).map((s) => s.sql)).toEqual([
      "SET LOCAL work_mem = '128MB'",
      'SET LOCAL enable_mergejoin = off',
      'ANALYZE songs',
      'ANALYZE batch_plays',
      'ANALYZE songplays',
      'ANALYZE users',
      'ANALYZE time',
      'ANALYZE play_events',
    ]);
  });

  it('differs, statement by statement, only in the bytewise comparison fragments', () => {
    let fragments = 0;
    shared.forEach((step, i) => {
      fragments += (step.sql.match(/ COLLATE "C"/g) ?? []).length;
      expect(redshift[i]!.sql, step.name).toBe(postgresToRedshift(step.sql));
    });
    // The "first key" orderings and "lower key" comparisons of rules 1, 3 and 4 go through bytewise().
    expect(fragments).toBeGreaterThan(0);
  });

  it('depends on the dialect through bytewise() alone', () => {
    const plain = (d: Dialect): Dialect => ({ ...d, bytewise: (expr) => expr, transformSettings: [], analyzeInTransform: false });
    expect(transformSteps(plain(redshiftDialect))).toEqual(transformSteps(plain(postgresDialect)));
  });
});

describe('the Redshift dialect', () => {
  it('pins byte order with an explicit case-sensitive collation', () => {
    expect(redshiftDialect.bytewise('o.source_key')).toBe("COLLATE(o.source_key, 'case_sensitive')");
  });

  it('declares no primary key, which Redshift would trust without checking', () => {
    expect(createTables(redshiftDialect).join('\n')).not.toMatch(/PRIMARY KEY|UNIQUE/);
    // PostgreSQL enforces them: there they stay.
    expect(createTables(postgresDialect).filter((sql) => sql.includes('PRIMARY KEY')).length).toBe(7);
  });

  it('uses an IDENTITY surrogate key', () => {
    expect(redshiftDialect.surrogateKey).toBe('BIGINT IDENTITY(0,1)');
  });

  it('keeps the fact table off song_id, which is NULL for almost every play', () => {
    expect(redshiftDialect.tableAttributes('songplays')).not.toContain('song_id');
  });
});
